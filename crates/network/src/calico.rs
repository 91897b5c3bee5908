//! Calico policies in the form network-config-analyzer reads.
//!
//! The repository keeps Calico objects in the form LKE's Calico honours:
//! `crd.projectcalico.org/v1` (no Calico API server serves
//! `projectcalico.org/v3` there; docs/network.md). nca parses only
//! `projectcalico.org/v3`, and its selector parser accepts only
//! single-quoted values, while Calico takes both quote styles. The
//! conversion changes nothing else: the spec is the same v3 spec.

use serde_json::Value;

/// The Calico API group the repository writes (CRD storage group).
pub const CRD_API_VERSION: &str = "crd.projectcalico.org/v1";
/// The Calico API group nca reads.
pub const V3_API_VERSION: &str = "projectcalico.org/v3";

/// Keys whose string values are Calico selector expressions.
const SELECTOR_KEYS: &[&str] =
    &["selector", "namespaceSelector", "notSelector", "serviceAccountSelector"];

/// Why a Calico object cannot be handed to the analyzer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalicoError {
    #[error("{0} is not a Calico object (apiVersion {CRD_API_VERSION} or {V3_API_VERSION})")]
    NotCalico(String),
    #[error("selector {selector:?}: {reason}")]
    Selector { selector: String, reason: String },
}

/// Whether an apiVersion is one of Calico's two groups.
pub fn is_calico(api_version: &str) -> bool {
    api_version == CRD_API_VERSION || api_version == V3_API_VERSION
}

/// The same Calico object as `projectcalico.org/v3` with single-quoted
/// selector values, as nca parses it.
pub fn to_nca_form(doc: &Value) -> Result<Value, CalicoError> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !is_calico(api) {
        return Err(CalicoError::NotCalico(api.to_owned()));
    }
    let mut out = doc.clone();
    out["apiVersion"] = Value::String(V3_API_VERSION.to_owned());
    if let Some(spec) = out.get_mut("spec") {
        requote(spec)?;
    }
    Ok(out)
}

fn requote(node: &mut Value) -> Result<(), CalicoError> {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(s) if SELECTOR_KEYS.contains(&key.as_str()) => {
                        *s = single_quoted(s)?;
                    }
                    _ => requote(value)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                requote(item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Rewrites `"value"` literals of a Calico selector as `'value'`. Calico
/// selector strings have no escapes, so a literal ends at its next quote.
pub fn single_quoted(selector: &str) -> Result<String, CalicoError> {
    let bad = |reason: &str| CalicoError::Selector {
        selector: selector.to_owned(),
        reason: reason.to_owned(),
    };
    let mut out = String::with_capacity(selector.len());
    let mut chars = selector.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                let mut literal = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == c {
                        closed = true;
                        break;
                    }
                    literal.push(d);
                }
                if !closed {
                    return Err(bad("a quoted value is not closed"));
                }
                if literal.contains('\'') {
                    return Err(bad(
                        "a value contains a single quote, which the analyzer's selector parser cannot take",
                    ));
                }
                out.push('\'');
                out.push_str(&literal);
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_api_group_and_quotes_everywhere() {
        let doc = json!({
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "default.deny"},
            "spec": {
                "namespaceSelector": "kubernetes.io/metadata.name not in {\"kube-system\", 'calico'}",
                "egress": [{"action": "Allow", "destination": {
                    "namespaceSelector": "kubernetes.io/metadata.name == \"kube-system\"",
                    "selector": "k8s-app == \"kube-dns\"",
                    "ports": [53]
                }}],
                "order": 2000
            }
        });
        let out = to_nca_form(&doc).expect("converts");
        assert_eq!(out["apiVersion"], "projectcalico.org/v3");
        assert_eq!(out["metadata"]["name"], "default.deny");
        assert_eq!(
            out["spec"]["namespaceSelector"],
            "kubernetes.io/metadata.name not in {'kube-system', 'calico'}"
        );
        assert_eq!(out["spec"]["egress"][0]["destination"]["selector"], "k8s-app == 'kube-dns'");
        assert_eq!(out["spec"]["egress"][0]["destination"]["ports"], json!([53]));
        assert_eq!(out["spec"]["order"], 2000);
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        let doc = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"});
        assert!(matches!(to_nca_form(&doc), Err(CalicoError::NotCalico(_))));
        let err = single_quoted("a == \"b").expect_err("unclosed");
        assert!(err.to_string().contains("not closed"), "{err}");
        let err = single_quoted("a == \"it's\"").expect_err("quote inside");
        assert!(err.to_string().contains("single quote"), "{err}");
        assert_eq!(single_quoted("all()").expect("plain"), "all()");
    }
}
