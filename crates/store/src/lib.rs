//! The object store under platctl: `file:///abs/path` or `s3://bucket[/prefix]`.
//!
//! A thin layer over the `object_store` crate that adds what state safety needs:
//! create-only writes that report "already exists" instead of overwriting, and
//! a probe that proves the store really enforces them. Locking on a store that
//! silently accepts a second create would be last-writer-wins, so callers must
//! run [`Store::ensure_conditional_create`] before their first lock.
//!
//! Keys are `/`-separated and relative to the store's prefix.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ClientConfigKey;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "invalid store URL {url:?}: {reason}. Use file:///absolute/path or s3://bucket[/prefix]"
    )]
    InvalidUrl { url: String, reason: String },
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error(
        "store {store} does not enforce create-only writes: a second create of {key} succeeded \
         (the store ignores If-None-Match). Locking on it would be last-writer-wins, so platctl \
         refuses to lock. Use a store that honours conditional writes (Linode Object Storage, \
         SeaweedFS, MinIO, AWS S3) or fix the proxy in front of it"
    )]
    Unsafe { store: String, key: String },
    /// The store answered with an error or could not be reached. `message` is
    /// the error chain with every URL replaced by `<url>`: a presigned URL
    /// carries a credential and a signature, and even a plain one does not
    /// belong in a response or a log line.
    #[error("store {store}: {op} {key}: {message}")]
    Backend { store: String, op: &'static str, key: String, message: String },
    #[error("cannot create local store directory {path}: {source}")]
    LocalDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which kind of backend a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    File,
    S3,
}

/// One object read from the store.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub e_tag: Option<String>,
    pub last_modified: time::OffsetDateTime,
}

/// One entry of a listing.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Key relative to the store prefix.
    pub key: String,
    pub size: u64,
    pub last_modified: time::OffsetDateTime,
}

/// Result of a create-only write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExists,
}

/// What a HEAD found: the object's size and version, without its content.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    pub size: u64,
    pub e_tag: Option<String>,
    pub last_modified: time::OffsetDateTime,
}

/// Result of a write conditional on the object's ETag (`If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalPut {
    Written,
    /// The object changed (or is gone) since the ETag was taken: nothing was written.
    Mismatch,
    /// This store cannot write conditionally (a file store, or an S3 store whose
    /// probe showed it ignores `If-Match` on PUT): nothing was sent.
    Unsupported,
}

/// Result of a delete conditional on the object's ETag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalDelete {
    Deleted,
    /// The object changed (or is gone) since the ETag was taken: nothing was deleted.
    Mismatch,
    /// This store cannot delete conditionally (a file store, or an S3 store whose
    /// probe showed it ignores `If-Match` on DELETE): nothing was sent.
    Unsupported,
}

/// What `probe` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeReport {
    pub store: String,
    pub conditional_create_enforced: bool,
    /// Whether a DELETE with a stale `If-Match` ETag is refused. Optional:
    /// without it an unlock reads the lock to check its ID before deleting.
    pub conditional_delete_enforced: bool,
    /// Whether a PUT with a stale `If-Match` ETag is refused (and one with the
    /// current ETag accepted). Optional: without it, state writes are
    /// serialised per env only inside one process.
    pub conditional_update_enforced: bool,
    pub probe_key: String,
    pub elapsed_ms: u64,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    display: String,
    kind: StoreKind,
    prefix: Option<Path>,
    local_root: Option<PathBuf>,
    /// The typed S3 client (for presigned conditional DELETEs) and a plain
    /// HTTP client to send them, built on first use.
    s3: Option<(Arc<AmazonS3>, Arc<std::sync::OnceLock<reqwest::Client>>)>,
    probed: Arc<OnceCell<Capabilities>>,
}

/// What the one-time probe established about a store.
#[derive(Debug, Clone, Copy)]
struct Capabilities {
    conditional_delete: bool,
    conditional_update: bool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.display).finish()
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl Store {
    /// Open a store from its URL. S3 settings come from the standard AWS_*
    /// environment variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP).
    pub fn open(url: &str) -> Result<Store> {
        let invalid = |reason: &str| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(invalid("a file store needs an absolute path (file:///abs/path)"));
            }
            return Store::open_local(FsPath::new(rest));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("missing bucket name"));
            }
            let prefix = prefix.trim_matches('/');
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if builder
                .get_config_value(&AmazonS3ConfigKey::Endpoint)
                .is_some_and(|e| e.starts_with("http://"))
            {
                // No TLS on a plain-http endpoint: skip loading the system's CA roots (milliseconds per run).
                builder = builder.with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::NoSystemCertificates),
                    "true",
                );
            }
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                // Linode ignores the signing region's value but needs one; fr-par is our default.
                builder = builder.with_region("fr-par");
            }
            let s3 = builder.build().map_err(|e| invalid(&e.to_string()))?;
            return Store::s3(s3, bucket, prefix).map_err(|e| invalid(&e));
        }
        Err(invalid("unknown scheme"))
    }

    /// An S3 store from a built client; `prefix` may be empty.
    pub fn s3(s3: AmazonS3, bucket: &str, prefix: &str) -> std::result::Result<Store, String> {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            None
        } else {
            Some(Path::parse(prefix).map_err(|e| format!("bad prefix: {e}"))?)
        };
        let s3 = Arc::new(s3);
        Ok(Store {
            inner: s3.clone(),
            display: format!(
                "s3://{bucket}{}",
                prefix.as_ref().map(|p| format!("/{p}")).unwrap_or_default()
            ),
            kind: StoreKind::S3,
            prefix,
            local_root: None,
            s3: Some((s3, Arc::default())),
            probed: Arc::default(),
        })
    }

    /// Open (creating if needed) a local directory store.
    pub fn open_local(dir: &FsPath) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::LocalDir { path: dir.to_owned(), source })?;
        let dir = dir
            .canonicalize()
            .map_err(|source| StoreError::LocalDir { path: dir.to_owned(), source })?;
        let fs = LocalFileSystem::new_with_prefix(&dir).map_err(|e| StoreError::InvalidUrl {
            url: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Store {
            inner: Arc::new(fs.with_automatic_cleanup(true)),
            display: format!("file://{}", dir.display()),
            kind: StoreKind::File,
            prefix: None,
            local_root: Some(dir),
            s3: None,
            probed: Arc::default(),
        })
    }

    /// Wrap any object store (tests use this to put a proxy in between).
    pub fn from_object_store(
        inner: Arc<dyn ObjectStore>,
        display: impl Into<String>,
        kind: StoreKind,
    ) -> Store {
        Store {
            inner,
            display: display.into(),
            kind,
            prefix: None,
            local_root: None,
            s3: None,
            probed: Arc::default(),
        }
    }

    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The root directory of a file store.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    pub fn url(&self) -> &str {
        &self.display
    }

    fn path(&self, key: &str) -> Result<Path> {
        let rel = Path::parse(key)
            .map_err(|e| StoreError::InvalidKey { key: key.to_owned(), reason: e.to_string() })?;
        Ok(match &self.prefix {
            Some(p) => p.parts().chain(rel.parts()).collect(),
            None => rel,
        })
    }

    fn relative(&self, path: &Path) -> String {
        match &self.prefix {
            Some(p) => path
                .prefix_match(p)
                .map(|parts| parts.map(|s| s.as_ref().to_owned()).collect::<Vec<_>>().join("/"))
                .unwrap_or_else(|| path.to_string()),
            None => path.to_string(),
        }
    }

    fn backend(&self, op: &'static str, key: &str, source: object_store::Error) -> StoreError {
        self.failure(op, key, &error_chain(&source))
    }

    /// A [`StoreError::Backend`] whose message can never carry a URL.
    fn failure(&self, op: &'static str, key: &str, message: &str) -> StoreError {
        StoreError::Backend {
            store: self.display.clone(),
            op,
            key: key.to_owned(),
            message: strip_urls(message),
        }
    }

    /// Read an object; `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Object>> {
        let path = self.path(key)?;
        match self.inner.get(&path).await {
            Ok(result) => {
                let meta = result.meta.clone();
                let bytes = result.bytes().await.map_err(|e| self.backend("read", key, e))?;
                Ok(Some(Object {
                    bytes,
                    e_tag: meta.e_tag,
                    last_modified: to_time(meta.last_modified),
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend("get", key, e)),
        }
    }

    /// Whether an object exists (a HEAD: no body is transferred).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.head(key).await?.is_some())
    }

    /// An object's size and version (a HEAD: no body is transferred); `None`
    /// when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let path = self.path(key)?;
        match self.inner.head(&path).await {
            Ok(meta) => Ok(Some(ObjectMeta {
                size: meta.size,
                e_tag: meta.e_tag,
                last_modified: to_time(meta.last_modified),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend("head", key, e)),
        }
    }

    /// Write an object, replacing any previous one atomically.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(key)?;
        self.inner
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| self.backend("put", key, e))?;
        Ok(())
    }

    /// Write an object only if no object exists at the key.
    pub async fn create(&self, key: &str, bytes: Bytes) -> Result<Created> {
        self.create_tagged(key, bytes).await.map(|(created, _)| created)
    }

    /// [`Store::create`], also returning the new object's ETag when the store gives one.
    pub async fn create_tagged(
        &self,
        key: &str,
        bytes: Bytes,
    ) -> Result<(Created, Option<String>)> {
        let path = self.path(key)?;
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.inner.put_opts(&path, PutPayload::from_bytes(bytes), opts).await {
            Ok(result) => Ok((Created::Created, result.e_tag)),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok((Created::AlreadyExists, None)),
            Err(e) => Err(self.backend("create", key, e)),
        }
    }

    /// Replace an object only if its ETag is still `e_tag` (`If-Match`), in one
    /// request. Only on a store whose probe showed it honours the header;
    /// otherwise [`ConditionalPut::Unsupported`] and nothing is sent.
    pub async fn put_if_match(
        &self,
        key: &str,
        bytes: Bytes,
        e_tag: &str,
    ) -> Result<ConditionalPut> {
        if !self.conditional_update() {
            return Ok(ConditionalPut::Unsupported);
        }
        self.send_put_if_match(key, bytes, e_tag).await.map(|(outcome, _)| outcome)
    }

    /// The conditional PUT itself, with no capability check (the probe uses it).
    async fn send_put_if_match(
        &self,
        key: &str,
        bytes: Bytes,
        e_tag: &str,
    ) -> Result<(ConditionalPut, Option<String>)> {
        if self.s3.is_none() {
            return Ok((ConditionalPut::Unsupported, None));
        }
        let path = self.path(key)?;
        let version = UpdateVersion { e_tag: Some(e_tag.to_owned()), version: None };
        let opts = PutOptions { mode: PutMode::Update(version), ..PutOptions::default() };
        match self.inner.put_opts(&path, PutPayload::from_bytes(bytes), opts).await {
            Ok(result) => Ok((ConditionalPut::Written, result.e_tag)),
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => Ok((ConditionalPut::Mismatch, None)),
            Err(e) => Err(self.backend("put", key, e)),
        }
    }

    /// Whether [`Store::put_if_match`] is available (known once the probe ran).
    pub fn conditional_update(&self) -> bool {
        self.probed.get().is_some_and(|c| c.conditional_update)
    }

    /// Delete an object only if its ETag is still `e_tag` (`If-Match`), in one
    /// request. Only on a store whose probe showed it honours the header;
    /// otherwise [`ConditionalDelete::Unsupported`] and nothing is sent.
    pub async fn delete_if_match(&self, key: &str, e_tag: &str) -> Result<ConditionalDelete> {
        let proven = self.probed.get().is_some_and(|c| c.conditional_delete);
        if !proven {
            return Ok(ConditionalDelete::Unsupported);
        }
        self.send_delete_if_match(key, e_tag).await
    }

    /// The conditional DELETE itself, with no capability check (the probe uses it).
    async fn send_delete_if_match(&self, key: &str, e_tag: &str) -> Result<ConditionalDelete> {
        let Some((s3, http)) = &self.s3 else { return Ok(ConditionalDelete::Unsupported) };
        let path = self.path(key)?;
        // object_store has no conditional DELETE; a presigned URL carries the
        // signature and the If-Match header rides along unsigned.
        // The URL carries a credential and a signature: it never goes into an
        // error (reqwest's errors name their URL, hence `without_url`).
        let url = s3
            .signed_url(http::Method::DELETE, &path, std::time::Duration::from_secs(60))
            .await
            .map_err(|e| self.backend("sign delete", key, e))?;
        let http = match http.get() {
            Some(client) => client,
            None => {
                let mut builder =
                    reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
                if url.scheme() == "http" {
                    builder = builder.tls_certs_only(std::iter::empty());
                }
                let client = builder.build().map_err(|e| {
                    let e = e.without_url();
                    self.failure("delete", key, &format!("cannot build the HTTP client: {e}"))
                })?;
                http.get_or_init(|| client)
            }
        };
        let response = http
            .delete(url)
            .header(reqwest::header::IF_MATCH, e_tag)
            .send()
            .await
            .map_err(|e| self.failure("delete", key, &error_chain(&e.without_url())))?;
        match response.status().as_u16() {
            200..=299 => Ok(ConditionalDelete::Deleted),
            404 | 412 => Ok(ConditionalDelete::Mismatch),
            status => {
                let body = response.text().await.unwrap_or_default();
                Err(self.failure(
                    "delete",
                    key,
                    &format!("HTTP {status}: {}", body.chars().take(300).collect::<String>()),
                ))
            }
        }
    }

    /// Whether [`Store::delete_if_match`] is available (known once the probe ran).
    pub fn conditional_delete(&self) -> bool {
        self.probed.get().is_some_and(|c| c.conditional_delete)
    }

    /// Delete an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend("delete", key, e)),
        }
    }

    /// Every object under `prefix` (recursive).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Entry>> {
        let path = self.path(prefix)?;
        let metas: Vec<_> = self
            .inner
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(|e| self.backend("list", prefix, e))?;
        Ok(metas
            .into_iter()
            .map(|m| Entry {
                key: self.relative(&m.location),
                size: m.size,
                last_modified: to_time(m.last_modified),
            })
            .collect())
    }

    /// The immediate "directories" under `prefix` (empty = the store root).
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let path = if prefix.is_empty() { self.prefix.clone() } else { Some(self.path(prefix)?) };
        let listing = self
            .inner
            .list_with_delimiter(path.as_ref())
            .await
            .map_err(|e| self.backend("list", prefix, e))?;
        Ok(listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect())
    }

    /// Prove that the store refuses a second create of the same key, and find
    /// out whether it also refuses a PUT and a DELETE whose `If-Match` ETag is
    /// stale. Always talks to the store; see
    /// [`Store::ensure_conditional_create`] for the cached form.
    pub async fn probe(&self) -> Result<ProbeReport> {
        const STALE: &str = "\"00000000000000000000000000000000\"";
        let started = std::time::Instant::now();
        let key = format!("_platctl/probe/{}", uuid::Uuid::new_v4());
        let (first, e_tag) = self.create_tagged(&key, Bytes::from_static(b"first")).await?;
        let second = self.create(&key, Bytes::from_static(b"second")).await;
        let mut cleaned_up = false;
        let (mut conditional_update, mut conditional_delete) = (false, false);
        if let (Ok(_), Some(e_tag)) = (&second, e_tag)
            && self.s3.is_some()
        {
            // A PUT with a stale ETag must be refused, one with the right ETag
            // accepted (which also proves the object survived the refusal).
            let stale = self.send_put_if_match(&key, Bytes::from_static(b"stale"), STALE).await;
            let right = self.send_put_if_match(&key, Bytes::from_static(b"third"), &e_tag).await;
            conditional_update = matches!(stale, Ok((ConditionalPut::Mismatch, _)))
                && matches!(right, Ok((ConditionalPut::Written, Some(_))));
            let e_tag = match right {
                Ok((ConditionalPut::Written, Some(new))) => new,
                _ => self.head(&key).await?.and_then(|m| m.e_tag).unwrap_or(e_tag),
            };
            // The same for DELETE; the one with the right ETag cleans up.
            let stale = self.send_delete_if_match(&key, STALE).await;
            let right = self.send_delete_if_match(&key, &e_tag).await;
            cleaned_up = matches!(right, Ok(ConditionalDelete::Deleted));
            conditional_delete = matches!(stale, Ok(ConditionalDelete::Mismatch)) && cleaned_up;
        }
        // Clean up whatever happened before judging.
        let cleanup = if cleaned_up { Ok(()) } else { self.delete(&key).await };
        let second = second?;
        cleanup?;
        let enforced = first == Created::Created && second == Created::AlreadyExists;
        Ok(ProbeReport {
            store: self.display.clone(),
            conditional_create_enforced: enforced,
            conditional_delete_enforced: enforced && conditional_delete,
            conditional_update_enforced: enforced && conditional_update,
            probe_key: key,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Run the probe once per `Store` (and its clones); error if not enforced.
    pub async fn ensure_conditional_create(&self) -> Result<()> {
        self.probed
            .get_or_try_init(|| async {
                let report = self.probe().await?;
                if report.conditional_create_enforced {
                    tracing::debug!(
                        store = %self.display,
                        conditional_delete = report.conditional_delete_enforced,
                        conditional_update = report.conditional_update_enforced,
                        "conditional create enforced"
                    );
                    Ok(Capabilities {
                        conditional_delete: report.conditional_delete_enforced,
                        conditional_update: report.conditional_update_enforced,
                    })
                } else {
                    Err(StoreError::Unsafe { store: self.display.clone(), key: report.probe_key })
                }
            })
            .await
            .map(|_| ())
    }
}

fn to_time(t: chrono::DateTime<chrono::Utc>) -> time::OffsetDateTime {
    let nanos = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// An error and its sources, each once, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let m = inner.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = inner.source();
    }
    out
}

/// Replace every `http://` or `https://` URL in `text` by `<url>`. Store
/// errors name the request they failed on; its URL may be presigned (a
/// credential and a signature in the query), and none belongs in a response
/// or a log line. The store itself is named by its `s3://` URL instead.
pub fn strip_urls(text: &str) -> String {
    // ASCII lowercasing keeps every byte offset, so offsets found in `lower` cut `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(start) =
        ["http://", "https://"].iter().filter_map(|s| lower[pos..].find(s)).min().map(|i| pos + i)
    {
        out.push_str(&text[pos..start]);
        out.push_str("<url>");
        pos = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '<' | '>'))
            .map_or(text.len(), |end| start + end);
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_never_survive_an_error_message() {
        let presigned = "error sending request for url (http://127.0.0.1:8333/b/k.tflock?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=abc123): connection closed";
        let clean = strip_urls(presigned);
        assert_eq!(clean, "error sending request for url (<url>): connection closed");
        assert_eq!(
            strip_urls("Error performing PUT HTTPS://x.example/a in 3ms, then https://y/b"),
            "Error performing PUT <url> in 3ms, then <url>"
        );
        assert_eq!(
            strip_urls("no url here: s3://bucket/prefix"),
            "no url here: s3://bucket/prefix"
        );
    }
}
