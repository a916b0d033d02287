//! `crds/` is generated from the Rust types (`make crds`); this fails when they differ, and guards
//! properties of the schema that GitOps users rely on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use trackvia_operator::crdgen;

#[test]
fn crds_directory_matches_the_rust_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let files = crdgen::render().expect("rendering CRDs");
    let mut stale = Vec::new();
    for f in &files {
        match std::fs::read_to_string(dir.join(&f.file_name)) {
            Ok(on_disk) if on_disk == f.yaml => {}
            Ok(_) => stale.push(format!("{} differs", f.file_name)),
            Err(e) => stale.push(format!("{} unreadable: {e}", f.file_name)),
        }
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    on_disk.sort();
    let mut generated: Vec<String> = files.iter().map(|f| f.file_name.clone()).collect();
    generated.sort();
    assert_eq!(
        on_disk, generated,
        "crds/ holds exactly one file per CRD; run `make crds`"
    );
    assert!(
        stale.is_empty(),
        "crds/ is out of date ({}); run `make crds`",
        stale.join(", ")
    );
}

/// The chart ships the same CRDs (Helm reads only files inside the chart).
#[test]
fn the_chart_carries_the_same_crds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in crdgen::render().expect("rendering CRDs") {
        let in_chart = std::fs::read_to_string(
            root.join("charts/trackvia-operator/files/crds")
                .join(&f.file_name),
        );
        assert_eq!(
            in_chart.ok().as_deref(),
            Some(f.yaml.as_str()),
            "{}: run `make crds`",
            f.file_name
        );
    }
}

/// Server-side defaults make Argo CD and Flux show permanent drift; defaults live in code.
#[test]
fn schemas_declare_no_defaults() {
    fn walk(v: &serde_json::Value, path: &str, found: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, child) in m {
                    if k == "default" && path.contains(".properties") {
                        found.push(path.to_string());
                    }
                    walk(child, &format!("{path}.{k}"), found);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, path, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for crd in trackvia_operator::api::crds() {
        walk(
            &serde_json::to_value(&crd).expect("CRD serializes"),
            &crd.spec.names.kind,
            &mut found,
        );
    }
    assert!(found.is_empty(), "schema defaults at {found:?}");
}

/// Every field carries a description (the doc comments), so `kubectl explain` documents the API.
#[test]
fn every_property_is_described() {
    fn walk(v: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        let Some(props) = v.get("properties").and_then(|p| p.as_object()) else {
            if let Some(items) = v.get("items") {
                walk(items, &format!("{path}[]"), missing);
            }
            return;
        };
        for (name, schema) in props {
            let p = format!("{path}.{name}");
            let top_level =
                path.matches('.').count() == 0 && matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
            if schema.get("description").is_none() && !top_level {
                missing.push(p.clone());
            }
            walk(schema, &p, missing);
        }
    }
    let mut missing = Vec::new();
    for crd in trackvia_operator::api::crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema serializes");
        walk(&schema["openAPIV3Schema"], &crd.spec.names.kind, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:?}"
    );
}
