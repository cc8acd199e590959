//! The Inferwatch monitoring contract, shared by the inference server and the operator.
//!
//! Pure data and pure functions only: no HTTP, no files, no Kubernetes. The server registers its
//! metrics from [`metrics`]; alert rules and dashboards are written against the same names, so
//! renaming a metric is a compile-time change in one place. [`serving`] is the other half of the
//! contract: the model kinds, serving defaults and the server's flag and environment names, which
//! the operator renders and the server parses; [`package`] is the model package format (`model.json`).
//! [`logging`] (feature `logging`) is the one log
//! setup both binaries use.

pub mod alertmanager;
pub mod alerts;
pub mod capacity;
pub mod dashboards;
pub mod drift;
pub mod log_classes;
#[cfg(feature = "logging")]
pub mod logging;
pub mod metrics;
pub mod operator_alerts;
pub mod package;
pub mod rules;
pub mod serving;
pub mod slo;
