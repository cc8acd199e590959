//! Where a sentiment prediction spends its time: featurize, tract run, the whole
//! `predict::run` with metrics and drift on, with drift off, with metrics off, and drift on again
//! as a control (they alternate for five rounds; the minimum per configuration is printed, so a
//! busy machine's slow rounds do not decide, and the two identical configurations show the noise
//! floor). Prints microseconds per call.

use inference_server::model_manager::{CacheLimits, ModelManager};
use inference_server::models::Model;
use inference_server::predict::{self, Items, Limits, Request};
use inference_server::store::LocalStore;
use inference_server::telemetry::Metrics;
use inference_server::telemetry::Stages;
use std::sync::Arc;
use std::time::Instant;

const TEXT: &str = "The plot was thin, but the acting was wonderful and I would happily watch it again.";
const N: u32 = 20_000;

fn per_call(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / f64::from(N)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let limits = Limits { max_batch_items: 256, max_text_bytes: 100_000, dynamic_batching: true };
    let configs = [
        ("metrics on, drift on", true, true),
        ("metrics on, drift off", true, false),
        ("metrics off", false, false),
        ("metrics on, drift on (control)", true, true),
    ];
    let mut models = Vec::new();
    for (_, metrics_on, drift_on) in configs {
        let metrics = Arc::new(Metrics::new());
        let cache = CacheLimits { max_models: 16, max_bytes: 1 << 30 };
        let manager = ModelManager::new(Arc::new(LocalStore::new(dir.clone())), cache, metrics, metrics_on)
            .with_drift_metrics(drift_on);
        manager.refresh().await?;
        models.push(manager.get("sentiment").await?);
    }
    let mut best = [f64::INFINITY; 4];
    for _ in 0..5 {
        for (k, model) in models.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..N {
                predict::run(model.clone(), Request::new(Items::Text(vec![TEXT.to_string()]), false), limits).await?;
            }
            best[k] = best[k].min(per_call(start));
        }
    }
    for ((name, _, _), us) in configs.iter().zip(best) {
        println!("predict::run ({name}): {us:.2} us");
    }
    let on = best[0].min(best[3]);
    println!(
        "drift recording: {:+.2} us per prediction ({:+.1}%); the two identical drift-on servers differ by {:.2} us (the noise floor)",
        on - best[1],
        100.0 * (on - best[1]) / best[1],
        (best[0] - best[3]).abs()
    );
    if let Model::Text(m) = &models[0].model {
        let mut stages = Stages::default();
        let start = Instant::now();
        for _ in 0..N {
            m.predict(&[TEXT], &mut stages)?;
        }
        let total = per_call(start);
        let n = f64::from(N);
        println!(
            "  predict {total:.2} us = featurize {:.2} + infer {:.2} + postprocess {:.2}",
            stages.featurize.as_secs_f64() * 1e6 / n,
            stages.infer.as_secs_f64() * 1e6 / n,
            stages.postprocess.as_secs_f64() * 1e6 / n
        );
    }
    Ok(())
}
