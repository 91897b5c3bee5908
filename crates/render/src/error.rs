//! Everything that stops a render. Each message names what is wrong, where,
//! and what to do about it; Helm's and kustomize's own messages are kept.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no environment {env:?}: {} does not exist (environments: {known})",
        dir.display()
    )]
    NoSuchEnv { env: String, dir: PathBuf, known: String },

    #[error("{}: {message}", file.display())]
    Terraform { file: PathBuf, message: String },

    #[error(
        "environment {env} creates no Argo CD bootstrap: {reason}. Nothing to render for it with \
these variables (an environment without a cluster of its own is rendered with the environment \
whose cluster hosts it; pass --var to choose another topology)"
    )]
    NoBootstrap { env: String, reason: String },

    #[error(
        "no chart cache found (looked in: {looked}). Pass --charts DIR or set PLATCTL_CHARTS to a \
folder of packaged charts named <chart>-<version>.tgz (docs/render.md, \"The chart cache\")"
    )]
    NoChartCache { looked: String },

    #[error(
        "{app}: chart {chart} version {version} is not in the chart cache {} ({have}). The render \
never downloads: fix the pin, or add the chart to the cache (docs/render.md, \"Adding a chart\")",
        cache.display()
    )]
    ChartNotCached { app: String, chart: String, version: String, cache: PathBuf, have: String },

    #[error(
        "{app}: cache file {} holds chart {found}, not {chart} {version}; rename or replace it",
        file.display()
    )]
    ChartMismatch { app: String, file: PathBuf, found: String, chart: String, version: String },

    #[error("{app}: cannot read chart {}: {message}", file.display())]
    BadChart { app: String, file: PathBuf, message: String },

    #[error(
        "{app}: values file {file} does not exist (looked for {}); fix the path in the \
Application, or set helm.ignoreMissingValueFiles if it is optional",
        path.display()
    )]
    MissingValuesFile { app: String, file: String, path: PathBuf },

    #[error("{app}: helm template of {chart} failed; helm says:\n{message}")]
    Helm { app: String, chart: String, message: String },

    #[error("{app}: kubectl kustomize {path} failed; kustomize says:\n{message}")]
    Kustomize { app: String, path: String, message: String },

    #[error("cannot run {tool} ({}): {source}. Install it or pass --{tool} PATH", path.display())]
    Tool {
        tool: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{app}: source {repo_url} at {revision}, path {path:?}, is an external Git repository, which \
the render cannot read (it never uses the network) and which is not in the list of known external \
sources (docs/render.md, \"External sources\"){hint}"
    )]
    ExternalSource { app: String, repo_url: String, revision: String, path: String, hint: String },

    #[error("{app}: {message}")]
    Unsupported { app: String, message: String },

    #[error("{app}: {file}: {message}")]
    Manifest { app: String, file: String, message: String },

    #[error("{app}: source path {path:?} does not exist in the repository")]
    MissingPath { app: String, path: String },

    #[error(
        "Application {name} is defined twice: by {first} and by {second}; Argo CD would have the \
two fight over it"
    )]
    DuplicateApp { name: String, first: String, second: String },

    #[error(
        "the API versions the charts see did not settle after {rounds} rounds (still changing: \
{changing}); a chart that both provides CRDs and renders differently depending on them must \
not form a cycle"
    )]
    NoFixpoint { rounds: usize, changing: String },

    #[error(
        "output folder {} exists and is not a previous render (no {} file in it); choose another \
--out-dir or remove the folder",
        .0.display(), crate::output::MARKER
    )]
    OutDirNotRender(PathBuf),

    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RenderError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RenderError::Io { what, path: path.into(), source }
    }

    /// A problem with how the render was asked for (flags, cache folder,
    /// tools), as opposed to a problem in the tree being rendered.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RenderError::NoChartCache { .. }
                | RenderError::OutDirNotRender(_)
                | RenderError::Tool { .. }
        )
    }

    /// The environment does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RenderError::NoSuchEnv { .. })
    }
}
