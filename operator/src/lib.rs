//! The Inferwatch control plane: the `ModelService` resource (`crd`), the pure `render` and
//! `status` decisions, `apply` (server-side apply + pruning) reading the owned-object watch `cache`, the
//! prometheus-operator `crds` poller, the `controller` loop, `leader`
//! election on a Lease, the operator's `metrics` and its `http` endpoints, and `meta`: the labels
//! and annotations of the monitoring objects.

pub mod apply;
pub mod cache;
pub mod controller;
pub mod crd;
pub mod crds;
pub mod error;
pub mod http;
pub mod leader;
pub mod meta;
pub mod metrics;
pub mod render;
pub mod slot;
pub mod status;
