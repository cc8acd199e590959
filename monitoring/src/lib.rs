//! The Inferwatch monitoring contract, shared by the inference server and the operator.
//!
//! Pure data and pure functions only: no HTTP, no files, no Kubernetes. The server registers its
//! metrics from [`metrics`]; alert rules and dashboards are written against the same names, so
//! renaming a metric is a compile-time change in one place.

pub mod alertmanager;
pub mod alerts;
pub mod dashboards;
pub mod metrics;
