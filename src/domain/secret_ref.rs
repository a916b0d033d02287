//! Reading one key of a referenced Secret, with errors a person can act on.

use crate::conditions::reasons::CredentialsValid;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use super::caches::Source;
use crate::api::SecretKeyRef;
use crate::reconcile::Context;
use crate::secret::Sensitive;

/// A value read from a Secret, with the Secret's annotations.
#[derive(Clone, Debug)]
pub struct SecretValue {
    /// The value.
    pub value: Sensitive<String>,
    /// The Secret's annotations (e.g. the token's expiry).
    pub annotations: BTreeMap<String, String>,
}

/// Why a referenced Secret key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretRefError {
    /// No Secret of that name in the namespace.
    #[error("Secret {name} not found")]
    Missing {
        /// Secret name.
        name: String,
    },
    /// The Secret lacks the key.
    #[error("Secret {name} has no key {key}")]
    KeyMissing {
        /// Secret name.
        name: String,
        /// The key.
        key: String,
    },
    /// The key is empty or not UTF-8 text.
    #[error("key {key} of Secret {name} is empty or not text")]
    Unusable {
        /// Secret name.
        name: String,
        /// The key.
        key: String,
    },
    /// The API server failed.
    #[error("reading Secret {name}: {source}")]
    Api {
        /// Secret name.
        name: String,
        /// What failed.
        #[source]
        source: kube::Error,
    },
}

impl SecretRefError {
    /// The `CredentialsValid` reason of an admin credentials Secret that cannot be used.
    pub fn reason(&self) -> CredentialsValid {
        match self {
            Self::Missing { .. } => CredentialsValid::SecretMissing,
            Self::KeyMissing { .. } => CredentialsValid::SecretKeyMissing,
            Self::Unusable { .. } => CredentialsValid::SecretKeyUnusable,
            Self::Api { .. } => CredentialsValid::SecretUnreadable,
        }
    }
}

/// Reads `r` in `namespace` from `source` (see [`Context::secret`]). Surrounding whitespace (a
/// trailing newline from `echo`) is removed.
pub async fn read(
    ctx: &Context,
    namespace: &str,
    r: &SecretKeyRef,
    source: Source,
) -> Result<SecretValue, SecretRefError> {
    value_of(&fetch(ctx, namespace, &r.name, source).await?, r)
}

/// Reads two keys, with one request when they live in the same Secret (the usual case).
pub async fn read_pair(
    ctx: &Context,
    namespace: &str,
    (a, b): (&SecretKeyRef, &SecretKeyRef),
    source: Source,
) -> Result<(SecretValue, SecretValue), SecretRefError> {
    let secret = fetch(ctx, namespace, &a.name, source).await?;
    let first = value_of(&secret, a)?;
    let second = if b.name == a.name {
        value_of(&secret, b)?
    } else {
        read(ctx, namespace, b, source).await?
    };
    Ok((first, second))
}

async fn fetch(ctx: &Context, namespace: &str, name: &str, source: Source) -> Result<Secret, SecretRefError> {
    ctx.secret(namespace, name, source == Source::ApiServer)
        .await
        .map_err(|source| SecretRefError::Api {
            name: name.to_owned(),
            source,
        })?
        .ok_or_else(|| SecretRefError::Missing {
            name: name.to_owned(),
        })
}

/// Extracts `r.key` from a Secret already read.
pub fn value_of(secret: &Secret, r: &SecretKeyRef) -> Result<SecretValue, SecretRefError> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(&r.key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| SecretRefError::KeyMissing {
            name: r.name.clone(),
            key: r.key.clone(),
        })?;
    let text = String::from_utf8(bytes)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SecretRefError::Unusable {
            name: r.name.clone(),
            key: r.key.clone(),
        })?;
    Ok(SecretValue {
        value: Sensitive::new(text),
        annotations: secret.metadata.annotations.clone().unwrap_or_default(),
    })
}

/// Whether `secret` is controlled by `owner` (its controller owner reference names `owner`'s uid).
/// The operator reads as its own, writes and deletes only Secrets that its objects control.
pub fn controlled_by<K: kube::Resource>(secret: &Secret, owner: &K) -> bool {
    let uid = owner.meta().uid.as_ref();
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid)
}
