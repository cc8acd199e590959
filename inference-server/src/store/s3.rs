//! Model packages in S3-compatible storage (MinIO, SeaweedFS, AWS S3): `s3://bucket/prefix`
//! holds one folder per package. Downloads are cached on local disk, so a restart, or a load
//! while the store is down, is served from the cache; the checksum in `model.json` is verified
//! by the model manager either way. Every request is timed and counted under
//! `dependency="storage"`.

use super::{check_pinned, valid_name, BoxFuture, ModelStore, StoreError, StoreHealth};
use crate::package::PackageFiles;
use crate::telemetry::dependency::{Dependency, Outcome};
use crate::telemetry::Metrics;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use serde::Serialize;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the packages are and how to reach them.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `s3://bucket/prefix`.
    pub uri: String,
    /// Endpoint of an S3-compatible server (path-style addressing); `None` for AWS.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Local directory for downloaded packages.
    pub cache_dir: PathBuf,
    /// Largest package downloaded, from the listing's sizes before any byte is fetched.
    pub max_package_bytes: u64,
}

/// Sync a directory, so the names written into it survive a crash.
async fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

/// Split `s3://bucket/prefix` into bucket and prefix.
pub fn parse_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = !bucket.is_empty()
        && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    ok.then(|| (bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// What `/storage/health` reports.
#[derive(Debug, Clone, Serialize)]
pub struct StorageHealth {
    /// `ok` or `down`.
    pub status: &'static str,
    /// The store.
    pub uri: String,
    /// The server answered.
    pub reachable: bool,
    /// Listing the bucket prefix worked.
    pub bucket_readable: bool,
    /// Round-trip time of the check.
    pub latency_ms: f64,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The S3 model store.
pub struct S3Store {
    store: AmazonS3,
    prefix: String,
    config: S3Config,
    metrics: Arc<Metrics>,
    health: Dependency,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("uri", &self.config.uri).finish_non_exhaustive()
    }
}

fn store_err(path: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { path: path.to_string(), reason: e.to_string() }
}

impl S3Store {
    /// A store for `config`; credentials come from the environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`).
    pub fn new(config: S3Config, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        let (bucket, prefix) = parse_uri(&config.uri)
            .ok_or_else(|| store_err(&config.uri, "the model store URI must look like s3://bucket/prefix"))?;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(config.region.clone())
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
            })
            .with_client_options(
                ClientOptions::new().with_connect_timeout(Duration::from_secs(2)).with_timeout(Duration::from_secs(60)),
            );
        if let Some(e) = &config.endpoint {
            b = b
                .with_endpoint(e.clone())
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(|e| store_err(&config.uri, e))?;
        let health = Dependency::new("storage", metrics.clone());
        Ok(Self { store, prefix, config, metrics, health })
    }

    /// Write every file of `package` into `folder` under the prefix (the packager's
    /// `--upload`): `model.json` last, so a reader never sees a `model.json` whose files are
    /// not there yet.
    pub async fn upload(&self, folder: &str, package: &PackageFiles) -> Result<(), StoreError> {
        let mut files: Vec<(&String, &Vec<u8>)> = package.files.iter().collect();
        files.sort_by_key(|(name, _)| name.as_str() == "model.json");
        for (name, bytes) in files {
            let key = self.key(&format!("{folder}/{name}"));
            self.timed("put", self.store.put(&key, bytes.clone().into()))
                .await
                .map_err(|e| store_err(&format!("{}/{folder}/{name}", self.config.uri), e))?;
        }
        Ok(())
    }

    fn key(&self, rest: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(rest)
        } else {
            ObjPath::from(format!("{}/{rest}", self.prefix))
        }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        let start = Instant::now();
        let r = fut.await;
        let outcome = match &r {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Outcome::Ok,
            Err(_) => Outcome::Unreachable,
        };
        self.health.record(op, start, outcome);
        r
    }

    /// Check the store: list one key under the prefix.
    pub async fn check(&self) -> StorageHealth {
        let start = Instant::now();
        let prefix = self.key("");
        let result = self.timed("list", async { self.store.list(Some(&prefix)).try_next().await.map(|_| ()) }).await;
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        let (reachable, readable, error) = match result {
            Ok(()) => (true, true, None),
            Err(
                object_store::Error::PermissionDenied { source, .. }
                | object_store::Error::Unauthenticated { source, .. },
            ) => (true, false, Some(source.to_string())),
            Err(e) => (false, false, Some(e.to_string())),
        };
        StorageHealth {
            status: if readable { "ok" } else { "down" },
            uri: self.config.uri.clone(),
            reachable,
            bucket_readable: readable,
            latency_ms,
            error,
        }
    }

    fn cache_dir(&self, name: &str) -> PathBuf {
        self.config.cache_dir.join(name)
    }

    async fn read_cache(&self, name: &str) -> Option<PackageFiles> {
        let mut dir = tokio::fs::read_dir(self.cache_dir(name)).await.ok()?;
        let mut p = PackageFiles::default();
        while let Ok(Some(e)) = dir.next_entry().await {
            let file = e.file_name().to_string_lossy().into_owned();
            p.files.insert(file, tokio::fs::read(e.path()).await.ok()?);
        }
        p.files.contains_key("model.json").then_some(p)
    }

    /// Write a package to the cache durably and atomically: files written and synced in a
    /// temporary folder, the folder synced, renamed over the old copy (moved aside first, so
    /// the old copy is there until the new one is), and the parent synced.
    async fn write_cache(&self, name: &str, p: &PackageFiles) -> std::io::Result<()> {
        let root = &self.config.cache_dir;
        tokio::fs::create_dir_all(root).await?;
        let tmp = root.join(format!(".{name}.{}.tmp", std::process::id()));
        let old = root.join(format!(".{name}.{}.old", std::process::id()));
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        tokio::fs::create_dir_all(&tmp).await?;
        for (file, bytes) in &p.files {
            let mut f = tokio::fs::File::create(tmp.join(file)).await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, bytes).await?;
            f.sync_all().await?;
        }
        sync_dir(&tmp).await?;
        let dest = self.cache_dir(name);
        let _ = tokio::fs::remove_dir_all(&old).await;
        let had_old = tokio::fs::rename(&dest, &old).await.is_ok();
        tokio::fs::rename(&tmp, &dest).await?;
        sync_dir(root).await?;
        if had_old {
            let _ = tokio::fs::remove_dir_all(&old).await;
        }
        Ok(())
    }

    async fn cached_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if let Ok(mut dir) = tokio::fs::read_dir(&self.config.cache_dir).await {
            while let Ok(Some(e)) = dir.next_entry().await {
                // `<name>` or `<name>@<version>` (a pinned version's copy).
                let entry = e.file_name().to_string_lossy().into_owned();
                let n = entry.split('@').next().unwrap_or_default().to_string();
                if valid_name(&n) && tokio::fs::try_exists(e.path().join("model.json")).await.unwrap_or(false) {
                    names.push(n);
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The files directly in the package's folder (one level: `pkg/old/model.onnx` is not
    /// `pkg/model.onnx`), refused before any is fetched when their sizes add up to more than
    /// the largest package.
    async fn download(&self, name: &str) -> Result<PackageFiles, StoreError> {
        let folder = self.key(name);
        let listing = self
            .timed("list", self.store.list_with_delimiter(Some(&folder)))
            .await
            .map_err(|e| store_err(&self.uri_of(name), e))?;
        let objects: Vec<_> =
            listing.objects.into_iter().filter(|o| o.location.filename().is_some_and(|f| f != "golden.json")).collect();
        let bytes: u64 = objects.iter().map(|o| o.size).sum();
        if bytes > self.config.max_package_bytes {
            return Err(StoreError::TooLarge { name: name.to_string(), bytes, limit: self.config.max_package_bytes });
        }
        let mut p = PackageFiles::default();
        for o in objects {
            let Some(file) = o.location.filename().map(str::to_string) else { continue };
            let bytes = self
                .timed("get", async { self.store.get(&o.location).await?.bytes().await })
                .await
                .map_err(|e| store_err(o.location.as_ref(), e))?;
            self.metrics.dependency_bytes.with(&["storage", "in"]).inc_by(bytes.len() as u64);
            p.files.insert(file, bytes.to_vec());
        }
        if !p.files.contains_key("model.json") {
            return Err(StoreError::NotFound(name.to_string()));
        }
        Ok(p)
    }

    fn uri_of(&self, name: &str) -> String {
        format!("{}/{name}", self.config.uri.trim_end_matches('/'))
    }
}

impl ModelStore for S3Store {
    fn dependency(&self) -> Option<&'static str> {
        Some("storage")
    }

    fn is_up(&self) -> bool {
        self.health.is_up()
    }

    fn health(&self) -> BoxFuture<'_, Option<StoreHealth>> {
        Box::pin(async move {
            let h = self.check().await;
            Some(StoreHealth { healthy: h.bucket_readable, report: serde_json::to_value(&h).unwrap_or_default() })
        })
    }

    fn lists_can_change(&self) -> bool {
        true
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let prefix = self.key("");
            match self.timed("list", self.store.list_with_delimiter(Some(&prefix))).await {
                Ok(listing) => {
                    let mut names: Vec<String> = listing
                        .common_prefixes
                        .iter()
                        .filter_map(|p| p.filename().map(str::to_string))
                        .filter(|n| valid_name(n))
                        .collect();
                    names.sort();
                    Ok(names)
                }
                Err(e) => {
                    let cached = self.cached_names().await;
                    tracing::warn!(uri = %self.config.uri, error = %e, cached = ?cached,
                        "model store unreachable; using the packages cached on disk");
                    if cached.is_empty() {
                        Err(store_err(&self.config.uri, e))
                    } else {
                        Ok(cached)
                    }
                }
            }
        })
    }

    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>> {
        Box::pin(async move {
            if !valid_name(name) {
                return Err(StoreError::InvalidName(name.to_string()));
            }
            self.fetch_folder(name, name, name).await
        })
    }

    fn fetch_version<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>> {
        Box::pin(async move {
            check_pinned(name, version)?;
            // `<name>/<version>/` first; else `<name>/`, which serves the pin only if its
            // model.json names that version (the manager checks).
            match self.fetch_folder(name, &format!("{name}/{version}"), &format!("{name}@{version}")).await {
                Err(StoreError::NotFound(_)) => self.fetch_folder(name, name, name).await,
                other => other,
            }
        })
    }

    fn version_is_package_version(&self) -> bool {
        true
    }
}

impl S3Store {
    /// The package in `folder` (under the prefix), cached on disk as `cache_key`; from that
    /// cache when the store is unreachable.
    async fn fetch_folder(
        &self,
        name: &str,
        folder: &str,
        cache_key: &str,
    ) -> Result<(PackageFiles, String), StoreError> {
        match self.download(folder).await {
            Ok(p) => {
                // Only a package whose checksum holds replaces the last good copy on disk;
                // a corrupt upload still goes to the loader, which refuses it by name.
                match p.verified_meta() {
                    Ok(_) => {
                        if let Err(e) = self.write_cache(cache_key, &p).await {
                            tracing::warn!(model = name, error = %e, "cannot cache the package on disk");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(model = name, error = %e, "not caching a package that fails its checksum")
                    }
                }
                Ok((p, self.uri_of(folder)))
            }
            Err(StoreError::NotFound(_)) => Err(StoreError::NotFound(name.to_string())),
            Err(e @ StoreError::TooLarge { .. }) => Err(e),
            Err(e) => match self.read_cache(cache_key).await {
                Some(p) => {
                    tracing::warn!(model = name, error = %e, "model store unreachable; loading the disk-cached package");
                    Ok((p, format!("{} (disk cache)", self.uri_of(folder))))
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_split_into_bucket_and_prefix() {
        assert_eq!(parse_uri("s3://models/prod/v1/"), Some(("models".into(), "prod/v1".into())));
        assert_eq!(parse_uri("s3://models"), Some(("models".into(), String::new())));
        assert_eq!(parse_uri("http://models/x"), None);
        assert_eq!(parse_uri("s3:///x"), None);
        assert_eq!(parse_uri("s3://Bad_Bucket/x"), None);
    }
}
