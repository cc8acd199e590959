//! `inference-server` binary.

use clap::Parser;
use inference_server::config::Config;
use inference_server::server;

/// mimalloc instead of the system allocator: a request allocates and frees many small buffers
/// across worker threads, where glibc malloc spent about a tenth of the server's CPU (perf, see
/// docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // `inference-server probe [URL]`: a health check for images without a shell (compose.yaml).
    if std::env::args().nth(1).as_deref() == Some("probe") {
        let url = std::env::args().nth(2).unwrap_or_else(|| inference_server::probe::DEFAULT_URL.to_string());
        return match inference_server::probe::probe(&url) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let config = Config::parse();
    // One TLS crypto provider for the whole process (rediss://, S3 and MLflow over https), so
    // a dependency that enables a second one can never leave rustls without a default.
    let _ = rustls::crypto::ring::default_provider().install_default();
    inferwatch_monitoring::logging::init(config.log_format, &config.log);
    inference_server::logs::audit::started(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "inference server failed");
            std::process::ExitCode::FAILURE
        }
    }
}
