//! The README's examples are real: every SQL block in README.md plans (a
//! change that breaks one fails here), and the commands the README shows
//! exist.

use std::path::Path;

/// The ```sql blocks of a Markdown file, with the line each starts on.
pub(crate) fn sql_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_start().starts_with("```sql") => current = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn every_sql_example_of_the_readme_plans() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let blocks = sql_blocks(&readme);
    assert!(blocks.len() >= 3, "the README shows pipelines");
    for (line, sql) in blocks {
        // Relative paths in the examples are the repository's.
        let sql = sql.replace("'examples/", &format!("'{}/examples/", root.display()));
        if let Err(e) = weir_engine::plan_pipeline(&sql) {
            panic!("README.md line {line}: {}", e.render(&sql, "README.md"));
        }
    }
}
