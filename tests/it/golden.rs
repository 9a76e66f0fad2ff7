//! Golden tests for the front end: plans of valid pipelines and the exact
//! text of errors for invalid ones.

use std::path::Path;

fn check(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("golden file is readable");
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    match weir_engine::plan_pipeline(&text) {
        Ok(plan) => format!("OK\n{plan}"),
        Err(d) => format!("ERROR {}:{}\n{}", d.line(), d.column(), d.render(&text, &name)),
    }
}

#[test]
fn golden_check() {
    insta::glob!("../golden/check", "*.sql", |path| {
        insta::assert_snapshot!(check(path));
    });
}

/// Files whose name starts with `error_` must fail with a position; the
/// others must plan.
#[test]
fn golden_files_fail_or_pass_as_named() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/check");
    let mut errors = 0;
    for entry in std::fs::read_dir(dir).expect("golden dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let result = weir_engine::plan_pipeline(&text);
        if name.starts_with("error_") {
            let d = result.err().unwrap_or_else(|| panic!("{name} should fail"));
            assert!(d.line() > 0, "{name}: the error has no line: {d}");
            errors += 1;
        } else if let Err(d) = result {
            panic!("{name} should plan, got {d}");
        }
    }
    assert!(errors >= 20, "at least 20 malformed pipelines, found {errors}");
}
