//! What the product knows, shared by the reconcilers: the credentials Secret an
//! IntegrationAccount publishes, the input a Workato connection receives, the connector it belongs to, which recipes depend on
//! a connection and how their failed jobs read, the one access comparison, Secret references, the vendor clients of an account or
//! a workspace, the user directory, the maintenance window, when a rotation is due, and how rotations are started and
//! read. It imports the API types, the vendor clients and `crate::reconcile`, never a reconciler
//! (`scripts/check-layers.py` enforces it). See docs/architecture.md.

pub mod access;
pub mod accounts;
pub mod caches;
pub mod connection;
pub mod connector;
pub mod credentials;
pub mod due;
pub mod jobs;
pub mod naming;
pub mod recipes;
pub mod rotation;
pub mod secret_ref;
pub mod users;
pub mod window;
