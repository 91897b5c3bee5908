//! The chart cache and what the render needs to know about a chart before
//! Helm renders it: its real name and version, the CRDs in its own `crds/`
//! folder, and whether its templates look at `.Capabilities.APIVersions`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use crate::apis::{self, ApiResource};
use crate::error::RenderError;
use crate::yaml;

/// Choose the chart cache: explicit (`--charts`), then `$PLATCTL_CHARTS`
/// (passed in by the caller as `env`), then `../shared/charts` next to the
/// repository root.
pub fn resolve_cache(
    explicit: Option<&Path>,
    env: Option<&Path>,
    repo: &Path,
) -> Result<PathBuf, RenderError> {
    let candidates: Vec<PathBuf> = match (explicit, env) {
        (Some(p), _) => vec![p.to_path_buf()],
        (None, Some(p)) => vec![p.to_path_buf(), repo.join("../shared/charts")],
        (None, None) => vec![repo.join("../shared/charts")],
    };
    let mut looked = Vec::new();
    for c in candidates {
        if c.is_dir() {
            return Ok(c);
        }
        looked.push(c.display().to_string());
    }
    Err(RenderError::NoChartCache { looked: looked.join(", ") })
}

/// Packaged charts named `<chart>-<version>.tgz` in one folder.
#[derive(Debug, Clone)]
pub struct ChartCache {
    pub dir: PathBuf,
}

impl ChartCache {
    /// The cached file for `chart` at `version`, or an error naming both, the
    /// cache folder and the versions it does hold.
    pub fn lookup(&self, app: &str, chart: &str, version: &str) -> Result<PathBuf, RenderError> {
        let file = self.dir.join(format!("{chart}-{version}.tgz"));
        if file.is_file() {
            return Ok(file);
        }
        let mut have: Vec<String> = fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter_map(|n| {
                        let v = n.strip_prefix(chart)?.strip_prefix('-')?.strip_suffix(".tgz")?;
                        let first = v.trim_start_matches('v').chars().next()?;
                        first.is_ascii_digit().then(|| v.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        have.sort();
        let have = if have.is_empty() {
            format!("it has no version of {chart}")
        } else {
            format!("it has {chart} {}", have.join(", "))
        };
        Err(RenderError::ChartNotCached {
            app: app.to_owned(),
            chart: chart.to_owned(),
            version: version.to_owned(),
            cache: self.dir.clone(),
            have,
        })
    }
}

/// How a chart's templates use `.Capabilities.APIVersions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ApiUse {
    /// Never: the render does not depend on `--api-versions`.
    #[default]
    None,
    /// Only through `.Has "<literal>"`: a change matters only when one of the
    /// literals ([`ChartInfo::has_literals`]) becomes served.
    Literal,
    /// Through `.Has` with a computed argument: a change matters when the
    /// chart's text names the new `group/version` anywhere.
    Has,
    /// Some other way (ranging over it, passing it on): every change matters.
    Any,
}

/// What the render knows about one chart before rendering it.
#[derive(Debug)]
pub struct ChartInfo {
    pub name: String,
    pub version: String,
    pub api_use: ApiUse,
    /// The arguments of every `.APIVersions.Has "<literal>"` in the chart.
    pub has_literals: BTreeSet<String>,
    /// Kinds of the CRDs in the chart's own `crds/` folder, which
    /// `--include-crds` always renders.
    pub static_crds: Vec<ApiResource>,
    /// Files of the chart (and its vendored subcharts) that Helm reads as
    /// text, relative to the chart root; used to answer [`ChartInfo::mentions`]
    /// and to read values files that live inside the chart.
    files: BTreeMap<String, Vec<u8>>,
}

/// A field access to `APIVersions` (not the word in a description), and how
/// it is used: `.Has "<literal>"`, `.Has` with something else, or otherwise.
fn api_versions_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"\.APIVersions\b(?:\.Has\b\s*(?:"([^"]*)")?)?"#).expect("valid regex")
    })
}

impl ChartInfo {
    /// Read a packaged chart (`.tgz`).
    pub fn from_package(path: &Path) -> Result<Self, String> {
        let bytes = fs::read(path).map_err(|e| e.to_string())?;
        let mut files = BTreeMap::new();
        read_package(&bytes, "", &mut files, 0)?;
        Self::from_files(files)
    }

    /// Read a chart folder (a path source in the repository).
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        let mut files = BTreeMap::new();
        walk_dir(dir, dir, &mut files)?;
        Self::from_files(files)
    }

    fn from_files(files: BTreeMap<String, Vec<u8>>) -> Result<Self, String> {
        let meta = files.get("Chart.yaml").ok_or("no Chart.yaml at the chart's root")?;
        let meta = yaml::parse_stream(&String::from_utf8_lossy(meta))
            .map_err(|e| format!("Chart.yaml: {e}"))?;
        let meta = meta.first().cloned().unwrap_or_default();
        let text_of = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let name = text_of(&meta["name"]);
        let version = text_of(&meta["version"]);
        if name.is_empty() || version.is_empty() {
            return Err("Chart.yaml has no name or version".into());
        }
        let mut api_use = ApiUse::None;
        let mut has_literals = BTreeSet::new();
        let mut static_crds = Vec::new();
        for (rel, content) in &files {
            if rel.starts_with("crds/") {
                if is_manifest(rel) {
                    let docs = yaml::parse_stream(&String::from_utf8_lossy(content))
                        .map_err(|e| format!("{rel}: {e}"))?;
                    static_crds.extend(docs.iter().flat_map(apis::from_crd));
                }
                continue;
            }
            if !is_scanned(rel) {
                continue;
            }
            for m in api_versions_re().captures_iter(&String::from_utf8_lossy(content)) {
                let whole = m.get(0).map_or("", |w| w.as_str());
                let this = match m.get(1) {
                    Some(literal) => {
                        has_literals.insert(literal.as_str().to_owned());
                        ApiUse::Literal
                    }
                    None if whole.contains(".Has") => ApiUse::Has,
                    None => ApiUse::Any,
                };
                api_use = api_use.max(this);
            }
        }
        Ok(Self { name, version, api_use, has_literals, static_crds, files })
    }

    /// Whether any text of the chart (templates, helpers, values) contains
    /// `needle`, e.g. a `group/version` that a `.Capabilities.APIVersions.Has`
    /// check would have to spell out.
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.as_bytes();
        self.files
            .iter()
            .filter(|(rel, _)| is_scanned(rel))
            .any(|(_, c)| c.windows(needle.len()).any(|w| w == needle))
    }

    /// A file inside the chart, relative to its root.
    pub fn file(&self, rel: &str) -> Option<&[u8]> {
        self.files.get(rel.trim_start_matches("./")).map(Vec::as_slice)
    }
}

fn is_manifest(rel: &str) -> bool {
    rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".json")
}

/// Files whose text can influence a render: templates, helpers and values.
fn is_scanned(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    !name.ends_with(".md")
        && !name.eq_ignore_ascii_case("LICENSE")
        && !rel.contains("/crds/")
        && !rel.starts_with("crds/")
}

fn read_package(
    bytes: &[u8],
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    depth: usize,
) -> Result<(), String> {
    if depth > 8 {
        return Err("charts nested more than 8 levels deep".into());
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive.entries().map_err(|e| format!("not a gzip'd tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| format!("bad path in archive: {e}"))?;
        // The archive's first component is the chart's own folder.
        let rel: Vec<String> = path
            .components()
            .skip(1)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if rel.is_empty() {
            continue;
        }
        let rel = rel.join("/");
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(|e| format!("{rel}: {e}"))?;
        if let Some(sub) = rel.strip_prefix("charts/")
            && sub.ends_with(".tgz")
            && !sub.contains('/')
        {
            // A vendored dependency kept packaged: `charts/<dep>/...` once unpacked.
            let name = sub.trim_end_matches(".tgz");
            let dep = name.rsplit_once('-').map_or(name, |(n, _)| n);
            read_package(&content, &format!("{prefix}charts/{dep}/"), files, depth + 1)?;
            continue;
        }
        files.insert(format!("{prefix}{rel}"), content);
    }
    Ok(())
}

fn walk_dir(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if path.is_dir() {
            if !rel.ends_with(".git") {
                walk_dir(root, &path, files)?;
            }
        } else if path.is_file() {
            let content = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if rel.starts_with("charts/") && rel.ends_with(".tgz") {
                let name = rel.trim_start_matches("charts/").trim_end_matches(".tgz");
                let dep = name.rsplit_once('-').map_or(name, |(n, _)| n);
                read_package(&content, &format!("charts/{dep}/"), files, 1)?;
            } else {
                files.insert(rel, content);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
        let path = dir.join("demo-1.2.3.tgz");
        let file = fs::File::create(&path).expect("create");
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, format!("demo/{name}"), text.as_bytes()).expect("append");
        }
        tar.into_inner().expect("tar").finish().expect("gzip");
        path
    }

    #[test]
    fn reads_name_version_crds_and_api_version_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  group: demo.io\n  scope: Cluster\n  names: {kind: Widget}\n  versions: [{name: v1, served: true}]\n";
        let p = package(
            dir.path(),
            &[
                ("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.2.3\n"),
                ("crds/widget.yaml", crd),
                (
                    "templates/sm.yaml",
                    "{{ if .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" }}x{{ end }}",
                ),
                ("README.md", "uses .Capabilities.APIVersions freely"),
            ],
        );
        let info = ChartInfo::from_package(&p).expect("reads");
        assert_eq!((info.name.as_str(), info.version.as_str()), ("demo", "1.2.3"));
        assert_eq!(info.api_use, ApiUse::Literal, "README text does not count");
        assert_eq!(info.has_literals.iter().collect::<Vec<_>>(), ["monitoring.coreos.com/v1"]);
        assert_eq!(info.static_crds, vec![ApiResource::new("demo.io", "v1", "Widget", false)]);
        assert!(info.mentions("monitoring.coreos.com"));
        assert!(!info.mentions("argoproj.io"));
        assert!(info.file("Chart.yaml").is_some());

        let uses = |template: &str| {
            let p = package(
                dir.path(),
                &[
                    ("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.2.3\n"),
                    ("templates/t.yaml", template),
                ],
            );
            ChartInfo::from_package(&p).expect("reads").api_use
        };
        assert_eq!(uses("{{ toYaml .Capabilities.APIVersions }}"), ApiUse::Any);
        assert_eq!(uses("{{ if $.Capabilities.APIVersions.Has $gv }}x{{ end }}"), ApiUse::Has);
        assert_eq!(
            uses("description: APIVersions specifies the API versions to pass to Helm"),
            ApiUse::None
        );
    }

    #[test]
    fn a_missing_version_names_chart_version_cache_and_what_it_has() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["openbao-0.29.2.tgz", "openbao-extra-1.0.0.tgz", "other-1.0.0.tgz"] {
            fs::write(dir.path().join(f), b"x").expect("write");
        }
        let cache = ChartCache { dir: dir.path().to_path_buf() };
        let err = cache.lookup("openbao-csi-provider", "openbao", "0.29.3").expect_err("missing");
        let msg = err.to_string();
        for part in
            ["openbao-csi-provider", "chart openbao version 0.29.3", "it has openbao 0.29.2)"]
        {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(cache.lookup("x", "openbao", "0.29.2").is_ok());
        let none = cache.lookup("x", "loki", "6.55.0").expect_err("missing").to_string();
        assert!(none.contains("it has no version of loki"), "{none}");
    }

    #[test]
    fn cache_resolution_order() {
        let base = tempfile::tempdir().expect("tempdir");
        let repo = base.path().join("repo");
        let shared = base.path().join("shared/charts");
        let env = base.path().join("env-charts");
        for d in [&repo, &shared, &env] {
            fs::create_dir_all(d).expect("mkdir");
        }
        let canon = |p: PathBuf| fs::canonicalize(p).expect("canonical");
        assert_eq!(canon(resolve_cache(None, None, &repo).expect("shared")), canon(shared.clone()));
        assert_eq!(resolve_cache(None, Some(&env), &repo).expect("env"), env);
        let explicit = Path::new("/nonexistent/charts");
        let err = resolve_cache(Some(explicit), Some(&env), &repo).expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/charts") && err.to_string().contains("--charts")
        );
    }
}
