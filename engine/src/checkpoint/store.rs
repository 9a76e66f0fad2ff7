//! Where checkpoints are kept: an `object_store` (the crate DataFusion
//! reads its files through), a local directory for a path or `file://`
//! URL, an S3-compatible store for `s3://bucket/prefix`.
//!
//! The layout under the directory is one folder per checkpoint,
//! `chk-0000000007/`, holding `state.bin` (every part's bytes, one after
//! the other) and `_manifest.json` (what each part is, where it lies in
//! `state.bin`, and its checksum). The manifest is written last, create-
//! only: a checkpoint without one is incomplete and is never read. On a
//! local disk both files are synced before and after the manifest appears,
//! so a crash of the machine too leaves the previous checkpoint or the
//! new one. On S3 a put is atomic and the manifest's is conditional
//! (`If-None-Match: *`), so the same holds there.
//!
//! An S3 store is configured from the `AWS_*` environment variables (as
//! every AWS tool is), then from the pipeline's `SET 's3.…'` keys
//! ([`S3_KEYS`]), which win. Requests are retried a few times and for at
//! most [`S3_RETRY`], so a store that stops answering fails the checkpoint
//! (counted, and the run goes on) instead of holding the run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};

use crate::{EngineError, Result};

/// The name of a checkpoint's manifest.
pub(crate) const MANIFEST: &str = "_manifest.json";
/// The name of a checkpoint's state file.
pub(crate) const STATE: &str = "state.bin";

/// The `SET` keys of an S3 checkpoint store (Flink's names where Flink
/// has one), with what they mean.
pub const S3_KEYS: &[(&str, &str)] = &[
    ("s3.endpoint", "an S3-compatible endpoint for 's3://' checkpoint directories ('http://127.0.0.1:9000'); AWS's when unset"),
    ("s3.region", "the S3 region (default: AWS_REGION, or us-east-1)"),
    ("s3.access-key", "the S3 access key id (default: AWS_ACCESS_KEY_ID)"),
    ("s3.secret-key", "the S3 secret access key (default: AWS_SECRET_ACCESS_KEY)"),
    ("s3.session-token", "an S3 session token for temporary credentials (default: AWS_SESSION_TOKEN)"),
    ("s3.path.style.access", "'true' (default): bucket in the path (endpoint/bucket/key); 'false': virtual-hosted (bucket.endpoint/key)"),
];

/// How long one S3 request is retried at most.
pub const S3_RETRY: Duration = Duration::from_secs(20);

/// Checks one `SET 's3.…'` value; `Err` says what is wrong.
pub(crate) fn check_s3_option(key: &str, value: &str) -> std::result::Result<(), String> {
    match key {
        "s3.path.style.access" => match value.trim() {
            "true" | "false" => Ok(()),
            other => Err(format!("'{key}' is 'true' or 'false', not '{other}'")),
        },
        "s3.endpoint" if !(value.starts_with("http://") || value.starts_with("https://")) => {
            Err(format!("'{key}' is an http:// or https:// URL, not '{value}'"))
        }
        _ if value.trim().is_empty() => Err(format!("'{key}' is empty")),
        _ => Ok(()),
    }
}

fn error(what: impl std::fmt::Display) -> EngineError {
    EngineError::Checkpoint(what.to_string())
}

/// A checkpoint directory.
pub(crate) struct Store {
    store: Arc<dyn ObjectStore>,
    /// The local directory, for `fsync`; `None` on S3.
    local: Option<PathBuf>,
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
    /// `file://` URL, or `s3://bucket/prefix` configured by `options`
    /// (the `s3.*` keys) over the `AWS_*` environment.
    pub(crate) fn open(url: &str, options: &BTreeMap<String, String>) -> Result<Self> {
        let (store, local): (Arc<dyn ObjectStore>, Option<PathBuf>) = match url.split_once("://") {
            None => Self::local(url, PathBuf::from(url))?,
            Some(("file", path)) => Self::local(url, PathBuf::from(path))?,
            Some(("s3" | "s3a", rest)) => (s3(url, rest, options)?, None),
            Some((scheme, _)) => {
                return Err(error(format!("'{url}': checkpoints are kept in a local directory, a file:// URL or s3://bucket/prefix, not in '{scheme}://'")));
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| error(format!("starting the checkpoint store's runtime: {e}")))?;
        Ok(Self { store, local, url: url.to_string(), runtime })
    }

    fn local(url: &str, local: PathBuf) -> Result<(Arc<dyn ObjectStore>, Option<PathBuf>)> {
        std::fs::create_dir_all(&local).map_err(|e| error(format!("creating {}: {e}", local.display())))?;
        let store = LocalFileSystem::new_with_prefix(&local).map_err(|e| error(format!("{url}: {e}")))?;
        Ok((Arc::new(store), Some(local)))
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
    /// staged file into place but does not sync); nothing to do on S3.
    fn sync(&self, id: u64, file: &str) -> Result<()> {
        let Some(local) = &self.local else { return Ok(()) };
        let folder = local.join(Self::folder(id));
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
        if let Some(local) = &self.local {
            let _ = std::fs::remove_dir(local.join(Self::folder(id)));
        }
        Ok(())
    }
}

/// The store for `s3://<rest>`: `rest` is the bucket, then an optional
/// prefix under which the checkpoint folders lie.
fn s3(url: &str, rest: &str, options: &BTreeMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(error(format!("'{url}' names no bucket: write s3://bucket/prefix")));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_retry(RetryConfig {
        max_retries: 3,
        retry_timeout: S3_RETRY,
        ..RetryConfig::default()
    });
    for (key, value) in options {
        check_s3_option(key, value).map_err(|why| error(format!("{url}: {why}")))?;
        let value = value.trim();
        builder = match key.as_str() {
            "s3.endpoint" => builder.with_endpoint(value).with_allow_http(value.starts_with("http://")),
            "s3.region" => builder.with_region(value),
            "s3.access-key" => builder.with_access_key_id(value),
            "s3.secret-key" => builder.with_secret_access_key(value),
            "s3.session-token" => builder.with_token(value),
            "s3.path.style.access" => builder.with_virtual_hosted_style_request(value == "false"),
            other => return Err(error(format!("{url}: unknown S3 option '{other}'"))),
        };
    }
    let store = builder.build().map_err(|e| error(format!("{url}: {e}")))?;
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() { Arc::new(store) } else { Arc::new(PrefixStore::new(store, prefix)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_s3_url_needs_a_bucket_and_other_schemes_are_refused() {
        let none = BTreeMap::new();
        let e = Store::open("s3:///prefix", &none).unwrap_err().to_string();
        assert!(e.contains("names no bucket"), "{e}");
        let e = Store::open("gs://bucket/x", &none).unwrap_err().to_string();
        assert!(e.contains("not in 'gs://'"), "{e}");
    }

    #[test]
    fn s3_options_are_checked() {
        let e = Store::open("s3://b/p", &options(&[("s3.path.style.access", "yes")])).unwrap_err().to_string();
        assert!(e.contains("'true' or 'false'"), "{e}");
        let e = Store::open("s3://b/p", &options(&[("s3.endpoint", "127.0.0.1:9000")])).unwrap_err().to_string();
        assert!(e.contains("http:// or https://"), "{e}");
        // Opening makes no request: a store that is not there fails on
        // first use, with its URL in the message.
        let store = Store::open(
            "s3://b/p/",
            &options(&[("s3.endpoint", "http://127.0.0.1:9"), ("s3.access-key", "k"), ("s3.secret-key", "s"), ("s3.region", "r")]),
        )
        .unwrap();
        assert!(store.local.is_none());
        assert_eq!(store.url(), "s3://b/p/");
    }
}
