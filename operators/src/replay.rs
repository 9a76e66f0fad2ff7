//! Test support: every stateful operator, snapshotted after any step and
//! restored into a fresh instance, must produce what an uninterrupted
//! instance produces (the property checkpoints rest on).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;

use crate::Operator;

/// One step of an operator's life.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// A batch of input `0`, `1`, ...
    Rows(usize, RecordBatch),
    /// The watermark moves.
    Watermark(i64),
}

/// Every output row as text, sorted: what must not change. An alert's
/// `alert_time` is the wall clock when it was raised, so it is left out.
pub(crate) fn rows(out: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in out {
        let schema = b.schema();
        let kept: Vec<_> = b.columns().iter().zip(schema.fields()).filter(|(_, f)| f.name() != "alert_time").map(|(c, _)| c).collect();
        for r in 0..b.num_rows() {
            let cells: Vec<String> = kept.iter().map(|c| array_value_to_string(c, r).unwrap_or_else(|e| e.to_string())).collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

/// Runs `steps` then `finish`; with `cut = Some(i)`, snapshots after step
/// `i`, restores into a fresh operator and goes on with that one. The
/// snapshot is taken twice in a row there, so taking one must not change
/// the operator either.
pub(crate) fn run(make: &dyn Fn() -> Box<dyn Operator>, steps: &[Step], cut: Option<usize>) -> Vec<String> {
    let mut op = make();
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Rows(input, batch) => op.process_input(*input, batch.clone(), &mut out).expect("process"),
            Step::Watermark(w) => op.on_watermark(*w, &mut out).expect("watermark"),
        }
        if cut == Some(i) {
            let _ = op.snapshot().expect("first snapshot");
            let saved = op.snapshot().expect("snapshot").expect("a stateful operator has state");
            op = make();
            op.restore(saved).expect("restore");
        }
    }
    op.finish(&mut out).expect("finish");
    rows(&out)
}

/// Asserts that a cut after any step changes nothing.
pub(crate) fn assert_restores(make: &dyn Fn() -> Box<dyn Operator>, steps: &[Step]) {
    let whole = run(make, steps, None);
    assert!(!whole.is_empty(), "the steps produce output");
    for cut in 0..steps.len() {
        assert_eq!(run(make, steps, Some(cut)), whole, "snapshot after step {cut}");
    }
}
