//! The Inferwatch control plane. It holds the `ModelService` resource (`crd`) and the pure
//! `render`; apply, status and the controller loop follow (see the operator issue).

pub mod crd;
pub mod render;
pub mod status;
