//! Model load time per built-in model and `/metrics` encode time with all five loaded and
//! traffic recorded. Prints one JSON line (read by bench/report.py). Run: `cargo bench --bench startup`.

use inference_server::model_manager::{CacheLimits, ModelManager};
use inference_server::models::trend::TrendInput;
use inference_server::predict::{self, Items, Limits, Request, Series};
use inference_server::store::LocalStore;
use inference_server::telemetry::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let metrics = Arc::new(Metrics::new());
    let limits = CacheLimits { max_models: 16, max_bytes: 1 << 30 };
    let manager = ModelManager::new(Arc::new(LocalStore::new(dir)), limits, metrics.clone(), true);
    let mut load_ms = BTreeMap::new();
    for name in manager.refresh().await? {
        let start = Instant::now();
        manager.get(&name).await?;
        load_ms.insert(name, start.elapsed().as_secs_f64() * 1e3);
    }
    let limits = Limits { max_batch_items: 256, max_text_bytes: 100_000, dynamic_batching: true };
    for i in 0..200 {
        let text = format!("request {i}: this was a good day");
        predict::run(manager.get("sentiment").await?, Request::new(Items::Text(vec![text.clone()]), false), limits)
            .await?;
        predict::run(manager.get("topic").await?, Request::new(Items::Text(vec![text]), false), limits).await?;
        let pair = (format!("{}", i % 900), format!("{}", i % 1600));
        predict::run(manager.get("recsys").await?, Request::new(Items::Rating(vec![pair]), false), limits).await?;
        let values = (0..24).map(|t| f64::from(t + i)).collect();
        let series = TrendInput { values, horizon: 3, season_length: None };
        predict::run(
            manager.get("trend").await?,
            Request::new(Items::Trend(vec![Series { input: series, timestamps: None }]), false),
            limits,
        )
        .await?;
    }
    let mut times = Vec::with_capacity(1000);
    let mut bytes = 0;
    for _ in 0..1000 {
        let start = Instant::now();
        bytes = metrics.encode_prometheus_text()?.len();
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let line = serde_json::json!({
        "load_ms": load_ms, "metrics_encode_mean_ms": mean, "metrics_encode_p99_ms": times[989],
        "metrics_bytes": bytes,
    });
    println!("{line}");
    Ok(())
}
