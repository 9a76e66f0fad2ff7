//! Prequential (test-then-train) logistic regression over a CSV file of
//! `feature,...,label` rows (label 0/1, no header), one global model on the
//! CPU backend with River's `StandardScaler | LogisticRegression` settings.
//! Prints rows/s of the learning loop alone (parsing excluded) and the
//! prequential accuracy, as JSON, for `benches/models.sh`.
//!
//! ```sh
//! cargo run --release -p weir-kernels --example prequential -- rows.csv
//! ```

use std::time::Instant;

use weir_kernels::{CpuBank, ModelBank, ModelSpec, Task};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: prequential FILE.csv")?;
    let text = std::fs::read_to_string(&path)?;
    let (mut rows, mut labels, mut width) = (Vec::new(), Vec::new(), 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let values: Vec<f32> = line.split(',').map(|v| v.trim().parse()).collect::<Result<_, _>>()?;
        let (label, features) = values.split_last().ok_or("empty row")?;
        width = features.len();
        rows.extend_from_slice(features);
        labels.push(*label);
    }
    let spec = ModelSpec { scale: true, ..ModelSpec::river_defaults(Task::Binary, width) };
    let mut bank = CpuBank::new(spec, 1)?;
    let keys = vec![0u32; labels.len()];
    let mut out = vec![0.0f32; labels.len()];
    let started = Instant::now();
    // Batches of 8192 rows, as the engine hands them over.
    for start in (0..labels.len()).step_by(8192) {
        let end = (start + 8192).min(labels.len());
        bank.learn(&keys[start..end], &rows[start * width..end * width], &labels[start..end], &mut out[start..end])?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let correct = out.iter().zip(&labels).filter(|&(&p, &y)| (p > 0.5) == (y > 0.5)).count();
    println!(
        "{{\"baseline\": \"weir-kernels\", \"rows\": {}, \"seconds\": {seconds:.6}, \"rows_per_s\": {:.0}, \"accuracy\": {:.4}}}",
        labels.len(),
        labels.len() as f64 / seconds,
        correct as f64 / labels.len() as f64
    );
    Ok(())
}
