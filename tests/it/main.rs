//! Weir's integration tests: one binary, so the engine is linked once.
//!
//! * `golden`: every file under `tests/golden/check/` is planned; the plan or
//!   the rendered error is compared with its snapshot (adding a case is
//!   adding a `.sql` file; `cargo insta review` accepts the new snapshot).
//! * `oracle`: streaming results against DataFusion's batch engine.
//! * `windows`: event-time windows against DataFusion and a reference.
//! * `kafka`: the Kafka connectors against a real broker (tansu);
//!   `kafka_commits`: offset commits, restarts, metadata columns and
//!   per-partition watermarks.
//! * `nexmark`: Nexmark queries on the nexmark source against DataFusion.
//! * `upsert`: the upsert-kafka source as a versioned table, against a
//!   broker and DataFusion.
//! * `checkpoints`: consistent checkpoints: pipelines killed at random
//!   moments and restarted write what an uninterrupted run writes, with
//!   checkpoints on disk and on an S3-compatible server (`moto`).
//! * `cli`: the `weir` binary on the examples and on bad input.
//! * `serve`: `weir serve`'s REST API, `/metrics` scraped by a real
//!   Prometheus, and the Grafana dashboard's queries.
//! * `models`, `model_drift`, `monitors`: online models, their drift
//!   detectors and adaptation, and drift monitors in SQL.
//! * Bad input and faults: `limits` (what a pipeline or request may cost),
//!   `row_errors` (the row-level error policy), `malformed` (every kind of
//!   malformed record), `sinks` (several INSERTs, restarts, a full disk, a
//!   slow sink), `signals` (SIGTERM and SIGINT), `kafka_faults` (odd
//!   messages, a broker killed mid-produce).

mod checkpoints;
mod cli;
mod fuzz;
mod joins;
mod common;
mod golden;
mod kafka;
mod kafka_commits;
mod kafka_faults;
mod limits;
mod malformed;
mod model_drift;
mod models;
mod monitors;
mod moto;
mod nexmark;
mod oracle;
mod readme;
mod row_errors;
mod serve;
mod signals;
mod sinks;
mod upsert;
mod windows;
