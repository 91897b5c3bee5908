//! The plan over a repository, and its all-or-nothing application.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::derive;
use crate::values::{CONFIG_FILE, ConfigFile, Values};
use crate::{ConfigError, io};

/// The folders whose files are deployed (the same roots `platctl check` walks).
pub const DEPLOYABLE_ROOTS: &[&str] = &["infra", "deploy", "charts", ".github/workflows"];

/// Every deployable file under `root` with a format the scan understands
/// (YAML, Terraform, JSON), relative and `/`-separated, sorted. Caches and
/// vendored folders are skipped; symlinks are not followed.
pub fn deployable_files(root: &Path) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for top in DEPLOYABLE_ROOTS {
        let dir = root.join(top);
        if dir.is_dir() {
            walk(root, &dir, &mut out)?;
        }
    }
    out.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), ConfigError> {
    let entries = fs::read_dir(dir).map_err(io("read folder", dir))?;
    for entry in entries {
        let entry = entry.map_err(io("read folder", dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ft = entry.file_type().map_err(io("stat", &path))?;
        if ft.is_dir() {
            if matches!(name.as_str(), ".terraform" | ".git" | "target" | "node_modules") {
                continue;
            }
            walk(root, &path, out)?;
        } else if ft.is_file() && crate::text::Format::of(&name).is_some() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    Ok(())
}

/// Why a file is in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reason {
    /// Derived values replaced in place: (field, count).
    Rewritten { replaced: Vec<(String, usize)> },
    /// Rendered whole from the values.
    Rendered,
    /// The configuration file itself.
    Configuration,
}

/// One file the plan writes.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Relative to the repository root.
    pub file: String,
    pub created: bool,
    #[serde(flatten)]
    pub reason: Reason,
    #[serde(skip)]
    pub content: String,
}

/// What `platctl init` would write to make the tree carry `values`.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    #[serde(skip)]
    pub root: PathBuf,
    pub values: Values,
    /// Config last: it records what the tree carries, so a write interrupted
    /// before it leaves the old record and a re-run completes the change.
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Plan the files that make the tree at `root` carry `values`. `current` is
/// the configuration file as it is now (`None`: absent).
pub fn plan(
    root: &Path,
    values: &Values,
    current: Option<&ConfigFile>,
) -> Result<Plan, ConfigError> {
    if !root.join("infra/terraform/envs").is_dir() {
        return Err(ConfigError::NotARepository(root.to_owned()));
    }
    let template = Values::template();
    let applied = current.and_then(|c| c.applied.as_ref());
    let mut olds: Vec<&Values> = Vec::new();
    if let Some(a) = applied {
        olds.push(a);
    }
    olds.push(&template);
    let pairs = derive::replacements(&olds, values);

    let generated = derive::generated(values);
    let mut changes = Vec::new();
    for rel in deployable_files(root)? {
        if generated.iter().any(|(g, _)| *g == rel) {
            continue;
        }
        let path = root.join(&rel);
        let text = fs::read_to_string(&path).map_err(io("read", &path))?;
        let mut replaced: Vec<(String, usize)> = Vec::new();
        let mut new = text.clone();
        if let Some(env) = derive::tfvars_env(&rel) {
            let (set, fields) = derive::set_attributes(&new, &derive::tfvars_settings(env, values));
            new = set;
            replaced.extend(fields.into_iter().map(|f| (f.to_owned(), 1)));
        }
        // Terraform: only values (a module's description examples stay as written).
        let (new, counts) = match crate::text::Format::of(&rel) {
            Some(crate::text::Format::Hcl) => {
                let ranges = crate::text::deployed_ranges(crate::text::Format::Hcl, &new);
                derive::rewrite_within(&new, &ranges, &pairs)
            }
            _ => derive::rewrite(&new, &pairs),
        };
        replaced.extend(counts.into_iter().map(|(f, n)| (f.to_owned(), n)));
        if new != text {
            changes.push(Change {
                file: rel,
                created: false,
                reason: Reason::Rewritten { replaced },
                content: new,
            });
        }
    }
    for (rel, content) in generated {
        let path = root.join(&rel);
        let old = match fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("read", &path)(e)),
        };
        if old.as_deref() != Some(content.as_str()) {
            changes.push(Change {
                file: rel,
                created: old.is_none(),
                reason: Reason::Rendered,
                content,
            });
        }
    }
    let config = ConfigFile { values: values.clone(), applied: Some(values.clone()) }.render();
    let cpath = root.join(CONFIG_FILE);
    let old = fs::read_to_string(&cpath).ok();
    if old.as_deref() != Some(config.as_str()) {
        changes.push(Change {
            file: CONFIG_FILE.to_owned(),
            created: old.is_none(),
            reason: Reason::Configuration,
            content: config,
        });
    }
    Ok(Plan { root: root.to_owned(), values: values.clone(), changes })
}

/// Write every change of `plan`, all or nothing: each new content goes to a
/// temporary file beside its target and is fsynced; only when all are on disk
/// are they renamed over the targets (configuration last). If a temporary
/// write fails, the temporaries are removed and no file has changed.
pub fn apply(plan: &Plan) -> Result<(), ConfigError> {
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = fs::remove_file(tmp);
        }
    };
    for change in &plan.changes {
        let target = plan.root.join(&change.file);
        match stage(&target, &change.content) {
            Ok(tmp) => staged.push((tmp, target)),
            Err(e) => {
                cleanup(&staged);
                return Err(e);
            }
        }
    }
    for (i, (tmp, target)) in staged.iter().enumerate() {
        if let Err(e) = fs::rename(tmp, target) {
            cleanup(&staged[i..]);
            let done: Vec<String> =
                staged[..i].iter().map(|(_, t)| t.display().to_string()).collect();
            return Err(ConfigError::Refused {
                refusal: format!(
                    "cannot replace {}: {e}. Already replaced: [{}]. platform.yaml still records the previous values, so running `platctl init` again completes the change",
                    target.display(),
                    done.join(", ")
                ),
            });
        }
        if let Some(dir) = target.parent()
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn stage(target: &Path, content: &str) -> Result<PathBuf, ConfigError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io("create folder", dir))?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.platctl-init-{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        if let Ok(meta) = fs::metadata(target) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(content.as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io("write", &tmp)(e)
    })?;
    Ok(tmp)
}
