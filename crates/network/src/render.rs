//! The objects of a rendered platform: every YAML document under a folder
//! (`platctl render --out-dir DIR` writes one file per Application; its
//! hidden folders, `.helm/` values files and `.schemas/`, are not objects).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One rendered object and the file it came from.
#[derive(Debug, Clone)]
pub struct Object {
    pub file: PathBuf,
    pub value: Value,
}

impl Object {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.value.get("apiVersion").and_then(Value::as_str).unwrap_or("")
    }

    pub fn group(&self) -> &str {
        self.api_version().rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn name(&self) -> &str {
        self.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value.pointer("/metadata/namespace").and_then(Value::as_str)
    }

    /// `Kind namespace/name (file)`, for messages.
    pub fn describe(&self) -> String {
        let ns = self.namespace().map(|n| format!("{n}/")).unwrap_or_default();
        format!("{} {ns}{} ({})", self.kind(), self.name(), self.file.display())
    }
}

/// Why a render folder cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "render folder {0} does not exist; render the platform first (platctl render --out-dir DIR)"
    )]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error(
        "render folder {0} holds no Kubernetes object (no *.yaml / *.yml file with apiVersion and kind)"
    )]
    Empty(PathBuf),
}

/// Every object of every `*.yaml`/`*.yml` file under `dir`, in path order;
/// `kind: List` documents are expanded. Hidden folders are skipped: the
/// render keeps the values files it generated there, which are not objects.
pub fn load(dir: &Path) -> Result<Vec<Object>, RenderError> {
    if !dir.is_dir() {
        return Err(RenderError::Missing(dir.to_owned()));
    }
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|source| RenderError::Read { path: file.clone(), source })?;
        let docs: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
            .map_err(|e| RenderError::Yaml { path: file.clone(), message: e.to_string() })?;
        for doc in docs.into_iter().flatten() {
            push(&file, doc, &mut out);
        }
    }
    if out.is_empty() {
        return Err(RenderError::Empty(dir.to_owned()));
    }
    Ok(out)
}

fn push(file: &Path, doc: Value, out: &mut Vec<Object>) {
    let is_object = doc.get("apiVersion").and_then(Value::as_str).is_some()
        && doc.get("kind").and_then(Value::as_str).is_some();
    if !is_object {
        return;
    }
    if doc.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) {
        if let Some(Value::Array(items)) = doc.get("items") {
            for item in items {
                push(file, item.clone(), out);
            }
        }
        return;
    }
    out.push(Object { file: file.to_owned(), value: doc });
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), RenderError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|source| RenderError::Read { path: dir.to_owned(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| RenderError::Read { path: dir.to_owned(), source })?;
        let path = entry.path();
        if path.is_dir() {
            if !entry.file_name().to_string_lossy().starts_with('.') {
                collect(&path, files)?;
            }
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_documents_and_expands_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(
            dir.path().join("a.yaml"),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# comment only\n---\nnot: an object\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("sub/b.yml"),
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: a}}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("ignored.txt"), "kind: Pod").expect("write");
        // The render's generated values files live in hidden folders.
        std::fs::create_dir(dir.path().join(".helm")).expect("mkdir");
        std::fs::write(
            dir.path().join(".helm/values.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: values-not-an-object}\n",
        )
        .expect("write");
        let objs = load(dir.path()).expect("loads");
        let names: Vec<_> = objs.iter().map(|o| (o.kind(), o.name())).collect();
        assert_eq!(names, [("Namespace", "a"), ("Pod", "p")]);
        assert_eq!(objs[1].namespace(), Some("a"));
    }

    #[test]
    fn reports_missing_empty_and_broken_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        assert!(matches!(load(&missing), Err(RenderError::Missing(_))));
        assert!(matches!(load(dir.path()), Err(RenderError::Empty(_))));
        std::fs::write(dir.path().join("bad.yaml"), "a: [1, 2\n").expect("write");
        let err = load(dir.path()).expect_err("broken");
        assert!(err.to_string().contains("bad.yaml"), "{err}");
    }
}
