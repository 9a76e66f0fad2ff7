//! Fuzz target `kafka_metadata`: see `../targets.rs`.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::kafka_metadata(data));
