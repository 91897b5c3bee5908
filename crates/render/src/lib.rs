//! `platctl render`: the whole GitOps tree of an environment, rendered offline
//! the way Argo CD would render it, with the real `helm` and `kubectl`.
//!
//! [`render_env`] starts from the environment's Terraform bootstrap (the
//! `argocd-bootstrap` module's `helm_release`s: Argo CD and the root
//! Application), then walks the app-of-apps tree: chart sources from the chart
//! cache (never the network), path sources as plain manifests, kustomize, or
//! a chart folder. It returns every Application with its objects, each placed
//! in the sync (phase, wave, and position in the whole tree). [`write`] puts a
//! render on disk, one file per Application, every object annotated with
//! `render.platctl.io/*`. See docs/render.md.

pub mod apis;
pub mod app;
pub mod chart;
mod engine;
pub mod error;
pub mod model;
pub mod output;
pub mod sync;
pub mod terraform;
pub mod yaml;

pub use chart::resolve_cache;
pub use engine::{Progress, RenderOptions, render_env};
pub use error::RenderError;
pub use model::{HelmArg, HelmCall, Object, Origin, Render, RenderedApp, Skipped, SourceInfo};
pub use output::{summary, write};
pub use sync::{Phase, Step, SyncOrder};
