//! trackvia-operator: dedicated TrackVia API users, their Workato connections and staged
//! credential rotation, declared as Kubernetes custom resources.

pub mod api;
pub mod crdgen;
