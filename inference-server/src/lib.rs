//! The Inferwatch inference server: the five built-in models behind fast, instrumented HTTP.
//!
//! A request flows router -> decode + validate -> [`model_manager::ModelManager`] -> featurize
//! -> tract plan (text models: one run shared by concurrent requests, [`batcher`]) -> postprocess
//! -> metrics -> JSON (see `ARCHITECTURE.md`, "Data plane").

pub mod batcher;
pub mod config;
pub mod cpu_time;
pub mod dependency;
pub mod error;
pub mod featurize;
pub mod http;
pub mod inference;
pub mod jobs;
pub mod metrics;
pub mod mlflow_store;
pub mod model_manager;
pub mod model_store;
pub mod models;
pub mod package;
pub mod runtime;
pub mod s3_store;
pub mod server;
pub mod sharded;
