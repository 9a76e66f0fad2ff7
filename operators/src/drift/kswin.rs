//! KSWIN, Kolmogorov-Smirnov Windowing (Raab et al., 2020), River's
//! `drift.KSWIN`: a sliding window of the last `window_size` values; after
//! each value, `stat_size` values drawn at random from the older part of
//! the window are compared with the `stat_size` most recent by a
//! two-sample Kolmogorov-Smirnov test, and drift is signalled when the
//! p-value is at most `alpha` and the statistic above 0.1.
//!
//! To fire where River fires, both of River's sources of numbers are
//! reproduced: the draw is Python's `random.Random(seed).sample` (the
//! Mersenne Twister, from the `rand_mt` crate, seeded as CPython seeds it,
//! and CPython's sampling algorithm), and the p-value is SciPy's exact one
//! for two samples of equal size (`ks_2samp(method="auto")` is exact at
//! these sizes). After a detection the detector starts afresh, its window
//! empty and its generator re-seeded, as River's does.

use std::collections::VecDeque;

use rand_mt::Mt;

use super::{DriftDetector, State};

/// Python's `random.Random(seed)`, as far as `sample` needs it.
/// It counts the words it has drawn, so that a restored detector can
/// replay its generator to the same point (MT19937's 2.5 KB state is not
/// serializable in `rand_mt`; replaying is about a nanosecond a word).
#[derive(Clone)]
struct PyRandom(Mt, u64);

impl PyRandom {
    /// CPython seeds an integer by its absolute value's 32-bit words,
    /// least significant first (`[0]` for zero), with `init_by_array`.
    fn new(seed: u64) -> Self {
        let key: Vec<u32> = if seed >> 32 == 0 { vec![seed as u32] } else { vec![seed as u32, (seed >> 32) as u32] };
        Self(Mt::new_with_key(key), 0)
    }

    /// The generator seeded with `seed` after `draws` words.
    fn replayed(seed: u64, draws: u64) -> Self {
        let mut r = Self::new(seed);
        for _ in 0..draws {
            r.0.next_u32();
        }
        r.1 = draws;
        r
    }

    /// `getrandbits(k)` for `1 <= k <= 32`.
    fn bits(&mut self, k: u32) -> u32 {
        self.1 += 1;
        self.0.next_u32() >> (32 - k)
    }

    /// `_randbelow(n)`: rejection sampling on `n.bit_length()` bits.
    fn below(&mut self, n: u32) -> u32 {
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.bits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `sample(range(n), k)`: a pool for small populations, a set of
    /// rejections for large ones, with CPython's threshold between them.
    fn sample(&mut self, n: u32, k: u32) -> Vec<u32> {
        let mut setsize = 21.0f64;
        if k > 5 {
            setsize += 4f64.powf(((f64::from(k) * 3.0).ln() / 4f64.ln()).ceil());
        }
        if f64::from(n) <= setsize {
            let mut pool: Vec<u32> = (0..n).collect();
            (0..k)
                .map(|i| {
                    let j = self.below(n - i) as usize;
                    let picked = pool[j];
                    pool[j] = pool[(n - i - 1) as usize];
                    picked
                })
                .collect()
        } else {
            let mut selected = std::collections::HashSet::new();
            (0..k)
                .map(|_| {
                    let mut j = self.below(n);
                    while selected.contains(&j) {
                        j = self.below(n);
                    }
                    selected.insert(j);
                    j
                })
                .collect()
        }
    }
}

/// SciPy's `_compute_prob_outside_square(n, h)`: the exact probability
/// that two samples of `n` values each differ by `D >= h / n`.
pub(crate) fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (n / h).floor();
    while k >= 0.0 {
        let mut p1 = 1.0;
        let mut j = 0.0;
        while j < h {
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1.0);
            j += 1.0;
        }
        p = p1 * (1.0 - p);
        k -= 1.0;
    }
    2.0 * p
}

/// The two-sample KS statistic of equal-sized samples, as SciPy rounds it
/// (`h / n`), and its exact two-sided p-value.
fn ks_equal_sizes(a: &mut [f64], b: &mut [f64]) -> (f64, f64) {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let n = a.len();
    let cdf = |s: &[f64], x: f64| s.partition_point(|&v| v <= x) as f64 / s.len() as f64;
    let d = a.iter().chain(b.iter()).map(|&x| (cdf(a, x) - cdf(b, x)).abs()).fold(0.0, f64::max);
    let h = (d * n as f64).round_ties_even() as u64;
    if h == 0 {
        return (0.0, 1.0);
    }
    (h as f64 / n as f64, prob_outside_square(n as u64, h).clamp(0.0, 1.0))
}

/// KSWIN with River's parameters: `alpha` 0.005, `window_size` 100,
/// `stat_size` 30, and a `seed` (River draws one when none is given; Weir
/// needs one to be reproducible).
#[derive(Clone)]
pub struct Kswin {
    alpha: f64,
    window_size: usize,
    stat_size: usize,
    seed: u64,
    window: VecDeque<f64>,
    rng: PyRandom,
    p_value: f64,
    drift: bool,
}

impl std::fmt::Debug for Kswin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kswin").field("alpha", &self.alpha).field("window_size", &self.window_size).field("stat_size", &self.stat_size).finish()
    }
}

impl Kswin {
    /// A detector with the given parameters; `stat_size` is kept within
    /// 1 and `window_size / 2` (the older part of the window must hold a
    /// sample of that size).
    pub fn new(alpha: f64, window_size: usize, stat_size: usize, seed: u64) -> Self {
        let window_size = window_size.max(2);
        let stat_size = stat_size.clamp(1, window_size / 2);
        Self { alpha, window_size, stat_size, seed, window: VecDeque::with_capacity(window_size), rng: PyRandom::new(seed), p_value: 0.0, drift: false }
    }
}

/// What a checkpoint keeps of a [`Kswin`]: everything, the generator as
/// the number of words drawn from its seed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    alpha: f64,
    window_size: usize,
    stat_size: usize,
    seed: u64,
    window: VecDeque<f64>,
    draws: u64,
    p_value: f64,
    drift: bool,
}

impl DriftDetector for Kswin {
    fn save(&self) -> crate::Result<Vec<u8>> {
        let saved = Saved {
            alpha: self.alpha,
            window_size: self.window_size,
            stat_size: self.stat_size,
            seed: self.seed,
            window: self.window.clone(),
            draws: self.rng.1,
            p_value: self.p_value,
            drift: self.drift,
        };
        crate::codec::encode("kswin", &saved)
    }

    fn load(&mut self, bytes: &[u8]) -> crate::Result<()> {
        let s: Saved = crate::codec::decode("kswin", bytes)?;
        let rng = PyRandom::replayed(s.seed, s.draws);
        *self = Self { alpha: s.alpha, window_size: s.window_size, stat_size: s.stat_size, seed: s.seed, window: s.window, rng, p_value: s.p_value, drift: s.drift };
        Ok(())
    }

    fn update(&mut self, x: f64) -> State {
        if self.drift {
            *self = Self::new(self.alpha, self.window_size, self.stat_size, self.seed);
        }
        if self.window.len() == self.window_size {
            self.window.pop_front();
        }
        self.window.push_back(x);
        if self.window.len() < self.window_size {
            return State::Stable;
        }
        let older = (self.window_size - self.stat_size) as u32;
        let picks = self.rng.sample(older, self.stat_size as u32);
        let mut sampled: Vec<f64> = picks.iter().map(|&r| self.window[r as usize]).collect();
        let mut recent: Vec<f64> = self.window.iter().skip(older as usize).copied().collect();
        let (d, p) = ks_equal_sizes(&mut sampled, &mut recent);
        self.p_value = p;
        self.drift = p <= self.alpha && d > 0.1;
        if self.drift { State::Drift } else { State::Stable }
    }

    /// The latest test's p-value.
    fn statistic(&self) -> f64 {
        self.p_value
    }

    /// `alpha`: drift is a p-value at or below it (with a statistic above 0.1).
    fn threshold(&self) -> f64 {
        self.alpha
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_random_sample_sequence() {
        // random.Random(1).sample(range(70), 5) and .sample(range(300), 6) in CPython 3.11.
        let mut r = PyRandom::new(1);
        assert_eq!(r.sample(70, 5), [17, 8, 32, 15, 63]);
        let mut r = PyRandom::new(42);
        assert_eq!(r.below(10), 1);
    }

    #[test]
    fn exact_p_values_match_scipy() {
        // scipy.stats.ks_2samp(range(30), range(15, 45)) -> statistic 0.5, pvalue 0.000899577...
        let (mut a, mut b): (Vec<f64>, Vec<f64>) = ((0..30).map(f64::from).collect(), (15..45).map(f64::from).collect());
        let (d, p) = ks_equal_sizes(&mut a, &mut b);
        assert_eq!(d, 0.5);
        assert!((p - 0.0008995776840176799).abs() < 1e-15, "{p}");
    }
}
