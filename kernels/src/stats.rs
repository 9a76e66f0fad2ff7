//! Feature-drift statistics: how far a current sample of one feature has
//! moved from a reference sample.
//!
//! - [`psi`], the population stability index over bins cut at the
//!   reference's quantiles (the usual reading: below 0.1 stable, 0.1 to
//!   0.25 moderate, above 0.25 major);
//! - [`jensen_shannon`], the Jensen-Shannon distance between the two
//!   binned distributions (base 2, so within 0 and 1);
//! - [`ks`], the two-sample Kolmogorov-Smirnov statistic with its
//!   asymptotic p-value;
//! - [`wasserstein_1`], the earth mover's distance between the two
//!   empirical distributions (SciPy's `wasserstein_distance`).
//!
//! Inputs are `f32` values as the engine holds them; sums are `f64`. The
//! binned statistics take counts from [`histogram`], so a monitor can keep
//! the reference's counts and bin each window once; the others take sorted
//! samples. Every function checks its inputs and returns an error instead
//! of panicking.

use crate::error::{KernelError, Result};

/// Proportions are floored at this before taking logarithms, so that an
/// empty bin does not make PSI infinite (the common practice).
pub const PSI_FLOOR: f64 = 1e-4;

fn empty(kernel: &'static str, what: &'static str) -> KernelError {
    KernelError::Shape { kernel, what, expected: 1, got: 0 }
}

/// `bins - 1` cut points at the reference's quantiles (`bins` equally
/// filled bins of the reference), ascending; NaN values are ignored.
///
/// ```
/// let edges = weir_kernels::stats::quantile_edges(&[4.0, 1.0, 3.0, 2.0], 2).unwrap();
/// assert_eq!(edges, [3.0]); // bins (-inf, 3) and [3, inf)
/// ```
pub fn quantile_edges(reference: &[f32], bins: usize) -> Result<Vec<f32>> {
    let mut sorted: Vec<f32> = reference.iter().copied().filter(|x| !x.is_nan()).collect();
    if sorted.is_empty() {
        return Err(empty("quantile_edges", "reference values (minimum)"));
    }
    if bins < 2 {
        return Err(KernelError::Shape { kernel: "quantile_edges", what: "bins (minimum)", expected: 2, got: bins });
    }
    sorted.sort_by(f32::total_cmp);
    let mut edges: Vec<f32> = (1..bins).map(|b| sorted[b * sorted.len() / bins]).collect();
    edges.dedup();
    Ok(edges)
}

/// Adds `values` to `counts` (`edges.len() + 1` bins): a value goes to the
/// number of edges at or below it; NaN values are skipped.
pub fn histogram(values: &[f32], edges: &[f32], counts: &mut [u64]) -> Result<()> {
    crate::error::check_len("histogram", "counts length (= edges + 1)", edges.len() + 1, counts.len())?;
    for &v in values.iter().filter(|v| !v.is_nan()) {
        counts[edges.partition_point(|&e| e <= v)] += 1;
    }
    Ok(())
}

/// Both histograms as proportions, floored at [`PSI_FLOOR`] when `floor`.
fn proportions(kernel: &'static str, reference: &[u64], current: &[u64], floor: bool) -> Result<Vec<(f64, f64)>> {
    crate::error::check_len(kernel, "current bins (= reference bins)", reference.len(), current.len())?;
    let (nr, nc) = (reference.iter().sum::<u64>() as f64, current.iter().sum::<u64>() as f64);
    if nr == 0.0 || nc == 0.0 {
        return Err(empty(kernel, "counted values on each side (minimum)"));
    }
    let f = |x: f64| if floor { x.max(PSI_FLOOR) } else { x };
    Ok(reference.iter().zip(current).map(|(&r, &c)| (f(r as f64 / nr), f(c as f64 / nc))).collect())
}

/// The population stability index `Σ (c − r) · ln(c / r)` over bins, with
/// proportions floored at [`PSI_FLOOR`].
///
/// ```
/// use weir_kernels::stats::psi;
/// assert_eq!(psi(&[50, 50], &[50, 50]).unwrap(), 0.0);
/// assert!(psi(&[90, 10], &[10, 90]).unwrap() > 0.25); // a major shift
/// ```
pub fn psi(reference: &[u64], current: &[u64]) -> Result<f64> {
    Ok(proportions("psi", reference, current, true)?.iter().map(|&(r, c)| (c - r) * (c / r).ln()).sum())
}

/// The Jensen-Shannon distance (the square root of the divergence, base 2).
pub fn jensen_shannon(reference: &[u64], current: &[u64]) -> Result<f64> {
    let kl = |p: f64, m: f64| if p > 0.0 { p * (p / m).log2() } else { 0.0 };
    let divergence: f64 = proportions("jensen_shannon", reference, current, false)?
        .iter()
        .map(|&(p, q)| {
            let m = 0.5 * (p + q);
            0.5 * kl(p, m) + 0.5 * kl(q, m)
        })
        .sum();
    Ok(divergence.max(0.0).sqrt())
}

fn check_sorted(kernel: &'static str, a: &[f32], b: &[f32]) -> Result<()> {
    if a.is_empty() || b.is_empty() {
        return Err(empty(kernel, "values on each side (minimum)"));
    }
    for s in [a, b] {
        if let Some(i) = s.iter().position(|x| x.is_nan()) {
            return Err(KernelError::Shape { kernel, what: "NaN-free samples (first NaN position)", expected: 0, got: i });
        }
        if let Some(i) = s.windows(2).position(|w| w[0] > w[1]) {
            return Err(KernelError::Shape { kernel, what: "sorted, NaN-free samples (first unsorted position)", expected: 0, got: i + 1 });
        }
    }
    Ok(())
}

/// Walks the merged order of two sorted samples, calling `step` with each
/// distinct value, the next one, and both empirical CDFs just after it.
fn walk(a: &[f32], b: &[f32], mut step: impl FnMut(f64, Option<f64>, f64, f64)) {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => break,
        };
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        let next = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => Some(f64::from(p.min(q))),
            (Some(&p), None) => Some(f64::from(p)),
            (None, Some(&q)) => Some(f64::from(q)),
            (None, None) => None,
        };
        step(f64::from(x), next, i as f64 / na, j as f64 / nb);
    }
}

/// The two-sample Kolmogorov-Smirnov statistic `D = sup |F_a − F_b|` of
/// two sorted samples, and its asymptotic p-value: the survival of the
/// limiting Kolmogorov distribution (SciPy's `kstwobign`) at
/// `sqrt(n m / (n + m)) · D`, which SciPy's `ks_2samp(method='asymp')`
/// approaches as the samples grow.
///
/// ```
/// let (d, p) = weir_kernels::stats::ks(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
/// assert_eq!((d, p), (0.0, 1.0));
/// ```
pub fn ks(a: &[f32], b: &[f32]) -> Result<(f64, f64)> {
    check_sorted("ks", a, b)?;
    let mut d: f64 = 0.0;
    walk(a, b, |_, _, fa, fb| d = d.max((fa - fb).abs()));
    let (n, m) = (a.len() as f64, b.len() as f64);
    Ok((d, kolmogorov_sf((n * m / (n + m)).sqrt() * d)))
}

/// The survival function of the Kolmogorov distribution,
/// `Q(λ) = 2 Σ_{k≥1} (−1)^(k−1) e^(−2 k² λ²)` (1 for small λ, where the
/// series converges slowly and the value is 1 to double precision).
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += if k as u64 % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// The Wasserstein-1 (earth mover's) distance `∫ |F_a − F_b|` between two
/// sorted samples' empirical distributions.
///
/// ```
/// let w = weir_kernels::stats::wasserstein_1(&[0.0, 1.0], &[5.0, 6.0]).unwrap();
/// assert_eq!(w, 5.0);
/// ```
pub fn wasserstein_1(a: &[f32], b: &[f32]) -> Result<f64> {
    check_sorted("wasserstein_1", a, b)?;
    let mut w = 0.0;
    walk(a, b, |x, next, fa, fb| {
        if let Some(next) = next {
            w += (fa - fb).abs() * (next - x);
        }
    });
    Ok(w)
}
