//! The Inferwatch inference server: the five built-in models behind fast, instrumented HTTP.
//!
//! A request flows `http` (codec: decode) -> `predict` (validate) -> [`model_manager::ModelManager`]
//! -> `featurize` -> tract plan (`runtime`; text models: one run shared by concurrent requests,
//! [`batcher`]) -> `predict` (postprocess with `model.json`'s rules) -> `telemetry` -> `http`
//! (codec: encode). The batch queue (`jobs`) uses `predict` the same way and never `http`. See
//! `ARCHITECTURE.md`, "Data plane", and the README's layout section.

pub mod batcher;
pub mod config;
pub mod featurize;
pub mod http;
pub mod jobs;
pub mod json_body;
pub mod logs;
pub mod model_manager;
pub mod models;
pub mod package;
pub mod packager;
pub mod predict;
pub mod probe;
pub mod quality;
pub mod redact;
pub mod redis_client;
pub mod reference;
pub mod runtime;
pub mod server;
pub mod store;
pub mod telemetry;
