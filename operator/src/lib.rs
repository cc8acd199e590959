//! The Inferwatch control plane. This first slice holds the `ModelService` resource (`crd`);
//! render, apply and status follow (see the operator issue).

pub mod crd;
