//! Where checkpoints are kept: an `object_store` (the crate DataFusion
//! reads its files through), a local directory for a path or `file://`
//! URL.
//!
//! The layout under the directory is one folder per checkpoint,
//! `chk-0000000007/`, holding `state.bin` (every part's bytes, one after
//! the other) and `_manifest.json` (what each part is, where it lies in
//! `state.bin`, and its checksum). The manifest is written last, create-
//! only: a checkpoint without one is incomplete and is never read. On a
//! local disk both files are synced before and after the manifest appears,
//! so a crash of the machine too leaves the previous checkpoint or the
//! new one.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{EngineError, Result};

/// The name of a checkpoint's manifest.
pub(crate) const MANIFEST: &str = "_manifest.json";
/// The name of a checkpoint's state file.
pub(crate) const STATE: &str = "state.bin";

fn error(what: impl std::fmt::Display) -> EngineError {
    EngineError::Checkpoint(what.to_string())
}

/// A checkpoint directory.
pub(crate) struct Store {
    store: Arc<dyn ObjectStore>,
    /// The local directory, for `fsync`.
    local: PathBuf,
    /// What the user wrote, for messages.
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

impl Store {
    /// Opens (and creates) the checkpoint directory `url`: a path or a
    /// `file://` URL.
    pub(crate) fn open(url: &str) -> Result<Self> {
        let local = match url.split_once("://") {
            None => PathBuf::from(url),
            Some(("file", path)) => PathBuf::from(path),
            Some((scheme, _)) => {
                return Err(error(format!(
                    "'{url}': checkpoints are kept in a local directory or a file:// URL; '{scheme}://' stores are not supported yet"
                )));
            }
        };
        std::fs::create_dir_all(&local).map_err(|e| error(format!("creating {}: {e}", local.display())))?;
        let store = LocalFileSystem::new_with_prefix(&local).map_err(|e| error(format!("{url}: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| error(format!("starting the checkpoint store's runtime: {e}")))?;
        Ok(Self { store: Arc::new(store), local, url: url.to_string(), runtime })
    }

    /// The directory as the user wrote it.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn folder(id: u64) -> String {
        format!("chk-{id:010}")
    }

    fn path(id: u64, file: &str) -> Path {
        Path::from(format!("{}/{file}", Self::folder(id)))
    }

    /// The ids of the checkpoints that have a folder, complete or not,
    /// oldest first.
    pub(crate) fn ids(&self) -> Result<Vec<u64>> {
        let listed = self.runtime.block_on(self.store.list_with_delimiter(None)).map_err(|e| error(format!("listing {}: {e}", self.url)))?;
        let mut ids: Vec<u64> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|name| name.strip_prefix("chk-")).and_then(|n| n.parse().ok()))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// A file of checkpoint `id`, or `None` when it is not there.
    pub(crate) fn get(&self, id: u64, file: &str) -> Result<Option<Vec<u8>>> {
        let path = Self::path(id, file);
        let got = self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec())).map_err(|e| error(format!("reading {}/{path}: {e}", self.url)))
    }

    /// Writes a file of checkpoint `id`; `last`: the manifest, which must
    /// not exist yet.
    pub(crate) fn put(&self, id: u64, file: &str, bytes: Vec<u8>, last: bool) -> Result<()> {
        let path = Self::path(id, file);
        let mode = if last { PutMode::Create } else { PutMode::Overwrite };
        let options = PutOptions { mode, ..PutOptions::default() };
        self.runtime
            .block_on(self.store.put_opts(&path, PutPayload::from(bytes), options))
            .map_err(|e| error(format!("writing {}/{path}: {e}", self.url)))?;
        self.sync(id, file)
    }

    /// `fsync`s a written file and its folder (`object_store` renames a
    /// staged file into place but does not sync).
    fn sync(&self, id: u64, file: &str) -> Result<()> {
        let folder = self.local.join(Self::folder(id));
        let sync = |p: &std::path::Path| std::fs::File::open(p).and_then(|f| f.sync_all());
        sync(&folder.join(file))
            .and_then(|_| sync(&folder))
            .map_err(|e| error(format!("syncing {}: {e}", folder.join(file).display())))
    }

    /// Removes checkpoint `id`, manifest first (so a crash in between
    /// leaves an incomplete checkpoint, never a damaged complete one).
    pub(crate) fn remove(&self, id: u64) -> Result<()> {
        for file in [MANIFEST, STATE] {
            match self.runtime.block_on(self.store.delete(&Self::path(id, file))) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(error(format!("removing checkpoint {id} from {}: {e}", self.url))),
            }
        }
        let _ = std::fs::remove_dir(self.local.join(Self::folder(id)));
        Ok(())
    }
}
