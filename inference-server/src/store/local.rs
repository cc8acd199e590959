//! Packages as sub-directories of a local directory (the built-in models by default).

use super::{valid_name, BoxFuture, ModelStore, StoreError};
use crate::package::PackageFiles;
use std::path::PathBuf;

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
                if valid_name(&name) && tokio::fs::try_exists(entry.path().join("model.json")).await.unwrap_or(false) {
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
            let dir = self.root.join(name);
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound(name.to_string()))
                }
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
        })
    }
}
