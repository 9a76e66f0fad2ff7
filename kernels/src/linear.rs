//! Dense linear-model kernels: dot products, batch scoring and one step of
//! logistic regression by mini-batch SGD.
//!
//! These are the hot loops of online learning in Weir, so they work on
//! caller-owned row-major `f32` buffers and never allocate. Reductions keep
//! [`LANES`] independent accumulators: floating-point addition is not
//! associative, so LLVM will not vectorise a single running sum, but it will
//! vectorise eight independent ones.

use crate::error::{Result, check_len, row_count};

/// Number of independent accumulators in reductions.
const LANES: usize = 8;

/// Dot product of two equal-length slices; lengths are not checked.
#[inline]
fn dot_unchecked(a: &[f32], b: &[f32]) -> f32 {
    let ((ca, ra), (cb, rb)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc += x * y;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Dot product `Σ a[i] * b[i]`.
///
/// Errors if the slices differ in length.
///
/// ```
/// # fn main() -> weir_kernels::Result<()> {
/// assert_eq!(weir_kernels::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0])?, 32.0);
/// assert!(weir_kernels::dot(&[1.0], &[1.0, 2.0]).is_err());
/// # Ok(())
/// # }
/// ```
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32> {
    check_len("dot", "b length (= a length)", a.len(), b.len())?;
    Ok(dot_unchecked(a, b))
}

/// Scores a row-major block: `out[r] = weights · rows[r] + bias`.
///
/// `rows` holds `out.len()` rows of `n_features` values each, and
/// `weights.len() == n_features`; anything else is an error.
///
/// ```
/// # fn main() -> weir_kernels::Result<()> {
/// let weights = [0.5, -1.0, 2.0];
/// let rows = [1.0, 2.0, 3.0, /* row 2 */ 0.0, 0.0, 1.0];
/// let mut out = [0.0; 2];
/// weir_kernels::linear_scores(&weights, 1.0, &rows, 3, &mut out)?;
/// assert_eq!(out, [5.5, 3.0]);
/// // A buffer of the wrong size is refused, not truncated.
/// assert!(weir_kernels::linear_scores(&weights, 1.0, &rows, 3, &mut [0.0; 3]).is_err());
/// # Ok(())
/// # }
/// ```
pub fn linear_scores(
    weights: &[f32],
    bias: f32,
    rows: &[f32],
    n_features: usize,
    out: &mut [f32],
) -> Result<()> {
    const K: &str = "linear_scores";
    check_len(K, "weights length (= n_features)", n_features, weights.len())?;
    let n_rows = row_count(K, rows, n_features)?;
    check_len(K, "out length (= rows)", n_rows, out.len())?;
    for (row, o) in rows.chunks_exact(n_features).zip(out) {
        *o = dot_unchecked(weights, row) + bias;
    }
    Ok(())
}

/// Logistic function of one value, without overflow for large `|x|`.
#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        // exp(x) <= 1 here, so nothing overflows; NaN also lands here.
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(x))`, without overflow for large `|x|`.
#[inline]
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Replaces each `x` by `1 / (1 + exp(-x))`, stable for large `|x|`
/// (results stay in `[0, 1]`, never NaN for finite input).
pub fn sigmoid_in_place(xs: &mut [f32]) {
    for x in xs {
        *x = sigmoid(*x);
    }
}

/// One mini-batch gradient step of L2-regularised logistic regression.
///
/// Minimises `mean_r logloss(y_r, σ(w·x_r + b)) + l2/2 · ‖w‖²` (the bias is
/// not regularised) by one step of size `learning_rate`. Labels are
/// probabilities in `[0, 1]` (usually 0 or 1). `rows` is row-major with
/// `n_features` columns; `labels` and `scratch` have one entry per row and
/// `weights.len() == n_features`. On return `scratch` holds each row's
/// predicted probability under the weights *before* the update.
///
/// Returns the mean log loss of the batch before the update (a prequential,
/// test-then-train estimate), without the L2 term. An empty batch is a no-op
/// returning 0.
#[allow(clippy::too_many_arguments)] // mirrors a future device kernel's flat signature
pub fn logistic_sgd_step(
    weights: &mut [f32],
    bias: &mut f32,
    rows: &[f32],
    labels: &[f32],
    n_features: usize,
    learning_rate: f32,
    l2: f32,
    scratch: &mut [f32],
) -> Result<f32> {
    const K: &str = "logistic_sgd_step";
    check_len(K, "weights length (= n_features)", n_features, weights.len())?;
    let n_rows = row_count(K, rows, n_features)?;
    check_len(K, "labels length (= rows)", n_rows, labels.len())?;
    check_len(K, "scratch length (= rows)", n_rows, scratch.len())?;
    if n_rows == 0 {
        return Ok(0.0);
    }
    // Forward pass with the old weights: logits, loss, probabilities.
    linear_scores(weights, *bias, rows, n_features, scratch)?;
    let mut loss = 0.0f64;
    for (z, &y) in scratch.iter_mut().zip(labels) {
        // logloss(y, σ(z)) = softplus(z) - y·z, exact even when σ(z) rounds to 0 or 1.
        loss += f64::from(softplus(*z) - y * *z);
        *z = sigmoid(*z);
    }
    // Backward pass. The probabilities already fix the gradient, so the
    // weights can be updated in place, row by row: decay first, then
    // w -= lr/n · Σ_r (p_r - y_r) x_r.
    let step = learning_rate / n_rows as f32;
    let decay = 1.0 - learning_rate * l2;
    weights.iter_mut().for_each(|w| *w *= decay);
    let mut bias_grad = 0.0f32;
    for ((row, &p), &y) in rows.chunks_exact(n_features).zip(scratch.iter()).zip(labels) {
        let r = p - y;
        bias_grad += r;
        let s = step * r;
        for (w, x) in weights.iter_mut().zip(row) {
            *w -= s * x;
        }
    }
    *bias -= step * bias_grad;
    Ok((loss / n_rows as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn values(n: usize) -> impl Strategy<Value = Vec<f32>> {
        vec(-10.0f32..=10.0, n)
    }

    /// (n_features, weights, rows) with 1..20 features and 0..15 rows.
    fn block() -> impl Strategy<Value = (usize, Vec<f32>, Vec<f32>)> {
        (1usize..20, 0usize..15).prop_flat_map(|(f, n)| (Just(f), values(f), values(f * n)))
    }

    fn sigmoid64(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    fn close(got: f32, want: f64, scale: f64) -> bool {
        (f64::from(got) - want).abs() <= 1e-4 * (1.0 + scale)
    }

    proptest! {
        #[test]
        fn dot_matches_f64((a, b) in (0usize..300).prop_flat_map(|n| (values(n), values(n)))) {
            let want: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
            let scale: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x * y).abs()).sum();
            let got = dot(&a, &b)?;
            prop_assert!(close(got, want, scale), "got {got}, want {want}");
        }

        #[test]
        fn dot_rejects_mismatched_lengths(a in vec(-10.0f32..=10.0, 0..300), b in vec(-10.0f32..=10.0, 0..300)) {
            prop_assert_eq!(dot(&a, &b).is_ok(), a.len() == b.len());
        }

        #[test]
        fn linear_scores_match_f64((f, w, rows) in block(), bias in -10.0f32..=10.0) {
            let mut out = vec![f32::NAN; rows.len() / f];
            linear_scores(&w, bias, &rows, f, &mut out)?;
            for (row, &got) in rows.chunks(f).zip(&out) {
                let want = row.iter().zip(&w).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum::<f64>() + f64::from(bias);
                let scale = row.iter().zip(&w).map(|(&x, &y)| f64::from(x * y).abs()).sum::<f64>() + f64::from(bias.abs());
                prop_assert!(close(got, want, scale), "got {got}, want {want}");
            }
        }

        #[test]
        fn linear_scores_reject_bad_shapes((f, w, rows) in block(), extra in 1usize..5) {
            let n = rows.len() / f;
            prop_assert!(linear_scores(&w, 0.0, &rows, f, &mut vec![0.0; n + extra]).is_err());
            prop_assert!(linear_scores(&w[1..], 0.0, &rows, f, &mut vec![0.0; n]).is_err());
            prop_assert!(linear_scores(&w, 0.0, &rows, 0, &mut vec![0.0; n]).is_err());
            let mut ragged = rows.clone();
            ragged.extend(std::iter::repeat_n(1.0, extra.min(f - 1)));
            prop_assert_eq!(linear_scores(&w, 0.0, &ragged, f, &mut vec![0.0; n]).is_ok(), ragged.len() == rows.len());
        }

        #[test]
        fn sigmoid_matches_f64(xs in vec(-10.0f32..=10.0, 0..300), wide in vec(-1e4f32..=1e4, 0..300)) {
            for input in [xs, wide] {
                let mut got = input.clone();
                sigmoid_in_place(&mut got);
                for (&x, &p) in input.iter().zip(&got) {
                    prop_assert!((0.0..=1.0).contains(&p), "sigmoid({x}) = {p}");
                    prop_assert!((f64::from(p) - sigmoid64(f64::from(x))).abs() <= 1e-6, "sigmoid({x}) = {p}");
                }
            }
        }

        #[test]
        fn sgd_step_matches_f64(
            (f, mut w, rows, labels) in block().prop_flat_map(|(f, w, rows)| {
                let n = rows.len() / f;
                (Just(f), Just(w), Just(rows), vec(prop_oneof![Just(0.0f32), Just(1.0f32)], n))
            }),
            mut bias in -10.0f32..=10.0,
            lr in 0.0f32..=1.0,
            l2 in 0.0f32..=1.0,
        ) {
            let n = labels.len();
            let w0: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
            let b0 = f64::from(bias);
            let (lr64, l264) = (f64::from(lr), f64::from(l2));
            // Reference: logits, loss, gradient in f64.
            let mut grad: Vec<f64> = w0.iter().map(|&x| l264 * x).collect();
            let mut grad_scale: Vec<f64> = w0.iter().map(|&x| (l264 * x).abs()).collect();
            let (mut grad_b, mut grad_b_scale, mut loss, mut loss_scale) = (0.0, 0.0, 0.0, 0.0);
            let mut probs = Vec::new();
            for (row, &y) in rows.chunks(f).zip(&labels) {
                let z = row.iter().zip(&w0).map(|(&x, &w)| f64::from(x) * w).sum::<f64>() + b0;
                let z_scale = row.iter().zip(&w0).map(|(&x, &w)| (f64::from(x) * w).abs()).sum::<f64>() + b0.abs();
                let p = sigmoid64(z);
                let y = f64::from(y);
                loss += (1.0 + (-z.abs()).exp()).ln() + z.max(0.0) - y * z;
                loss_scale += z_scale;
                probs.push((p, z_scale));
                grad_b += (p - y) / n as f64;
                grad_b_scale += (1.0 + z_scale) / n as f64;
                for j in 0..f {
                    grad[j] += (p - y) * f64::from(row[j]) / n as f64;
                    // p carries the logit's rounding error, scaled by |x|.
                    grad_scale[j] += f64::from(row[j]).abs() * (1.0 + z_scale) / n as f64;
                }
            }
            let mut scratch = vec![f32::NAN; n];
            let got = logistic_sgd_step(&mut w, &mut bias, &rows, &labels, f, lr, l2, &mut scratch)?;
            if n == 0 {
                prop_assert_eq!(got, 0.0);
                return Ok(());
            }
            prop_assert!(close(got, loss / n as f64, loss_scale / n as f64), "loss {got} vs {}", loss / n as f64);
            for (&p, &(want, z_scale)) in scratch.iter().zip(&probs) {
                prop_assert!(close(p, want, z_scale), "p {p} vs {want}");
            }
            for j in 0..f {
                let want = w0[j] - lr64 * grad[j];
                prop_assert!(close(w[j], want, w0[j].abs() + lr64 * grad_scale[j]), "w[{j}] {} vs {want}", w[j]);
            }
            prop_assert!(close(bias, b0 - lr64 * grad_b, b0.abs() + lr64 * grad_b_scale), "bias {bias} vs {}", b0 - lr64 * grad_b);
        }

        #[test]
        fn sgd_step_rejects_bad_shapes((f, mut w, rows) in block(), extra in 1usize..5) {
            let n = rows.len() / f;
            let (labels, mut scratch, mut b) = (vec![1.0; n], vec![0.0; n], 0.0);
            if n > 0 {
                prop_assert!(logistic_sgd_step(&mut w, &mut b, &rows, &labels[..n - 1], f, 0.1, 0.0, &mut scratch).is_err());
            }
            prop_assert!(logistic_sgd_step(&mut w, &mut b, &rows, &vec![1.0; n + extra], f, 0.1, 0.0, &mut scratch).is_err());
            prop_assert!(logistic_sgd_step(&mut w, &mut b, &rows, &labels, f, 0.1, 0.0, &mut vec![0.0; n + extra]).is_err());
            prop_assert!(logistic_sgd_step(&mut w[1..], &mut b, &rows, &labels, f, 0.1, 0.0, &mut scratch).is_err());
            prop_assert!(logistic_sgd_step(&mut w, &mut b, &rows, &labels, 0, 0.1, 0.0, &mut scratch).is_err());
        }
    }

    #[test]
    fn sigmoid_saturates_without_nan() {
        let mut xs = [-1e30, -1000.0, -100.0, 0.0, 100.0, 1000.0, 1e30, f32::INFINITY, f32::NEG_INFINITY];
        sigmoid_in_place(&mut xs);
        assert_eq!(xs, [0.0, 0.0, xs[2], 0.5, 1.0, 1.0, 1.0, 1.0, 0.0]);
        assert!(xs[2] > 0.0 && xs[2] < 1e-40);
    }

    #[test]
    fn sgd_recovers_a_known_logistic_model() {
        let truth = [6.0f32, -8.0, 4.0, -3.0, 0.0, 10.0];
        let true_bias = 1.0f32;
        let f = truth.len();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            // xorshift64; the top 24 bits give a uniform f32 in [0, 1).
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let n = 5000;
        let rows: Vec<f32> = (0..n * f).map(|_| 2.0 * next() - 1.0).collect();
        let labels: Vec<f32> = rows
            .chunks(f)
            .map(|x| {
                let p = sigmoid(dot_unchecked(&truth, x) + true_bias);
                if next() < p { 1.0 } else { 0.0 }
            })
            .collect();

        let (mut w, mut b, batch) = (vec![0.0f32; f], 0.0f32, 32);
        let mut scratch = vec![0.0f32; batch];
        let mut first_epoch_loss = None;
        let mut last_epoch_loss = 0.0;
        for _ in 0..20 {
            let mut epoch_loss = 0.0;
            for (x, y) in rows.chunks(batch * f).zip(labels.chunks(batch)) {
                let s = &mut scratch[..y.len()];
                epoch_loss += logistic_sgd_step(&mut w, &mut b, x, y, f, 0.5, 1e-4, s).unwrap() * y.len() as f32;
            }
            first_epoch_loss.get_or_insert(epoch_loss);
            last_epoch_loss = epoch_loss;
        }
        assert!(last_epoch_loss < first_epoch_loss.unwrap(), "loss did not fall");

        for (&got, &want) in w.iter().zip(&truth) {
            if want != 0.0 {
                assert_eq!(got.signum(), want.signum(), "weights {w:?} vs {truth:?}");
            }
        }
        let mut scores = vec![0.0; n];
        linear_scores(&w, b, &rows, f, &mut scores).unwrap();
        let correct = scores.iter().zip(&labels).filter(|&(&s, &y)| (s > 0.0) == (y > 0.5)).count();
        let accuracy = correct as f64 / n as f64;
        assert!(accuracy > 0.9, "accuracy {accuracy}, weights {w:?}, bias {b}");
    }
}
