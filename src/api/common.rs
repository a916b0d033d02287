//! Types and validation rules shared by every custom resource of the group.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::condition::Condition;

/// The API group of every custom resource of this operator.
pub const GROUP: &str = "integrations.trackvia-operator.dev";
/// The API version served and stored.
pub const VERSION: &str = "v1alpha1";
/// The `kubectl get <category>` name that lists every kind of this operator.
pub const CATEGORY: &str = "trackvia";
/// Annotation a person sets (to any new value, e.g. the current time) on an object of any kind to
/// have its periodic checks run now instead of at their next interval, e.g. after a step in
/// TrackVia's or Workato's UI. Each value is honoured once; `status.recheckHandled` records it.
pub const RECHECK_ANNOTATION: &str = "integrations.trackvia-operator.dev/recheck";
/// Annotation on an IntegrationAccount that requests a rotation, as `spec.rotation.requestedAt`
/// does, without changing the spec (for GitOps tools whose actions must not make the object drift
/// from Git): an RFC 3339 time; the later of the two is the request, echoed in
/// `status.rotation.handledRequestedAt` once handled.
pub const ROTATE_ANNOTATION: &str = "integrations.trackvia-operator.dev/rotate-requested-at";

/// CEL rules and messages reused by several kinds. Each rule has a message a person can act on.
pub mod rules {
    /// A URL the operator may send credentials to: https, or http on the loopback for local emulators.
    pub const BASE_URL: &str = "isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' \
        || (url(self).getScheme() == 'http' && url(self).getHostname() in ['127.0.0.1', 'localhost', '::1']))";
    /// Message for [`BASE_URL`].
    pub const BASE_URL_MSG: &str = "baseUrl must be an https:// URL \
        (plain http:// is accepted only for a local emulator on 127.0.0.1 or localhost)";

    /// The regular expression (as a CEL string literal body) of a Go duration as `metav1.Duration`
    /// accepts it (`90m`, `36h`, `2160h`); days are not a unit. A macro so rules can `concat!` it.
    #[macro_export]
    #[doc(hidden)]
    macro_rules! go_duration_re {
        () => {
            r"^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
        };
    }
    /// A Go duration.
    pub const DURATION: &str = concat!("self.matches('", go_duration_re!(), "')");
    /// Message for [`DURATION`].
    pub const DURATION_MSG: &str =
        "must be a duration such as 2160h (90 days), 36h or 90m; units are h, m, s (days are not a unit)";

    /// Same-namespace object name (RFC 1123 subdomain), as Secrets and our kinds are named.
    pub const OBJECT_NAME: &str =
        r"self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')";
    /// Message for [`OBJECT_NAME`].
    pub const OBJECT_NAME_MSG: &str = "name must be the name of an object in this namespace: lowercase letters, \
        digits, '-' and '.', starting and ending with a letter or digit";

    /// A key of a Secret's `data`.
    pub const SECRET_KEY: &str = r"self.matches('^[-._a-zA-Z0-9]+$')";
    /// Message for [`SECRET_KEY`].
    pub const SECRET_KEY_MSG: &str =
        "key must be a key of the Secret's data: letters, digits, '-', '_' and '.' only";

    /// Rule for fields that cannot change after creation.
    pub const IMMUTABLE: &str = "self == oldSelf";
}

/// The environment a TrackVia account or Workato workspace belongs to. Credentials never cross
/// environments: a sandbox token is never pushed to a production workspace.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A sandbox (TrackVia sandbox account, Workato DEV or TEST environment).
    Sandbox,
    /// Production.
    Production,
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        })
    }
}

/// A key of a Secret in the same namespace as the object that refers to it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(rules::OBJECT_NAME).message(rules::OBJECT_NAME_MSG))]
    pub name: String,
    /// Key in the Secret's `data` that holds the value.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(rules::SECRET_KEY).message(rules::SECRET_KEY_MSG))]
    pub key: String,
}

/// A reference to another object of this group in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct LocalRef {
    /// Name of the referenced object, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(rules::OBJECT_NAME).message(rules::OBJECT_NAME_MSG))]
    pub name: String,
}

/// Status fields every kind carries: the conditions and the generation they describe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The `metadata.generation` this status was computed from. Status describing an older
    /// generation is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Current state, per Kubernetes API conventions. `Ready` summarises the object; the other
    /// types say which step is done and, when not, what a person must do next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The last value of the `integrations.trackvia-operator.dev/recheck` annotation the operator
    /// honoured: when the annotation holds another value, every periodic check of the object
    /// (vendor reads included, bypassing the shared listing caches) runs at the next reconcile,
    /// and the value is recorded here so it is honoured once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_handled: Option<String>,
}

/// Observed state of a kind whose credentials the operator checks against a vendor's API
/// (TrackViaAccount, WorkatoWorkspace).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckedStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// When the credentials were last checked against the vendor's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<Time>,
    /// Fingerprint of the credentials last checked, so a change is noticed without calling the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_fingerprint: Option<String>,
}
