//! Every input the fuzzers kept (`fuzz/corpus/<target>/`) replayed through
//! the same target bodies the fuzzers run (`fuzz/targets.rs`): a regression
//! test of seconds for what hours of fuzzing found. docs/fuzzing.md says
//! how the corpora were made.

#[path = "../../fuzz/targets.rs"]
#[allow(dead_code, clippy::unwrap_used)]
mod targets;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("input");
        run(&data);
        inputs += 1;
    }
    assert!(inputs > 0, "{target}: the corpus is empty");
}

#[test]
fn sql_corpus() {
    replay("sql", targets::sql);
}

#[test]
fn json_corpus() {
    replay("json", targets::json);
}

#[test]
fn csv_corpus() {
    replay("csv", targets::csv);
}

#[test]
fn avro_corpus() {
    replay("avro", targets::avro);
}

#[test]
fn kafka_metadata_corpus() {
    replay("kafka_metadata", targets::kafka_metadata);
}

#[test]
fn rest_corpus() {
    replay("rest", targets::rest);
}
