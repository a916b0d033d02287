//! trackvia-operator: dedicated TrackVia API users, their Workato connections and staged
//! credential rotation, declared as Kubernetes custom resources.

pub mod api;
pub mod cli;
pub mod clock;
pub mod conditions;
pub mod controller;
pub mod crdgen;
pub mod domain;
pub mod external;
pub mod metrics;
pub mod reconcile;
pub mod secret;
pub mod server;
pub mod trackvia;
pub mod workato;
