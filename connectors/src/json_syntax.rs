//! A single-pass JSON syntax check over bytes, without building values.
//!
//! arrow's JSON tape decoder is lenient about separators (a record missing
//! a comma decodes as data), so every record is checked before it. Parsing
//! each record a second time with `serde_json` halved the single-worker
//! decode rate (docs/benchmarks.md); this check only walks the grammar
//! (RFC 8259). It may refuse valid JSON it is unsure of (a lone surrogate
//! escape, nesting deeper than `serde_json`'s 128): the caller then asks
//! `serde_json`, which also words the error. It never accepts what
//! `serde_json` refuses; the unit tests and the `json` fuzz target check
//! that.

/// Whether `b` is one JSON value with optional surrounding whitespace.
///
/// `true` means valid; `false` means "ask `serde_json`". Outside strings the
/// grammar admits only ASCII, so UTF-8 is checked only inside strings that
/// hold a non-ASCII byte: one pass over the record, not two.
pub(crate) fn surely_valid(b: &[u8]) -> bool {
    walk(b).is_some()
}

const MAX_DEPTH: usize = 128;

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

fn walk(b: &[u8]) -> Option<()> {
    // The open containers, innermost last: bounded, so no allocation.
    let mut stack = [0u8; MAX_DEPTH];
    let mut depth = 0;
    let mut i = ws(b, 0);
    'value: loop {
        // Expecting a value at i.
        match *b.get(i)? {
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                i = ws(b, i + 1);
                if b.get(i) == Some(&close) {
                    i += 1;
                } else {
                    *stack.get_mut(depth)? = open;
                    depth += 1;
                    if open == b'{' {
                        i = key(b, i)?;
                    }
                    continue 'value;
                }
            }
            b'"' => i = string(b, i)?,
            b'-' | b'0'..=b'9' => i = number(b, i)?,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            _ => return None,
        }
        // A value ended at i: close containers or go on to the next value.
        loop {
            i = ws(b, i);
            match (depth.checked_sub(1).map(|top| stack[top]), b.get(i)) {
                (None, None) => return Some(()),
                (None, Some(_)) => return None,
                (Some(b'{'), Some(b',')) => {
                    i = key(b, ws(b, i + 1))?;
                    continue 'value;
                }
                (Some(b'['), Some(b',')) => {
                    i = ws(b, i + 1);
                    continue 'value;
                }
                (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => {
                    depth -= 1;
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

/// A member's key and its colon; returns where the value starts.
fn key(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = ws(b, string(b, i)?);
    if b.get(i) != Some(&b':') {
        return None;
    }
    Some(ws(b, i + 1))
}

fn string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    let (start, mut ascii) = (i, true);
    loop {
        match *b.get(i)? {
            b'"' => return (ascii || std::str::from_utf8(&b[start..i]).is_ok()).then_some(i + 1),
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let hex = b.get(i + 2..i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    // Surrogates must pair: leave them to serde_json.
                    if matches!(hex[0], b'd' | b'D') && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F') {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
            0x00..=0x1f => return None,
            c => {
                ascii &= c.is_ascii();
                i += 1;
            }
        }
    }
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn number(b: &[u8], mut i: usize) -> Option<usize> {
    if b[i] == b'-' {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(b, i),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..i + word.len()).filter(|s| *s == word).map(|_| i + word.len())
}

#[cfg(test)]
mod tests {
    use super::surely_valid;

    fn serde_ok(s: &[u8]) -> bool {
        serde_json::from_slice::<serde::de::IgnoredAny>(s).is_ok()
    }

    const CASES: &[&str] = &[
        r#"{"a": 1, "b": [true, false, null], "c": {"d": "e\n\u00e9"}}"#,
        r#"{"sensor_id": 6 "ts": 1}"#,
        r#"{"a": 1,, "b": 2}"#,
        r#"{"a": 1,}"#,
        r#"{, "a": 1}"#,
        r#"[1 2]"#,
        r#"{"a": 1} {"b": 2}"#,
        "not json",
        "\"str\"",
        "-0.5e+10",
        "01",
        "1.",
        ".5",
        "1e",
        "-",
        r#"{"a" 1}"#,
        r#"{"a": tru}"#,
        r#"{"a": "\x"}"#,
        r#"{"a": "\ud800"}"#,
        r#"{"a": "\ud83d\ude00"}"#,
        "{\"a\": \"\u{1}\"}",
        "  {\"a\": []}  \r\n",
        "",
        "   ",
        "[[[[]]]]",
        "{\"a\": 1}x",
        "{\"a\": NaN}",
        "{\"a\": 1.2.3}",
        "{\"a\":1e400}",
    ];

    #[test]
    fn never_accepts_what_serde_json_refuses_and_agrees_on_plain_json() {
        for case in CASES {
            let (ours, theirs) = (surely_valid(case.as_bytes()), serde_ok(case.as_bytes()));
            assert!(!ours || theirs, "accepted invalid {case:?}");
            if !case.contains("\\ud8") {
                assert_eq!(ours, theirs, "{case:?}");
            }
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(!surely_valid(deep.as_bytes()));
        assert!(!surely_valid(b"{\"a\": \"\xff\"}"));
    }

    #[test]
    fn every_mutation_of_a_record_is_judged_no_more_leniently_than_serde_json() {
        let base = br#"{"sensor_id": 6, "ts": "2026-01-01T00:00:00Z", "speed": -61.5e1, "tags": [1, "x\"y", null], "ok": true}"#;
        let alphabet = b"{}[],:\" \\0123456789-+.eEtrufalsn\n\x01";
        for i in 0..base.len() {
            for &c in alphabet {
                let mut m = base.to_vec();
                m[i] = c;
                assert!(!surely_valid(&m) || serde_ok(&m), "accepted invalid {:?}", String::from_utf8_lossy(&m));
                let mut ins = base.to_vec();
                ins.insert(i, c);
                assert!(!surely_valid(&ins) || serde_ok(&ins), "accepted invalid {:?}", String::from_utf8_lossy(&ins));
            }
            let mut del = base.to_vec();
            del.remove(i);
            assert!(!surely_valid(&del) || serde_ok(&del), "accepted invalid {:?}", String::from_utf8_lossy(&del));
        }
    }
}
