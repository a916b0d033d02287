//! trackvia-operator: dedicated TrackVia API users, their Workato connections and staged
//! credential rotation, declared as Kubernetes custom resources.

pub mod api;
pub mod crdgen;
pub mod external;
pub mod secret;
pub mod trackvia;
pub mod workato;
