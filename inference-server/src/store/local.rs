//! Packages as sub-directories of a local directory (the built-in models by default).
//!
//! Layout: `<root>/<name>/` holds one package; `<root>/<name>/<version>/` holds that version of
//! it, for a server pinned with `--model-version`. Both may be present (the built-ins are
//! unversioned; a team adds versions beside them).

use super::{check_pinned, valid_name, BoxFuture, ModelStore, StoreError};
use crate::package::PackageFiles;
use std::path::{Path, PathBuf};

/// Packages as sub-directories of a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

/// Files of a package directory that are not part of the package proper.
const SKIPPED: &[&str] = &["golden.json"];

impl LocalStore {
    /// A store over `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn io(path: &std::path::Path, e: std::io::Error) -> StoreError {
        StoreError::Io { path: path.display().to_string(), reason: e.to_string() }
    }
}

impl ModelStore for LocalStore {
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let mut dir = tokio::fs::read_dir(&self.root).await.map_err(|e| Self::io(&self.root, e))?;
            let mut names = Vec::new();
            while let Some(entry) = dir.next_entry().await.map_err(|e| Self::io(&self.root, e))? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if valid_name(&name) && holds_package(&entry.path()).await {
                    names.push(name);
                }
            }
            names.sort();
            Ok(names)
        })
    }

    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>> {
        Box::pin(async move {
            if !valid_name(name) {
                return Err(StoreError::InvalidName(name.to_string()));
            }
            self.read_package(name, self.root.join(name)).await
        })
    }

    fn fetch_version<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>> {
        Box::pin(async move {
            check_pinned(name, version)?;
            let versioned = self.root.join(name).join(version);
            if tokio::fs::try_exists(versioned.join("model.json")).await.unwrap_or(false) {
                return self.read_package(name, versioned).await;
            }
            // The unversioned package serves the pin only if its model.json names that version
            // (the manager checks).
            self.read_package(name, self.root.join(name)).await
        })
    }

    fn version_is_package_version(&self) -> bool {
        true
    }
}

/// Whether `dir` holds a package, itself or as one of its versions.
async fn holds_package(dir: &Path) -> bool {
    if tokio::fs::try_exists(dir.join("model.json")).await.unwrap_or(false) {
        return true;
    }
    let Ok(mut versions) = tokio::fs::read_dir(dir).await else { return false };
    while let Ok(Some(v)) = versions.next_entry().await {
        if tokio::fs::try_exists(v.path().join("model.json")).await.unwrap_or(false) {
            return true;
        }
    }
    false
}

impl LocalStore {
    /// The files directly in `dir` (not in its version sub-directories).
    async fn read_package(&self, name: &str, dir: PathBuf) -> Result<(PackageFiles, String), StoreError> {
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::NotFound(name.to_string())),
            Err(e) => return Err(Self::io(&dir, e)),
        };
        let mut package = PackageFiles::default();
        while let Some(entry) = entries.next_entry().await.map_err(|e| Self::io(&dir, e))? {
            let file = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().await.map(|t| t.is_file()).unwrap_or(false);
            if !is_file || SKIPPED.contains(&file.as_str()) {
                continue;
            }
            let bytes = tokio::fs::read(entry.path()).await.map_err(|e| Self::io(&entry.path(), e))?;
            package.files.insert(file, bytes);
        }
        if !package.files.contains_key("model.json") {
            return Err(StoreError::NotFound(name.to_string()));
        }
        Ok((package, format!("builtin:{}", dir.display())))
    }
}
