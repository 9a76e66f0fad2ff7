//! A checkpoint's manifest: what each part of the state is, where its
//! bytes lie in `state.bin`, and their checksum; and reading a complete
//! checkpoint back, refusing damaged ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::store::{Store, MANIFEST, STATE};
use crate::{EngineError, Result};

/// The manifest format this build writes and reads.
pub(crate) const FORMAT: &str = "weir-checkpoint/1";

/// One participant's state: small metadata kept in the manifest (source
/// positions and watermarks, a sink's length, an operator's watermark) and
/// the operator's encoded state, kept in `state.bin`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    /// Readable metadata.
    pub(crate) meta: serde_json::Value,
    /// The operator's encoding version of `bytes`.
    pub(crate) version: u32,
    /// The operator's state.
    pub(crate) bytes: Vec<u8>,
}

impl Part {
    /// A part with metadata only.
    pub(crate) fn meta(meta: serde_json::Value) -> Self {
        Self { meta, version: 0, bytes: Vec::new() }
    }
}

/// A participant of the checkpoint, as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Entry {
    /// Stable across runs of the same pipeline: kind, statement, position
    /// in the plan, worker.
    pub(crate) id: String,
    /// The statement and operator, in words, for errors.
    pub(crate) what: String,
    /// What its state depends on (the operator's plan line, a connector's
    /// description): a different one cannot take this state.
    pub(crate) signature: String,
    pub(crate) meta: serde_json::Value,
    pub(crate) version: u32,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    /// BLAKE3 of the bytes, hex.
    pub(crate) hash: String,
}

/// A checkpoint's manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) format: String,
    pub(crate) id: u64,
    /// RFC 3339.
    pub(crate) completed_at: String,
    /// How long it took from the request to the manifest, in ms.
    pub(crate) duration_ms: u64,
    pub(crate) workers: usize,
    /// Weir's version.
    pub(crate) weir: String,
    /// The length of `state.bin`.
    pub(crate) bytes: u64,
    pub(crate) parts: Vec<Entry>,
}

/// Who a participant is: its id, description and signature.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Who {
    pub(crate) id: String,
    pub(crate) what: String,
    pub(crate) signature: String,
}

/// Lays out `parts` as `state.bin` and its manifest entries.
pub(crate) fn assemble(parts: &BTreeMap<String, (Who, Part)>) -> (Vec<u8>, Vec<Entry>) {
    let mut state = Vec::new();
    let mut entries = Vec::with_capacity(parts.len());
    for (who, part) in parts.values() {
        let offset = state.len() as u64;
        state.extend_from_slice(&part.bytes);
        entries.push(Entry {
            id: who.id.clone(),
            what: who.what.clone(),
            signature: who.signature.clone(),
            meta: part.meta.clone(),
            version: part.version,
            offset,
            len: part.bytes.len() as u64,
            hash: blake3::hash(&part.bytes).to_hex().to_string(),
        });
    }
    (state, entries)
}

/// A complete checkpoint, read back and verified.
#[derive(Debug)]
pub(crate) struct Restored {
    pub(crate) manifest: Manifest,
    pub(crate) parts: BTreeMap<String, (Entry, Part)>,
}

/// Why a checkpoint cannot be used.
pub(crate) enum Unusable {
    /// No manifest: it never completed (or is being removed).
    Incomplete,
    /// It completed but its files are not what the manifest says.
    Damaged(String),
}

/// Reads checkpoint `id` and checks every part against the manifest.
pub(crate) fn read(store: &Store, id: u64) -> Result<std::result::Result<Restored, Unusable>> {
    let Some(text) = store.get(id, MANIFEST)? else { return Ok(Err(Unusable::Incomplete)) };
    let manifest: Manifest = match serde_json::from_slice(&text) {
        Ok(m) => m,
        Err(e) => return Ok(Err(Unusable::Damaged(format!("its manifest does not parse: {e}")))),
    };
    if manifest.format != FORMAT {
        return Err(EngineError::Checkpoint(format!(
            "checkpoint {id} in {} has the format '{}'; this Weir reads '{FORMAT}'",
            store.url(),
            manifest.format
        )));
    }
    let Some(state) = store.get(id, STATE)? else { return Ok(Err(Unusable::Damaged(format!("{STATE} is missing")))) };
    if state.len() as u64 != manifest.bytes {
        return Ok(Err(Unusable::Damaged(format!("{STATE} is {} bytes, the manifest says {}", state.len(), manifest.bytes))));
    }
    let mut parts = BTreeMap::new();
    for entry in &manifest.parts {
        let range = usize::try_from(entry.offset).ok().zip(usize::try_from(entry.offset.saturating_add(entry.len)).ok());
        let Some(bytes) = range.and_then(|(a, b)| state.get(a..b)) else {
            return Ok(Err(Unusable::Damaged(format!("the state of {} lies outside {STATE}", entry.what))));
        };
        if blake3::hash(bytes).to_hex().as_str() != entry.hash {
            return Ok(Err(Unusable::Damaged(format!("the state of {} does not match its checksum", entry.what))));
        }
        let part = Part { meta: entry.meta.clone(), version: entry.version, bytes: bytes.to_vec() };
        parts.insert(entry.id.clone(), (entry.clone(), part));
    }
    Ok(Ok(Restored { manifest, parts }))
}

/// The newest complete checkpoint in `store` whose parts match their
/// checksums; each damaged one passed over is told to `damaged`.
pub(crate) fn newest(store: &Store, damaged: &dyn Fn(u64, &str)) -> Result<Option<Restored>> {
    for &id in store.ids()?.iter().rev() {
        match read(store, id)? {
            Ok(r) => return Ok(Some(r)),
            Err(Unusable::Incomplete) => {}
            Err(Unusable::Damaged(why)) => damaged(id, &why),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(id: &str) -> Who {
        Who { id: id.into(), what: format!("operator {id}"), signature: "s".into() }
    }

    fn write(store: &Store, id: u64, parts: &BTreeMap<String, (Who, Part)>) {
        let (state, entries) = assemble(parts);
        let manifest = Manifest {
            format: FORMAT.into(),
            id,
            completed_at: String::new(),
            duration_ms: 0,
            workers: 1,
            weir: String::new(),
            bytes: state.len() as u64,
            parts: entries,
        };
        store.put(id, STATE, state, false).unwrap();
        store.put(id, MANIFEST, serde_json::to_vec(&manifest).unwrap(), true).unwrap();
    }

    #[test]
    fn a_checkpoint_reads_back_and_damage_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
        let mut parts = BTreeMap::new();
        parts.insert("a".to_string(), (who("a"), Part { meta: serde_json::json!({"w": 1}), version: 2, bytes: vec![1, 2, 3] }));
        parts.insert("b".to_string(), (who("b"), Part::meta(serde_json::json!(null))));
        parts.insert("c".to_string(), (who("c"), Part { meta: serde_json::json!([]), version: 1, bytes: vec![9; 100] }));
        write(&store, 3, &parts);
        let Ok(Ok(restored)) = read(&store, 3) else { panic!("checkpoint 3 does not read back") };
        for (id, (_, part)) in &parts {
            assert_eq!(&restored.parts[id].1, part);
        }
        assert!(matches!(read(&store, 4), Ok(Err(Unusable::Incomplete))));
        // The manifest is create-only: a second writer of the same id fails.
        assert!(store.put(3, MANIFEST, b"{}".to_vec(), true).is_err());
        // A flipped byte, then a truncated file.
        let state = dir.path().join("chk-0000000003").join(STATE);
        let mut bytes = std::fs::read(&state).unwrap();
        bytes[50] ^= 1;
        std::fs::write(&state, &bytes).unwrap();
        assert!(matches!(read(&store, 3), Ok(Err(Unusable::Damaged(m))) if m.contains("operator c")));
        std::fs::write(&state, &bytes[..10]).unwrap();
        assert!(matches!(read(&store, 3), Ok(Err(Unusable::Damaged(m))) if m.contains("bytes")));
        assert_eq!(store.ids().unwrap(), vec![3]);
        store.remove(3).unwrap();
        assert_eq!(store.ids().unwrap(), Vec::<u64>::new());
    }
}
