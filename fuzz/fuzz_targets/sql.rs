//! Fuzz target `sql`: see `../targets.rs`.
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)] // each binary uses one target of the shared file
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::sql(data));
