//! Nexmark queries on the `nexmark` source against DataFusion over the
//! same generated events, on 1 and 2 workers: a filter (q2), an unbounded
//! join of auctions with their sellers (q3) and a window join of windowed
//! aggregates (q8). benches/nexmark.sh runs them all, and compares them with
//! Flink.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use weir_connectors::{BadRecords, Cancel, SourceStatus, Split};

use crate::common::lines_of;

const EVENTS: u64 = 60_000;

fn ddl(table: &str, kind: &str) -> String {
    format!(
        "CREATE TABLE {table} WITH ('connector' = 'nexmark', 'nexmark.table.type' = '{kind}', 'nexmark.event.num' = '{EVENTS}');\n"
    )
}

/// Every event of `kind` the source generates (one worker reads them all).
fn generated(kind: &str) -> (Arc<datafusion::arrow::datatypes::Schema>, Vec<RecordBatch>) {
    let options = std::collections::BTreeMap::from([
        ("nexmark.table.type".to_string(), kind.to_string()),
        ("nexmark.event.num".to_string(), EVENTS.to_string()),
    ]);
    let spec = weir_connectors::source_spec("nexmark", &options, None, &[]).expect("a nexmark source");
    let mut source = spec.open(Split { worker: 0, workers: 1 }, Arc::new(BadRecords::new(kind)), &Cancel::default()).expect("opens");
    let mut batches = Vec::new();
    while let SourceStatus::Active = source.poll(&mut batches).expect("polls") {}
    (spec.schema(), batches)
}

fn oracle(query: &str) -> Vec<String> {
    let ctx = weir_engine::session();
    for (table, kind) in [("person", "Person"), ("auction", "Auction"), ("bid", "Bid")] {
        let (schema, batches) = generated(kind);
        ctx.register_table(table, Arc::new(MemTable::try_new(schema, vec![batches]).expect("table"))).expect("register");
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let batches = rt.block_on(async { ctx.sql(query).await.expect("oracle plans").collect().await.expect("oracle runs") });
    lines_of(&batches)
}

fn weir(tables: &str, query: &str, workers: usize) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("out.json");
    let sql = format!(
        "{tables}CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\nINSERT INTO out {query};",
        output.display()
    );
    let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{e}"));
    weir_engine::run(plan, weir_engine::RunOptions::default().workers(workers)).expect("runs");
    let mut lines: Vec<String> = std::fs::read_to_string(&output).expect("output").lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn nexmark_queries_match_datafusion_on_the_same_events() {
    let watermark = "WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND";
    let with_watermark = |table: &str, kind: &str, columns: &str| {
        format!(
            "CREATE TABLE {table} ({columns}, {watermark}) WITH ('connector' = 'nexmark', 'nexmark.table.type' = '{kind}', 'nexmark.event.num' = '{EVENTS}');\n"
        )
    };
    let person = with_watermark(
        "person",
        "Person",
        "id BIGINT, name STRING, email_address STRING, credit_card STRING, city STRING, state STRING, date_time TIMESTAMP, extra STRING",
    );
    let auction = with_watermark(
        "auction",
        "Auction",
        "id BIGINT, item_name STRING, description STRING, initial_bid BIGINT, reserve BIGINT, date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra STRING",
    );
    let q2 = "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0";
    let q3 = "SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P ON A.seller = P.id \
              WHERE A.category = 10 AND (P.state = 'or' OR P.state = 'id' OR P.state = 'ca')";
    let q8 = "SELECT P.id, P.name, P.starttime FROM (\
                SELECT id, name, window_start AS starttime, window_end AS endtime \
                FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) GROUP BY id, name, window_start, window_end) P \
              JOIN (SELECT seller, window_start AS starttime, window_end AS endtime \
                FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) GROUP BY seller, window_start, window_end) A \
              ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime";
    // q8 by window arithmetic for the batch engine.
    let window = |t: &str| {
        format!(
            "(SELECT *, TO_TIMESTAMP_LTZ(CAST(date_time AS BIGINT) / 10000 * 10000, 3) AS window_start, \
              TO_TIMESTAMP_LTZ(CAST(date_time AS BIGINT) / 10000 * 10000 + 10000, 3) AS window_end FROM {t})"
        )
    };
    let q8_batch = q8
        .replace("TABLE(TUMBLE(TABLE person, DESCRIPTOR(date_time), INTERVAL '10' SECOND))", &window("person"))
        .replace("TABLE(TUMBLE(TABLE auction, DESCRIPTOR(date_time), INTERVAL '10' SECOND))", &window("auction"));
    let cases = [(ddl("bid", "Bid"), q2, q2.to_string()), (format!("{person}{auction}"), q3, q3.to_string()), (format!("{person}{auction}"), q8, q8_batch)];
    for (tables, query, batch) in cases {
        let expected = oracle(&batch);
        assert!(expected.len() > 10, "{query} finds rows: {}", expected.len());
        for workers in [1, 2] {
            assert_eq!(weir(&tables, query, workers), expected, "{query} on {workers} workers");
        }
    }
}
