//! Where model packages come from. One trait; this crate ships the local/built-in directory.

use crate::package::PackageFiles;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// A boxed future, so stores can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store could not deliver a package.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store has no package of that name.
    #[error("model '{0}' not found in the model store")]
    NotFound(String),
    /// The name cannot be a package name.
    #[error("invalid model name '{0}': use letters, digits, '-', '_' and '.'")]
    InvalidName(String),
    /// The store failed.
    #[error("model store error while reading {path}: {reason}")]
    Io {
        /// What was being read.
        path: String,
        /// Why it failed.
        reason: String,
    },
}

/// A source of model packages (local directory, S3, MLflow).
pub trait ModelStore: Send + Sync + std::fmt::Debug {
    /// Names of the packages this store holds.
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
    /// All files of one package and a description of where they came from.
    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>>;
}

/// Package names are path segments: keep them boring.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Packages as sub-directories of a local directory (the built-in models by default).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_directory_are_invalid() {
        for bad in ["", "..", "../etc", "a/b", ".hidden", "a b", "x\0"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("sentiment-v2.1_b"));
    }
}
