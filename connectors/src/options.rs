//! Connector options (`WITH ('key' = 'value', ...)`), read once and checked.
//!
//! Every connector declares its options as a table of [`OptionSpec`]s: the
//! key, the default and a one-line description. The same table validates a
//! pipeline (unknown keys are errors, with a "did you mean"), fills defaults,
//! and is printed by `weir connectors`, so the documentation of an option
//! comes from the place that implements it.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::{ConnectorError, Result};

/// One option a connector accepts.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The key, as written in `WITH (...)`.
    pub key: &'static str,
    /// The default, or `None` when the option is required or has no default.
    pub default: Option<&'static str>,
    /// What the option does.
    pub doc: &'static str,
}

/// Reads a connector's options against its [`OptionSpec`] table.
#[derive(Debug)]
pub struct OptionReader<'a> {
    connector: &'a str,
    specs: &'static [OptionSpec],
    given: &'a BTreeMap<String, String>,
}

impl<'a> OptionReader<'a> {
    /// Checks that every given key is one the connector accepts.
    ///
    /// `connector` and `format` are accepted by every connector and are not
    /// listed in `specs`.
    pub fn new(
        connector: &'a str,
        specs: &'static [OptionSpec],
        given: &'a BTreeMap<String, String>,
    ) -> Result<Self> {
        for key in given.keys() {
            if key == "connector" || specs.iter().any(|s| s.key == key) {
                continue;
            }
            let known: Vec<&str> = specs.iter().map(|s| s.key).collect();
            let hint = match closest(key, &known) {
                Some(k) => format!("; did you mean '{k}'?"),
                None if known.is_empty() => " (it takes none)".to_string(),
                None => format!(" (it takes: {})", known.join(", ")),
            };
            return Err(ConnectorError::UnknownOption {
                connector: connector.to_string(),
                key: key.clone(),
                hint,
            });
        }
        Ok(Self { connector, specs, given })
    }

    fn spec(&self, key: &str) -> Option<&'static OptionSpec> {
        self.specs.iter().find(|s| s.key == key)
    }

    /// The raw value, or the option's default.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.given
            .get(key)
            .map(String::as_str)
            .or_else(|| self.spec(key).and_then(|s| s.default))
    }

    /// The value of a required option.
    pub fn required(&self, key: &str) -> Result<&str> {
        self.get(key).ok_or_else(|| ConnectorError::MissingOption {
            connector: self.connector.to_string(),
            key: key.to_string(),
            doc: self.spec(key).map(|s| s.doc).unwrap_or("").to_string(),
        })
    }

    /// Parses an option with `FromStr`; `expected` describes valid values.
    pub fn parse<T: FromStr>(&self, key: &str, expected: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| self.invalid(key, v, expected)),
        }
    }

    /// Parses a boolean option (`true`/`false`).
    pub fn flag(&self, key: &str) -> Result<bool> {
        match self.get(key) {
            None => Ok(false),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.invalid(key, v, "'true' or 'false'")),
            },
        }
    }

    /// Picks one of a fixed set of words.
    pub fn choice(&self, key: &str, choices: &[&'static str]) -> Result<Option<&'static str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let lower = v.trim().to_ascii_lowercase();
                choices
                    .iter()
                    .copied()
                    .find(|c| *c == lower)
                    .map(Some)
                    .ok_or_else(|| self.invalid(key, v, &format!("one of {}", quoted(choices))))
            }
        }
    }

    /// An `InvalidOption` error for this connector.
    pub fn invalid(&self, key: &str, value: &str, expected: &str) -> ConnectorError {
        ConnectorError::InvalidOption {
            connector: self.connector.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// `'a', 'b' or 'c'`.
pub(crate) fn quoted(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => format!("'{one}'"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|w| format!("'{w}'")).collect();
            format!("{} or '{last}'", init.join(", "))
        }
    }
}

/// The known word closest to `word`, when it is a plausible typo.
pub fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec { key: "path", default: None, doc: "the file" },
        OptionSpec { key: "rate", default: Some("10"), doc: "events/s" },
    ];

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let given = map(&[("pth", "x")]);
        let err = OptionReader::new("file", SPECS, &given).unwrap_err();
        assert_eq!(err.to_string(), "connector 'file' has no option 'pth'; did you mean 'path'?");
    }

    #[test]
    fn defaults_and_parsing() -> Result<()> {
        let given = map(&[("path", "a.json")]);
        let r = OptionReader::new("file", SPECS, &given)?;
        assert_eq!(r.required("path")?, "a.json");
        assert_eq!(r.parse::<u32>("rate", "a number")?, Some(10));
        let bad = map(&[("path", "a"), ("rate", "fast")]);
        let r = OptionReader::new("file", SPECS, &bad)?;
        assert_eq!(
            r.parse::<u32>("rate", "a whole number").unwrap_err().to_string(),
            "option 'rate' of connector 'file' is 'fast', expected a whole number"
        );
        Ok(())
    }
}
