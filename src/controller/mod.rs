//! The reconcilers, one module per kind, and their wiring. A reconciler imports `crate::api`,
//! `crate::domain`, the vendor clients and `crate::reconcile`, never another reconciler
//! (`scripts/check-layers.py` enforces it). See docs/architecture.md.

pub mod credential_rotation;
pub mod index;
pub mod integration_account;
pub mod leader;
pub mod run;
pub mod shutdown;
pub mod state_metrics;
pub mod trackvia_account;
pub mod triggers;
pub mod watches;
pub mod workato_connection;
pub mod workato_workspace;
