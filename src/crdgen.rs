//! Renders the CRDs as YAML files, one per kind (`crds/<plural>.<group>.yaml`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Errors while rendering CRDs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CRD did not serialize to YAML.
    #[error("serializing CRD {name} to YAML: {source}")]
    Serialize {
        /// The CRD's name.
        name: String,
        /// What failed.
        #[source]
        source: serde_saphyr::ser::Error,
    },
}

/// One rendered CRD file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdFile {
    /// File name, `<plural>.<group>.yaml`.
    pub file_name: String,
    /// The YAML document.
    pub yaml: String,
}

/// Renders every CRD of the operator.
pub fn render() -> Result<Vec<CrdFile>, Error> {
    crate::api::crds().iter().map(render_one).collect()
}

fn render_one(crd: &CustomResourceDefinition) -> Result<CrdFile, Error> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let body = serde_saphyr::to_string(crd).map_err(|source| Error::Serialize {
        name: name.clone(),
        source,
    })?;
    Ok(CrdFile {
        file_name: format!("{name}.yaml"),
        yaml: format!("# Generated from the Rust types by `make crds`; do not edit.\n---\n{body}"),
    })
}
