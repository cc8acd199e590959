//! Telemetry: the metric registry built from the `monitoring` catalogue, the per-model handles,
//! the process collector, CPU accounting, dependency health, and the lock-free metric cells the
//! hot path writes to.

pub mod capacity;
pub mod cpu_time;
pub mod dependency;
pub mod drift;
pub mod model;
mod process;
pub mod quality;
pub mod registry;
pub mod sharded;
pub mod text_format;

pub use drift::DriftCells;
pub use model::{ModelMetrics, Outcome, Stages};
pub use registry::{model_loaded, Metrics};
