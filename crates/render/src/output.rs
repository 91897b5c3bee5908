//! A render on disk, and its summary.
//!
//! Layout of the output folder:
//! - `<application>.yaml`: one file per Application (and per bootstrap
//!   release), its objects in sync order, each annotated;
//! - `.helm/<application>/...`: the values files the render generated
//!   (`valuesObject`, `values`, Terraform's `values`), so that every recorded
//!   helm command can be run again by hand;
//! - `.schemas/crds/<group>/<kind>_<version>.json`: the JSON schema of every
//!   CRD the render installs (its `openAPIV3Schema`, converted as kubeconform's
//!   `openapi2jsonschema` does), in the layout `platctl check --schemas` reads;
//! - `.platctl-render`: the marker that lets the next render replace the folder;
//! - `.render.json`: the render as data ([`summary`]): every unit with its
//!   order, namespace, sources and the kinds it installs, for checks on the
//!   render (`platctl check`'s sync-order rules).
//!
//! The folder is written beside the target and swapped in with renames, so a
//! failed write never leaves a half-written render.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::RenderError;
use crate::model::{HelmArg, Origin, Render, RenderedApp, SourceInfo};
use crate::yaml;

/// The file that marks a folder as a render (and so replaceable by the next one).
pub const MARKER: &str = ".platctl-render";
/// Sub-folder of the generated values files.
pub const VALUES_DIR: &str = ".helm";
/// Sub-folder of the JSON schemas of the render's own CRDs.
pub const SCHEMAS_DIR: &str = ".schemas";
/// The render's [`summary`], as JSON.
pub const SUMMARY: &str = ".render.json";

/// `format: int-or-string` as JSON schema (as kubeconform's openapi2jsonschema does).
fn int_or_string(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("format").and_then(Value::as_str) == Some("int-or-string") {
                *v = json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
                return;
            }
            m.values_mut().for_each(int_or_string);
        }
        Value::Array(items) => items.iter_mut().for_each(int_or_string),
        _ => {}
    }
}

/// The JSON schemas a CRD object declares: (relative file, schema).
pub fn crd_schemas(crd: &Value) -> Vec<(PathBuf, Value)> {
    let spec = &crd["spec"];
    let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str()) else {
        return Vec::new();
    };
    if crd["kind"] != "CustomResourceDefinition" {
        return Vec::new();
    }
    let file = |version: &str| {
        PathBuf::from("crds").join(group).join(format!("{}_{version}.json", kind.to_lowercase()))
    };
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        let schema = v["schema"]["openAPIV3Schema"].clone();
        let schema =
            if schema.is_object() { schema } else { spec["validation"]["openAPIV3Schema"].clone() };
        if let (Some(name), true) = (v["name"].as_str(), schema.is_object()) {
            let mut schema = schema;
            int_or_string(&mut schema);
            out.push((file(name), schema));
        }
    }
    if let (Some(version), Value::Object(_)) =
        (spec["version"].as_str(), &spec["validation"]["openAPIV3Schema"])
        && out.is_empty()
    {
        let mut schema = spec["validation"]["openAPIV3Schema"].clone();
        int_or_string(&mut schema);
        out.push((file(version), schema));
    }
    out
}

fn header(render: &Render, app: &RenderedApp) -> String {
    let mut h = Vec::new();
    match &app.origin {
        Origin::Terraform { address, step } => h.push(format!(
            "# {address}: installed by Terraform (bootstrap step {step}, before Argo CD syncs anything)."
        )),
        Origin::ArgoCd { parent, project } => h.push(format!(
            "# Application {} (project {project}), created by {parent}; applied at {} in the sync.",
            app.name, app.order
        )),
    }
    h.push(format!(
        "# Destination namespace: {}{}.",
        if app.namespace.is_empty() { "(none)" } else { &app.namespace },
        if app.create_namespace { " (created by the sync)" } else { "" }
    ));
    for s in &app.sources {
        h.push(match s {
            SourceInfo::Chart { repo_url, chart, version, file } => format!(
                "# Source: chart {chart} {version} from {repo_url}, rendered from the cache file {}.",
                file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
            ),
            SourceInfo::Path { path, render } => format!("# Source: {path} ({render})."),
            SourceInfo::Reference { name, repo_url } => format!("# Source: ${name} = {repo_url} (values only)."),
            SourceInfo::Terraform { resource } => format!(
                "# Source: Terraform resource {resource} (a value known only after apply is a placeholder)."
            ),
            SourceInfo::External { repo_url, revision, path } => format!(
                "# Source: {repo_url} at {revision}, {path}: external, not rendered; it installs {}.",
                app.provides.iter().map(|r| format!("{}/{}", r.api_version(), r.kind)).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    h.push(format!(
        "# {} objects (environment {}). Each carries render.platctl.io/application, sync-wave, sync-phase and \
sync-order (its place in the whole sync, root first).",
        app.objects.len(),
        render.env
    ));
    for s in &app.skipped {
        h.push(format!("# Not applied by a sync: {} {} ({}).", s.kind, s.name, s.reason));
    }
    h.join("\n") + "\n"
}

/// The text of one Application's file.
pub fn file_text(render: &Render, app: &RenderedApp) -> Result<String, String> {
    let mut text = header(render, app);
    for o in &app.objects {
        text.push_str("---\n");
        text.push_str(
            &yaml::to_yaml(&o.manifest).map_err(|e| format!("{} {}: {e}", o.kind, o.name))?,
        );
    }
    Ok(text)
}

fn is_render_dir(dir: &Path) -> Result<bool, RenderError> {
    if !dir.exists() {
        return Ok(true);
    }
    if !dir.is_dir() {
        return Ok(false);
    }
    if dir.join(MARKER).is_file() {
        return Ok(true);
    }
    let mut entries = fs::read_dir(dir).map_err(|e| RenderError::io("read folder", dir, e))?;
    Ok(entries.next().is_none())
}

/// Write a render into `dir` (created, or replaced when it holds a previous render).
pub fn write(render: &Render, dir: &Path) -> Result<(), RenderError> {
    if !is_render_dir(dir)? {
        return Err(RenderError::OutDirNotRender(dir.to_path_buf()));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "render".into());
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| RenderError::io("create", parent, e))?;
    let pid = std::process::id();
    let staging = parent.join(format!(".{name}.tmp-{pid}"));
    let old = parent.join(format!(".{name}.old-{pid}"));
    let result = write_into(render, &staging).and_then(|()| {
        if dir.exists() {
            fs::rename(dir, &old).map_err(|e| RenderError::io("move aside", dir, e))?;
        }
        fs::rename(&staging, dir).map_err(|e| RenderError::io("move into place", dir, e))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| RenderError::io("remove", &old, e))?;
        }
        Ok(())
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
        if old.exists() && !dir.exists() {
            let _ = fs::rename(&old, dir);
        }
    }
    result
}

fn write_into(render: &Render, dir: &Path) -> Result<(), RenderError> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| RenderError::io("remove", dir, e))?;
    }
    fs::create_dir_all(dir).map_err(|e| RenderError::io("create", dir, e))?;
    let put = |path: PathBuf, text: &str| -> Result<(), RenderError> {
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(|e| RenderError::io("create", p, e))?;
        }
        fs::write(&path, text).map_err(|e| RenderError::io("write", &path, e))
    };
    put(
        dir.join(MARKER),
        &format!(
            "platctl render output of environment {}; replaced by the next render\n",
            render.env
        ),
    )?;
    // Without the folder's own path, so that two renders of one tree are identical.
    let summary = summary(render, None);
    put(dir.join(SUMMARY), &format!("{summary:#}\n"))?;
    for app in &render.apps {
        let text = file_text(render, app).map_err(|message| RenderError::Manifest {
            app: app.name.clone(),
            file: app.file.clone(),
            message,
        })?;
        put(dir.join(&app.file), &text)?;
    }
    for (_, o) in render.objects() {
        for (rel, schema) in crd_schemas(&o.manifest) {
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n";
            put(dir.join(SCHEMAS_DIR).join(rel), &text)?;
        }
    }
    for call in &render.helm_calls {
        for a in &call.args {
            if let HelmArg::Generated { name, content } = a {
                put(dir.join(VALUES_DIR).join(name), content)?;
            }
        }
    }
    Ok(())
}

/// The render as data: Applications, objects by kind, waves, helm calls.
/// With `out_dir`, generated values files are named as written there.
pub fn summary(render: &Render, out_dir: Option<&Path>) -> Value {
    let apps: Vec<Value> = render
        .apps
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "origin": a.origin,
                "namespace": a.namespace,
                "order": a.order.to_string(),
                "sources": a.sources,
                "create_namespace": a.create_namespace,
                "automated": a.automated,
                "objects": a.objects.len(),
                "skipped": a.skipped,
                "provides": a.provides.iter().map(|r| format!("{}/{}", r.api_version(), r.kind)).collect::<Vec<_>>(),
                "file": a.file,
            })
        })
        .collect();
    let mut waves: BTreeMap<crate::sync::SyncOrder, Vec<&str>> = BTreeMap::new();
    for a in &render.apps {
        waves.entry(a.order.clone()).or_default().push(&a.name);
    }
    let waves: Vec<Value> = waves
        .into_iter()
        .map(|(order, names)| json!({"order": order.to_string(), "applications": names}))
        .collect();
    let calls: Vec<Value> = render
        .helm_calls
        .iter()
        .map(|c| {
            let mut argv = vec!["helm".to_owned()];
            argv.extend(c.args.iter().map(|a| match a {
                HelmArg::Plain(s) => s.clone(),
                HelmArg::Generated { name, .. } => match out_dir {
                    Some(d) => d.join(VALUES_DIR).join(name).display().to_string(),
                    None => format!("<generated {name}>"),
                },
            }));
            json!({"application": c.app, "argv": argv})
        })
        .collect();
    json!({
        "env": render.env,
        "repository": render.repository,
        "root_path": render.root_path,
        "kube_version": render.kube_version,
        "out_dir": out_dir.map(|d| d.display().to_string()),
        "applications": apps,
        "objects": render.objects().count(),
        "objects_by_kind": render.objects_by_kind(),
        "waves": waves,
        "api_versions": render.api_versions,
        "helm_calls": calls,
        "rerendered": render.rerendered,
        "warnings": render.warnings,
    })
}
