//! The parts of an Argo CD Application (argoproj.io/v1alpha1) that decide
//! what it renders. Field names and defaults follow Argo CD's own types
//! (`pkg/apis/application/v1alpha1/types.go`).

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HelmSource {
    pub release_name: Option<String>,
    pub value_files: Vec<String>,
    /// `values` (a YAML string) or `valuesObject`; Argo CD prefers `valuesObject`.
    pub values: Option<Value>,
    /// `parameters`: (name, value, forceString).
    pub parameters: Vec<(String, String, bool)>,
    pub file_parameters: bool,
    pub skip_crds: bool,
    pub skip_tests: bool,
    pub skip_schema_validation: bool,
    pub ignore_missing_value_files: bool,
    pub namespace: Option<String>,
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectorySource {
    pub recurse: bool,
    pub include: Option<String>,
    pub exclude: Option<String>,
    pub jsonnet: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    pub repo_url: String,
    /// Defaults to `HEAD`, as in Argo CD.
    pub target_revision: String,
    pub path: Option<String>,
    pub chart: Option<String>,
    /// `ref`: this source is referenced by others as `$<ref>`.
    pub reference: Option<String>,
    pub helm: Option<HelmSource>,
    /// `kustomize` settings (overrides the render does not apply).
    pub kustomize: Option<Value>,
    pub directory: Option<DirectorySource>,
    pub plugin: bool,
}

impl Source {
    /// A `ref` source with neither path nor chart only serves `$ref/...` files.
    pub fn is_reference_only(&self) -> bool {
        self.reference.is_some() && self.path.is_none() && self.chart.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    pub name: String,
    /// `metadata.namespace` (Argo CD only watches its own namespace).
    pub namespace: Option<String>,
    pub project: String,
    pub destination_server: Option<String>,
    pub destination_name: Option<String>,
    pub destination_namespace: Option<String>,
    /// `sources` when given, else `source` (Argo CD ignores `source` then).
    pub sources: Vec<Source>,
    /// `syncOptions: [CreateNamespace=true]`.
    pub create_namespace: bool,
    pub automated: bool,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or(false)
}

fn helm(v: &Value) -> Result<HelmSource, String> {
    let value_files = match &v["valueFiles"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().filter_map(text).collect(),
        _ => return Err("helm.valueFiles must be a list".into()),
    };
    let values = match (&v["valuesObject"], &v["values"]) {
        (Value::Null, Value::Null) => None,
        (Value::Null, Value::String(s)) if s.trim().is_empty() => None,
        (Value::Null, s @ Value::String(_)) => Some(s.clone()),
        (Value::Null, other) => return Err(format!("helm.values must be a string, not {other}")),
        (obj, _) => Some(obj.clone()),
    };
    let parameters = v["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    Some((
                        text(&p["name"])?,
                        text(&p["value"]).unwrap_or_default(),
                        flag(&p["forceString"]),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(HelmSource {
        release_name: text(&v["releaseName"]).filter(|s| !s.is_empty()),
        value_files,
        values,
        parameters,
        file_parameters: v["fileParameters"].as_array().is_some_and(|a| !a.is_empty()),
        skip_crds: flag(&v["skipCrds"]),
        skip_tests: flag(&v["skipTests"]),
        skip_schema_validation: flag(&v["skipSchemaValidation"]),
        ignore_missing_value_files: flag(&v["ignoreMissingValueFiles"]),
        namespace: text(&v["namespace"]).filter(|s| !s.is_empty()),
        kube_version: text(&v["kubeVersion"]).filter(|s| !s.is_empty()),
        api_versions: v["apiVersions"]
            .as_array()
            .map(|a| a.iter().filter_map(text).collect())
            .unwrap_or_default(),
    })
}

fn is_empty_object(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|m| m.is_empty())
}

fn source(v: &Value) -> Result<Source, String> {
    if !v.is_object() {
        return Err("a source must be a mapping".into());
    }
    let repo_url = text(&v["repoURL"]).ok_or("a source has no repoURL")?;
    let directory = if is_empty_object(&v["directory"]) {
        None
    } else {
        let d = &v["directory"];
        Some(DirectorySource {
            recurse: flag(&d["recurse"]),
            include: text(&d["include"]).filter(|s| !s.is_empty()),
            exclude: text(&d["exclude"]).filter(|s| !s.is_empty()),
            jsonnet: !is_empty_object(&d["jsonnet"]),
        })
    };
    Ok(Source {
        repo_url,
        target_revision: text(&v["targetRevision"])
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "HEAD".into()),
        path: text(&v["path"]).filter(|s| !s.is_empty()),
        chart: text(&v["chart"]).filter(|s| !s.is_empty()),
        reference: text(&v["ref"]).filter(|s| !s.is_empty()),
        helm: if is_empty_object(&v["helm"]) { None } else { Some(helm(&v["helm"])?) },
        kustomize: (!is_empty_object(&v["kustomize"])).then(|| v["kustomize"].clone()),
        directory,
        plugin: !v["plugin"].is_null(),
    })
}

/// Read an Application object.
pub fn parse(obj: &Value) -> Result<AppSpec, String> {
    let name = text(&obj["metadata"]["name"]).ok_or("an Application without metadata.name")?;
    let spec = &obj["spec"];
    let sources = match (&spec["sources"], &spec["source"]) {
        (Value::Array(items), _) if !items.is_empty() => {
            items.iter().map(source).collect::<Result<_, _>>()?
        }
        (_, s) if s.is_object() => vec![source(s)?],
        _ => return Err("spec has neither source nor sources".into()),
    };
    let options: Vec<String> = spec["syncPolicy"]["syncOptions"]
        .as_array()
        .map(|a| a.iter().filter_map(text).collect())
        .unwrap_or_default();
    Ok(AppSpec {
        name,
        namespace: text(&obj["metadata"]["namespace"]),
        project: text(&spec["project"]).unwrap_or_else(|| "default".into()),
        destination_server: text(&spec["destination"]["server"]).filter(|s| !s.is_empty()),
        destination_name: text(&spec["destination"]["name"]).filter(|s| !s.is_empty()),
        destination_namespace: text(&spec["destination"]["namespace"]).filter(|s| !s.is_empty()),
        sources,
        create_namespace: options.iter().any(|o| o.replace(' ', "") == "CreateNamespace=true"),
        automated: !spec["syncPolicy"]["automated"].is_null(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_multi_source_application() {
        let app = parse(&json!({
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": {
                "project": "apps", "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
                "source": {"repoURL": "ignored", "path": "x"},
                "sources": [
                    {"repoURL": "https://charts.example.com", "chart": "shop", "targetRevision": "1.0.0",
                     "helm": {"releaseName": "web", "valueFiles": ["$values/shop/prod.yaml"],
                              "values": "a: 1", "valuesObject": {"a": 2},
                              "parameters": [{"name": "b", "value": "2", "forceString": true}]}},
                    {"repoURL": "https://git.example.com/cfg.git", "ref": "values"}
                ],
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]}
            }
        }))
        .expect("parses");
        assert_eq!(app.sources.len(), 2, "sources wins over source");
        let helm = app.sources[0].helm.as_ref().expect("helm");
        assert_eq!(helm.values, Some(json!({"a": 2})), "valuesObject wins over values");
        assert_eq!(helm.parameters, vec![("b".into(), "2".into(), true)]);
        assert_eq!(app.sources[1].reference.as_deref(), Some("values"));
        assert!(app.sources[1].is_reference_only());
        assert_eq!(app.sources[1].target_revision, "HEAD");
        assert!(app.create_namespace && app.automated);
    }

    #[test]
    fn rejects_an_application_without_sources() {
        assert!(parse(&json!({"metadata": {"name": "x"}, "spec": {}})).is_err());
    }
}
