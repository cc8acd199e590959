//! `inferwatch-report`: the weekly operations review (docs/operations.md) as a command. It asks
//! a Prometheus that scrapes Inferwatch servers, with the generated rules loaded, for one
//! ModelService's (or every one's) SLO attainment and budget spent, p95 latency by model, the
//! alerts that fired, online quality, drift and capacity headroom, and prints Markdown.

pub mod prom;
pub mod report;
