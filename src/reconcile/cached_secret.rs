//! What the Secret cache keeps of a Secret: what the reconcilers read (its data, labels,
//! annotations, owner references, type, and the name, uid and resourceVersion that identify it),
//! in flat lists instead of the maps of `k8s_openapi`'s `Secret`. A map costs a node of about 540
//! bytes however few entries it holds, and a Secret has three: about two thirds of what a cached
//! Secret used to take. Reconcilers get a `Secret` back ([`CachedSecret::to_secret`]), built when
//! they ask.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use kube::core::Resource;
use serde::{Deserialize, Deserializer};

use crate::secret::Sensitive;

/// Entries of a map, as kept.
type Pairs<V> = Box<[(Box<str>, V)]>;

/// A Secret as the cache keeps it. Deserialized from a Secret (the watch's events), never
/// serialized; its `Debug` shows no value.
#[derive(Clone)]
pub struct CachedSecret {
    /// Name, namespace, uid, resourceVersion, deletion and owner references only.
    metadata: ObjectMeta,
    type_: Option<Box<str>>,
    labels: Pairs<Box<str>>,
    annotations: Pairs<Box<str>>,
    /// `None`: not kept (a type the operator never reads, see [`data_kept`]).
    data: Option<Pairs<Sensitive<Box<[u8]>>>>,
}

/// Whether the cache keeps the data of Secrets of this type: not of the types the operator never
/// reads (they are numerous and large in a busy namespace).
pub fn data_kept(type_: Option<&str>) -> bool {
    !matches!(
        type_,
        Some(
            "kubernetes.io/service-account-token"
                | "helm.sh/release.v1"
                | "kubernetes.io/dockercfg"
                | "kubernetes.io/dockerconfigjson"
                | "bootstrap.kubernetes.io/token"
        )
    )
}

fn pairs<V, W>(map: Option<BTreeMap<String, V>>, value: impl Fn(V) -> W) -> Pairs<W> {
    map.into_iter()
        .flatten()
        .map(|(k, v)| (k.into_boxed_str(), value(v)))
        .collect()
}

fn map<V, W>(pairs: &[(Box<str>, V)], value: impl Fn(&V) -> W) -> Option<BTreeMap<String, W>> {
    (!pairs.is_empty()).then(|| pairs.iter().map(|(k, v)| (k.to_string(), value(v))).collect())
}

impl From<Secret> for CachedSecret {
    fn from(s: Secret) -> Self {
        let m = s.metadata;
        // A Secret from the API server has `data` only: `stringData` is write-only.
        let data =
            data_kept(s.type_.as_deref()).then(|| pairs(s.data, |v| Sensitive::new(v.0.into_boxed_slice())));
        Self {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                resource_version: m.resource_version,
                deletion_timestamp: m.deletion_timestamp,
                owner_references: m.owner_references.filter(|o| !o.is_empty()),
                ..ObjectMeta::default()
            },
            type_: s.type_.map(String::into_boxed_str),
            labels: pairs(m.labels, String::into_boxed_str),
            annotations: pairs(m.annotations, String::into_boxed_str),
            data,
        }
    }
}

impl CachedSecret {
    /// Whether its data is kept (see [`data_kept`]).
    pub fn has_data(&self) -> bool {
        self.data.is_some()
    }

    /// The Secret as the reconcilers read it: what is kept, in `k8s_openapi`'s type.
    pub fn to_secret(&self) -> Secret {
        Secret {
            metadata: ObjectMeta {
                labels: map(&self.labels, |v| v.to_string()),
                annotations: map(&self.annotations, |v| v.to_string()),
                ..self.metadata.clone()
            },
            type_: self.type_.as_deref().map(str::to_owned),
            data: self
                .data
                .as_deref()
                .and_then(|d| map(d, |v| ByteString(v.expose().to_vec()))),
            ..Secret::default()
        }
    }
}

impl<'de> Deserialize<'de> for CachedSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Secret::deserialize(d).map(Self::from)
    }
}

impl fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedSecret")
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .field("type", &self.type_)
            .field(
                "keys",
                &self.data.iter().flatten().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Resource for CachedSecret {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Secret")
    }

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("secrets")
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(type_: &str) -> Secret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {
                "name": "sf-credentials", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                "creationTimestamp": "2026-12-01T00:00:00Z",
                "labels": {"app.kubernetes.io/managed-by": "trackvia-operator"},
                "annotations": {"trackvia-operator.dev/fingerprint": "sha256:ab"},
                "ownerReferences": [{"apiVersion": "integrations.trackvia-operator.dev/v1alpha1",
                    "kind": "IntegrationAccount", "name": "sf", "uid": "ia-1", "controller": true}],
                "managedFields": [{"manager": "trackvia-operator"}]
            },
            "data": {"authToken": "c2VjcmV0LXRva2VuLXZhbHVl", "apiKey": "a2V5"}
        }))
        .unwrap()
    }

    /// The cache gives back what the reconcilers read, exactly, and no more.
    #[test]
    fn a_cached_secret_reads_back_as_the_secret_without_what_nobody_reads() {
        let original = secret("Opaque");
        let cached: CachedSecret = serde_json::from_value(serde_json::to_value(&original).unwrap()).unwrap();
        let back = cached.to_secret();
        assert_eq!(back.data, original.data);
        assert_eq!(back.metadata.labels, original.metadata.labels);
        assert_eq!(back.metadata.annotations, original.metadata.annotations);
        assert_eq!(back.metadata.owner_references, original.metadata.owner_references);
        assert_eq!(back.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(back.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(back.type_.as_deref(), Some("Opaque"));
        assert!(back.metadata.managed_fields.is_none() && back.metadata.creation_timestamp.is_none());
        assert!(cached.has_data());
    }

    #[test]
    fn the_data_of_types_the_operator_never_reads_is_not_kept() {
        let cached = CachedSecret::from(secret("helm.sh/release.v1"));
        assert!(!cached.has_data());
        assert!(cached.to_secret().data.is_none());
    }

    #[test]
    fn debug_shows_no_value() {
        let shown = format!("{:?}", CachedSecret::from(secret("Opaque")));
        assert!(shown.contains("authToken"), "{shown}");
        assert!(
            !shown.contains("secret-token-value") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
    }
}
