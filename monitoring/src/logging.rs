//! The log format both binaries write: JSON lines (one event a line, fields flattened) in
//! production, human-readable in a terminal. The one module here that touches the process
//! (it installs the global `tracing` subscriber), so it sits behind the `logging` feature.

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LogFormat {
    /// One JSON object per line (containers).
    #[default]
    Json,
    /// Human-readable (terminals).
    Pretty,
}

/// Install the global tracing subscriber with `filter` (env-filter syntax; `info` when it does
/// not parse). A second call is a no-op.
pub fn init(format: LogFormat, filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
