//! Feature-drift statistics against float64 references written naively
//! here, against SciPy's values for fixed samples, and on random streams
//! that do and do not shift (fresh inputs each run; `WEIR_TEST_SEED`
//! replays one). Many-window binning ([`Histograms`]) against a naive count
//! on the CPU, in `cuda/stats.cu` run as C++ on the CPU, and on a GPU when
//! one is present.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::Rng;
use weir_kernels::histograms::{CpuHistogrammer, Histogrammer, Histograms};
use weir_kernels::stats::{histogram, jensen_shannon, kolmogorov_sf, ks, psi, quantile_edges, wasserstein_1};

fn sorted(mut v: Vec<f32>) -> Vec<f32> {
    v.sort_by(f32::total_cmp);
    v
}

/// The empirical CDF of `s` at `x`, counted.
fn cdf(s: &[f32], x: f32) -> f64 {
    s.iter().filter(|&&v| v <= x).count() as f64 / s.len() as f64
}

fn normal(rng: &mut Rng, mean: f64, sd: f64) -> f32 {
    // Box-Muller.
    let (u, v) = (rng.unit().max(1e-12), rng.unit());
    (mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

#[test]
fn ks_and_wasserstein_match_naive_references() {
    let mut rng = Rng::fresh("ks_and_wasserstein_match_naive_references");
    for (n, m) in [(1, 1), (5, 7), (200, 300), (1000, 1000)] {
        // Rounded values, so that ties across and within samples occur.
        let a = sorted((0..n).map(|_| (rng.range(-3.0, 3.0) * 4.0).round() as f32 / 4.0).collect());
        let b = sorted((0..m).map(|_| (rng.range(-2.0, 4.0) * 4.0).round() as f32 / 4.0).collect());
        let points: Vec<f32> = a.iter().chain(&b).copied().collect();
        let d_naive = points.iter().map(|&x| (cdf(&a, x) - cdf(&b, x)).abs()).fold(0.0, f64::max);
        let (d, p) = ks(&a, &b).unwrap();
        assert!((d - d_naive).abs() < 1e-12, "KS {d} vs {d_naive}");
        assert!((0.0..=1.0).contains(&p));
        if n == m {
            // Equal sizes: W1 is the mean distance between order statistics.
            let w_naive = a.iter().zip(&b).map(|(x, y)| f64::from((x - y).abs())).sum::<f64>() / n as f64;
            let w = wasserstein_1(&a, &b).unwrap();
            assert!((w - w_naive).abs() < 1e-9 * (1.0 + w_naive), "W1 {w} vs {w_naive}");
        }
    }
}

#[test]
fn fixed_samples_give_scipys_values() {
    let a = [0.5, 1.0, 1.0, 3.0, 7.5];
    let b = [0.0, 1.0, 2.0, 2.5, 4.0, 9.0, 10.0];
    // scipy.stats.wasserstein_distance(a, b), ks_2samp(a, b).statistic
    assert!((wasserstein_1(&a, &b).unwrap() - 1.6142857142857143).abs() < 1e-6);
    assert!((ks(&a, &b).unwrap().0 - 0.3142857142857143).abs() < 1e-12);
    // scipy.stats.kstwobign.sf(lambda)
    for (lambda, sf) in [(0.3, 0.9999906941986655), (0.5, 0.9639452436648751), (0.8, 0.5441424115741981), (1.0, 0.26999967167735456), (1.36, 0.049485876755377876), (2.0, 0.0006709252557796953)] {
        assert!((kolmogorov_sf(lambda) - sf).abs() < 1e-9, "Q({lambda}) = {} vs {sf}", kolmogorov_sf(lambda));
    }
    // scipy.spatial.distance.jensenshannon([10, 20, 30, 40], [40, 30, 20, 10], base=2)
    assert!((jensen_shannon(&[10, 20, 30, 40], &[40, 30, 20, 10]).unwrap() - 0.3918681606471551).abs() < 1e-12);
}

#[test]
fn binned_statistics_match_naive_references() {
    let mut rng = Rng::fresh("binned_statistics_match_naive_references");
    let reference: Vec<f32> = (0..5000).map(|_| normal(&mut rng, 0.0, 1.0)).collect();
    let current: Vec<f32> = (0..3000).map(|_| normal(&mut rng, 0.3, 1.2)).collect();
    let edges = quantile_edges(&reference, 10).unwrap();
    assert_eq!(edges.len(), 9);
    let (mut r, mut c) = (vec![0; 10], vec![0; 10]);
    histogram(&reference, &edges, &mut r).unwrap();
    histogram(&current, &edges, &mut c).unwrap();
    // Naive bins: lower edge inclusive, upper exclusive.
    let bin = |v: f32| edges.iter().filter(|&&e| e <= v).count();
    for (counts, values) in [(&r, &reference), (&c, &current)] {
        let mut naive = vec![0u64; 10];
        for &v in values.iter() {
            naive[bin(v)] += 1;
        }
        assert_eq!(counts, &naive);
    }
    // Deciles: each reference bin holds a tenth, give or take ties.
    assert!(r.iter().all(|&n| n.abs_diff(500) <= 1), "{r:?}");
    let (pr, pc): (Vec<f64>, Vec<f64>) = r.iter().zip(&c).map(|(&a, &b)| ((a as f64 / 5000.0).max(1e-4), (b as f64 / 3000.0).max(1e-4))).unzip();
    let psi_naive: f64 = pr.iter().zip(&pc).map(|(a, b)| (b - a) * (b / a).ln()).sum();
    assert!((psi(&r, &c).unwrap() - psi_naive).abs() < 1e-12);
    let js = jensen_shannon(&r, &c).unwrap();
    assert!((js - jensen_shannon(&c, &r).unwrap()).abs() < 1e-12, "symmetric");
    assert!((0.0..=1.0).contains(&js));
    assert_eq!(psi(&r, &r).unwrap(), 0.0);
    assert_eq!(jensen_shannon(&r, &r).unwrap(), 0.0);
}

#[test]
fn statistics_tell_a_shift_from_noise() {
    let mut rng = Rng::fresh("statistics_tell_a_shift_from_noise");
    let reference = sorted((0..10_000).map(|_| normal(&mut rng, 50.0, 10.0)).collect());
    let edges = quantile_edges(&reference, 10).unwrap();
    let mut r = vec![0; 10];
    histogram(&reference, &edges, &mut r).unwrap();
    let measure = |current: Vec<f32>| {
        let current = sorted(current);
        let mut c = vec![0; 10];
        histogram(&current, &edges, &mut c).unwrap();
        (psi(&r, &c).unwrap(), ks(&reference, &current).unwrap().1, wasserstein_1(&reference, &current).unwrap())
    };
    // The same distribution: stable by every reading.
    let (p, pvalue, w) = measure((0..5_000).map(|_| normal(&mut rng, 50.0, 10.0)).collect());
    assert!(p < 0.1 && pvalue > 1e-4 && w < 1.5, "no shift: PSI {p}, KS p {pvalue}, W1 {w}");
    // Speeds 25% lower (the generator's road works): a major shift.
    let (p, pvalue, w) = measure((0..5_000).map(|_| normal(&mut rng, 37.5, 10.0)).collect());
    assert!(p > 0.25 && pvalue < 1e-9 && (w - 12.5).abs() < 1.5, "shift: PSI {p}, KS p {pvalue}, W1 {w}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    assert!(quantile_edges(&[], 10).is_err());
    assert!(quantile_edges(&[f32::NAN], 10).is_err());
    assert!(quantile_edges(&[1.0], 1).is_err());
    assert!(histogram(&[1.0], &[0.0], &mut [0; 3]).is_err());
    assert!(psi(&[1, 2], &[1]).is_err());
    assert!(psi(&[0, 0], &[1, 1]).is_err());
    assert!(ks(&[], &[1.0]).is_err());
    assert!(ks(&[2.0, 1.0], &[1.0]).is_err(), "unsorted");
    assert!(wasserstein_1(&[f32::NAN, 1.0], &[1.0]).is_err(), "NaN");
    assert!(ks(&[f32::NAN], &[1.0]).is_err(), "a lone NaN");
}

/// Windows of every awkward kind: empty, without edges, with tied edges,
/// NaN and infinite values, values on the edges, and ordinary ones.
fn random_windows(rng: &mut Rng, n: usize) -> Histograms {
    let mut windows = Histograms::default();
    for _ in 0..n {
        let n_values = match rng.next_u64() % 6 {
            0 => 0,
            1 => 1,
            _ => (rng.next_u64() % 300) as usize,
        };
        let mut values: Vec<f32> = (0..n_values).map(|_| (rng.range(-4.0, 4.0) * 2.0).round() as f32 / 2.0).collect();
        for v in values.iter_mut() {
            match rng.next_u64() % 50 {
                0 => *v = f32::NAN,
                1 => *v = f32::INFINITY,
                2 => *v = f32::NEG_INFINITY,
                _ => {}
            }
        }
        let edges = match rng.next_u64() % 5 {
            0 => Vec::new(),
            1 => vec![0.5, 0.5, 1.0], // tied cut points
            _ => sorted((0..1 + rng.next_u64() % 12).map(|_| (rng.range(-3.0, 3.0) * 2.0).round() as f32 / 2.0).collect()),
        };
        windows.push(&values, &edges).unwrap();
    }
    windows
}

/// Each window counted naively: a value's bin is the number of edges at
/// or below it.
fn naive_counts(windows: &Histograms) -> Vec<u64> {
    let mut counts = vec![0; windows.n_bins()];
    for g in 0..windows.len() {
        let (values, edges) = windows.window(g);
        let bins = windows.bins(g);
        assert_eq!(bins.len(), edges.len() + 1);
        for v in values.iter().filter(|v| !v.is_nan()) {
            counts[bins.start + edges.iter().filter(|&&e| e <= *v).count()] += 1;
        }
    }
    counts
}

#[test]
fn many_windows_are_binned_like_one_at_a_time() {
    let mut rng = Rng::fresh("many_windows_are_binned_like_one_at_a_time");
    for n in [1, 2, 50, 400] {
        let windows = random_windows(&mut rng, n);
        let mut counts = vec![u64::MAX; windows.n_bins()];
        CpuHistogrammer.count(&windows, &mut counts).unwrap();
        assert_eq!(counts, naive_counts(&windows), "{n} windows");
    }
    let mut empty = Histograms::default();
    CpuHistogrammer.count(&empty, &mut []).unwrap();
    assert!(empty.push(&[1.0], &[2.0, 1.0]).is_err(), "descending edges");
    assert!(empty.push(&[1.0], &[f32::NAN]).is_err(), "NaN edge");
    assert!(empty.is_empty());
    empty.push(&[1.0], &[0.0]).unwrap();
    assert!(CpuHistogrammer.count(&empty, &mut [0; 3]).is_err(), "counts of the wrong length");
}

/// Runs `cuda/stats.cu` on the CPU through the emulation harness.
fn emulated_counts(windows: &Histograms) -> Vec<u64> {
    static HARNESS: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let harness = HARNESS.get_or_init(|| support::compile_harness("stats_harness"));
    let (mut values, mut edges, mut value_offsets, mut edge_offsets) = (Vec::new(), Vec::new(), vec![0], vec![0]);
    for g in 0..windows.len() {
        let (v, e) = windows.window(g);
        values.extend_from_slice(v);
        edges.extend_from_slice(e);
        value_offsets.push(values.len());
        edge_offsets.push(edges.len());
    }
    let mut input = format!("{} {} {}\n", values.len(), windows.len(), edges.len());
    let line = |items: Vec<String>| items.join(" ") + "\n";
    input += &line(value_offsets.iter().map(usize::to_string).collect());
    input += &line(values.iter().map(f32::to_string).collect());
    input += &line(edge_offsets.iter().map(usize::to_string).collect());
    input += &line(edges.iter().map(f32::to_string).collect());
    let mut child = Command::new(harness).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "stats harness failed");
    String::from_utf8(output.stdout).unwrap().split_whitespace().map(|c| c.parse().unwrap()).collect()
}

#[test]
fn cuda_histogram_source_emulated_on_cpu_matches_naive_counts() {
    let mut rng = Rng::fresh("cuda_histogram_source_emulated_on_cpu_matches_naive_counts");
    for n in [1, 3, 200] {
        let windows = random_windows(&mut rng, n);
        assert_eq!(emulated_counts(&windows), naive_counts(&windows), "{n} windows");
    }
}

#[cfg(feature = "cuda")]
#[test]
fn cuda_histograms_match_cpu_histograms() {
    use weir_kernels::cuda::CudaHistogrammer;
    if let Some(reason) = weir_kernels::cuda_unavailable() {
        let required = std::env::var_os("WEIR_REQUIRE_CUDA").is_some();
        assert!(!required, "WEIR_REQUIRE_CUDA is set but CUDA is unusable: {reason}");
        eprintln!("SKIPPED cuda_histograms_match_cpu_histograms: {reason}");
        return;
    }
    let mut rng = Rng::fresh("cuda_histograms_match_cpu_histograms");
    let mut gpu = CudaHistogrammer::new(0).unwrap();
    for n in [1, 7, 500, 20_000] {
        let windows = random_windows(&mut rng, n);
        let (mut want, mut got) = (vec![0; windows.n_bins()], vec![u64::MAX; windows.n_bins()]);
        CpuHistogrammer.count(&windows, &mut want).unwrap();
        gpu.count(&windows, &mut got).unwrap();
        assert_eq!(got, want, "{n} windows");
        assert_eq!(want, naive_counts(&windows));
    }
    gpu.count(&Histograms::default(), &mut []).unwrap();
}
