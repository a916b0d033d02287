//! The custom resources of `integrations.trackvia-operator.dev/v1alpha1`, one module per kind.
//! Field doc comments become the CRD's descriptions; validation lives in the schema and CEL rules
//! so the API server rejects bad input with a message a person understands.

// kube's `printcolumn(...)` repeats `type_ = ...` by design; clippy reads the repeats as duplicates.
#![allow(clippy::duplicated_attributes)]

pub mod common;
pub mod condition;
pub mod credential_rotation;
pub mod integration_account;
pub mod trackvia_account;
pub mod workato_connection;
pub mod workato_workspace;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use common::{Environment, GROUP, LocalRef, SecretKeyRef, VERSION};
pub use condition::{Condition, Word};
pub use credential_rotation::CredentialRotation;
pub use integration_account::IntegrationAccount;
pub use trackvia_account::TrackViaAccount;
pub use workato_connection::WorkatoConnection;
pub use workato_workspace::WorkatoWorkspace;

/// Every CRD of the operator, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        TrackViaAccount::crd(),
        WorkatoWorkspace::crd(),
        IntegrationAccount::crd(),
        WorkatoConnection::crd(),
        CredentialRotation::crd(),
    ]
}
