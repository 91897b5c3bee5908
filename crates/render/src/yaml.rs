//! YAML in and out, with the semantics the cluster uses.
//!
//! Kubernetes and Argo CD read manifests with `sigs.k8s.io/yaml` (YAML 1.1:
//! `0644` is octal, `yes`/`on` are booleans, a repeated key keeps its last
//! value), so rendered streams are parsed the same way. Written manifests are
//! quoted so that both YAML 1.1 and 1.2 readers get the same values back.

use serde_json::Value;

fn read_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    // Rendered charts (CRDs especially) are large; the input is the user's own tree.
    o.budget = None;
    o.legacy_octal_numbers = true;
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    o
}

/// Every non-empty document of a YAML stream, in order.
pub fn parse_stream(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple_with_options(text, read_options())
        .map_err(|e| {
        let mut msg = e.to_string();
        if msg.len() > 600 {
            msg.truncate(600);
            msg.push_str("...");
        }
        msg
    })?;
    Ok(docs.into_iter().flatten().filter(|d| !d.is_null()).collect())
}

/// One document as YAML (no leading `---`, ends with a newline).
///
/// Multi-line strings (configuration files, scripts) are written as block
/// scalars so they read as they were written, except in CustomResourceDefinitions:
/// their thousands of descriptions are written as quoted strings, which keeps
/// the largest CRD bundles (prometheus-operator's, 4.4 MB as Helm prints them)
/// under the 4 MiB per-file limit of `platctl check`.
pub fn to_yaml(doc: &Value) -> Result<String, String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = doc["kind"] != "CustomResourceDefinition";
    let text = serde_saphyr::to_string_with_options(doc, options).map_err(|e| e.to_string())?;
    let text = text.strip_prefix("---\n").unwrap_or(&text).to_owned();
    Ok(if text.ends_with('\n') { text } else { text + "\n" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_cluster_does() {
        let docs = parse_stream(
            "---\nmode: 0644\nflag: yes\nname: '0755'\nkey: 1\nkey: 2\n---\n---\n# comment only\n",
        )
        .expect("parses");
        assert_eq!(docs.len(), 1, "empty documents are dropped");
        assert_eq!(docs[0]["mode"], 420, "YAML 1.1 octal");
        assert_eq!(docs[0]["flag"], true, "YAML 1.1 boolean");
        assert_eq!(docs[0]["name"], "0755");
        assert_eq!(docs[0]["key"], 2, "the last of a repeated key wins");
    }

    #[test]
    fn written_strings_read_back_as_strings_in_yaml_1_1_and_1_2() {
        let doc = serde_json::json!({
            "a": "yes", "b": "on", "c": "0755", "d": "1.0", "e": "null", "f": "true",
            "g": "line one\nline two\n", "h": "", "i": "- x", "j": "a: b", "k": 8080,
            "l": "~", "m": "0x1F", "n": "1e3", "o": " padded ", "p": "#not-a-comment"
        });
        let mut crd = doc.clone();
        crd["kind"] = Value::from("CustomResourceDefinition");
        for doc in [doc, crd] {
            let text = to_yaml(&doc).expect("serializes");
            let back = parse_stream(&text).expect("parses back");
            assert_eq!(back, vec![doc.clone()], "{text}");
            // And a YAML 1.2 reader (serde-saphyr's defaults, which platctl check uses) agrees.
            let strict: Vec<Value> = serde_saphyr::from_multiple(&text).expect("1.2 parse");
            assert_eq!(strict, vec![doc], "{text}");
        }
    }

    #[test]
    fn malformed_yaml_is_an_error_with_a_message() {
        let err = parse_stream("a: [\n  b: c\n").expect_err("malformed");
        assert!(!err.is_empty());
    }
}
