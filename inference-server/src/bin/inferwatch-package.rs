//! `inferwatch-package`: a team's exported text classifier and a held-out sample into a complete
//! model package (see `inference_server::packager` and docs/model-package.md).
//!
//! ```text
//! inferwatch-package --model exported/ --held-out held_out.jsonl --out pkg/
//!     [--upload s3://bucket/prefix --s3-endpoint http://minio:9000
//!      [--register http://mlflow:5000 [--alias champion]]]
//! ```
//!
//! `exported/` holds `model.onnx`, the side files (`tokenizer.json`) and a draft `model.json`
//! (kind, name, version, labels, featurizer, inputs, outputs); each held-out line is
//! `{"input": {"text": "..."}, "label": "positive"}`. `--upload` writes the package to
//! `<prefix>/<name>/<version>/`, where `spec.model.version` finds it (docs/model-versions.md).

use clap::Parser;
use inference_server::package::PackageFiles;
use inference_server::packager::{self, Example};
use inference_server::store::s3::{S3Config, S3Store};
use inference_server::store::{LocalStore, ModelStore};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Most held-out lines read (a sample, not a data set).
const MAX_EXAMPLES: usize = 1_000_000;

/// Make a complete model package from an exported model and a held-out sample.
#[derive(Debug, Parser)]
#[command(name = "inferwatch-package", version)]
struct Args {
    /// Directory with `model.onnx`, its side files and a draft `model.json`.
    #[arg(long)]
    model: PathBuf,
    /// JSON lines of `{"input": {...}, "label": "..."}`, held out from training.
    #[arg(long)]
    held_out: PathBuf,
    /// Where the package is written (created; files in it are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Also upload it to `s3://bucket/prefix` as `<prefix>/<name>/<version>/` (credentials from
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    #[arg(long)]
    upload: Option<String>,
    /// S3-compatible endpoint for `--upload` (MinIO, SeaweedFS).
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// S3 region for `--upload`.
    #[arg(long, default_value = "us-east-1")]
    s3_region: String,
    /// Also register the uploaded package as a new version of the registered model `<name>` in
    /// this MLflow tracking server (needs `--upload` into its artifact store; token from
    /// `MLFLOW_TRACKING_TOKEN`).
    #[arg(long, requires = "upload")]
    register: Option<String>,
    /// Point this alias (e.g. `champion`) at the registered version.
    #[arg(long, requires = "register")]
    alias: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(&args)) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("inferwatch-package: {message}");
    ExitCode::FAILURE
}

async fn run(args: &Args) -> Result<String, String> {
    let files = read_dir(&args.model)?;
    let examples = read_examples(&args.held_out)?;
    let (meta, golden) = packager::make(&files, &examples).map_err(|e| e.to_string())?;
    let mut package = files.clone();
    package.files.remove("golden.json");
    package.files.insert("model.json".into(), pretty(&meta)?);
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for (name, bytes) in &package.files {
        std::fs::write(args.out.join(name), bytes).map_err(|e| format!("{}: {e}", args.out.join(name).display()))?;
    }
    std::fs::write(args.out.join("golden.json"), pretty(&golden)?).map_err(|e| e.to_string())?;
    verify(&args.out).await?;
    let name = meta["name"].as_str().unwrap_or_default().to_string();
    let version = meta["version"].as_str().unwrap_or_default().to_string();
    let mut summary = format!(
        "{} {name} {version}: accuracy {} on {} held-out examples, ECE {}; written to {}",
        meta["kind"].as_str().unwrap_or_default(),
        meta["metrics"]["accuracy"],
        meta["metrics"]["held_out_examples"],
        meta["metrics"]["ece"],
        args.out.display()
    );
    if let Some(uri) = &args.upload {
        let config = S3Config {
            uri: uri.clone(),
            endpoint: args.s3_endpoint.clone(),
            region: args.s3_region.clone(),
            cache_dir: std::env::temp_dir(),
            max_package_bytes: u64::MAX,
        };
        let store =
            S3Store::new(config, Arc::new(inference_server::telemetry::Metrics::new())).map_err(|e| e.to_string())?;
        let folder = format!("{name}/{version}");
        store.upload(&folder, &package).await.map_err(|e| e.to_string())?;
        let source = format!("{}/{folder}", uri.trim_end_matches('/'));
        summary.push_str(&format!("; uploaded to {source}/"));
        if let Some(tracking) = &args.register {
            let token = std::env::var("MLFLOW_TRACKING_TOKEN").ok();
            let registered = inference_server::store::mlflow::register_version(
                tracking,
                token.as_deref(),
                &name,
                &source,
                args.alias.as_deref(),
            )
            .await
            .map_err(|e| e.to_string())?;
            summary.push_str(&format!("; registered as models:/{name}/{registered}"));
            if let Some(alias) = &args.alias {
                summary.push_str(&format!(" (@{alias})"));
            }
        }
    }
    Ok(summary)
}

fn pretty(v: &serde_json::Value) -> Result<Vec<u8>, String> {
    let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The regular files of `dir`.
fn read_dir(dir: &Path) -> Result<PackageFiles, String> {
    let mut files = PackageFiles::default();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            let bytes = std::fs::read(entry.path()).map_err(|e| format!("{}: {e}", entry.path().display()))?;
            files.files.insert(entry.file_name().to_string_lossy().into_owned(), bytes);
        }
    }
    Ok(files)
}

/// The held-out lines; a line that is not an example is an error naming it.
fn read_examples(path: &Path) -> Result<Vec<Example>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut examples = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        if examples.len() == MAX_EXAMPLES {
            return Err(format!("{}: more than {MAX_EXAMPLES} examples", path.display()));
        }
        examples.push(serde_json::from_str(&line).map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?);
    }
    Ok(examples)
}

/// Load the written package as the server does (checksum, format, references, graph, warm-up).
async fn verify(dir: &Path) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let (files, source) = LocalStore::new(parent).fetch(name).await.map_err(|e| e.to_string())?;
    let meta = files.verified_meta().map_err(|e| format!("the written package is refused: {e}"))?;
    inference_server::reference::complete_features(&meta)
        .map_err(|e| format!("the written package is refused: {e}"))?;
    inference_server::models::LoadedModel::build(meta, &files, source, None)
        .map_err(|e| format!("the written package does not load: {e}"))?;
    Ok(())
}
