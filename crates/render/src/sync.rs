//! When an object is applied: its phase and wave inside its Application, and
//! its position in the whole tree's sync.
//!
//! Inside one Application, Argo CD (gitops-engine `pkg/sync`) applies PreSync
//! hooks, then the Sync phase, then PostSync hooks; within a phase, waves in
//! ascending order. An object's wave is its `argocd.argoproj.io/sync-wave`,
//! else its `helm.sh/hook-weight`, else 0. Helm hooks map to Argo CD hooks:
//! `pre-install`/`pre-upgrade` to PreSync, `post-install`/`post-upgrade` to
//! PostSync; any other Helm hook (`test`, `pre-delete`, ...) is never run by
//! a sync, and `crd-install` is an ordinary resource. An Argo CD hook
//! annotation wins over Helm's.
//!
//! Across Applications: a parent applies a child Application in the child's
//! wave and, with the Application health check in argocd-cm, waits for it to
//! be healthy before its next wave. So an object's position is the chain of
//! (phase, wave) steps from the root Application down to it, compared
//! lexicographically. The Terraform bootstrap comes before all of it.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// A sync phase in which an object is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Phase {
    PreSync,
    Sync,
    PostSync,
    /// Run only when the sync fails.
    SyncFail,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::PreSync => "PreSync",
            Phase::Sync => "Sync",
            Phase::PostSync => "PostSync",
            Phase::SyncFail => "SyncFail",
        })
    }
}

/// One level of the sync: an object's phase and wave inside its Application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Step {
    pub phase: Phase,
    pub wave: i64,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.phase {
            Phase::Sync => write!(f, "{}", self.wave),
            p => write!(f, "{p}:{}", self.wave),
        }
    }
}

/// Where in the whole sync something happens. Orders like the real thing:
/// the Terraform bootstrap first (release by release), then Argo CD's chain of
/// steps from the root Application down.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum SyncOrder {
    /// Installed by Terraform's `helm_release` number `step` (Helm runs
    /// pre-install hooks, the release, then post-install hooks).
    Terraform { step: u32, within: Option<Step> },
    /// Applied by Argo CD; `steps` runs from the root Application down.
    ArgoCd { steps: Vec<Step> },
}

impl SyncOrder {
    /// The position of something applied at `step` inside the unit at `self`.
    pub fn child(&self, step: Step) -> SyncOrder {
        match self {
            SyncOrder::Terraform { step: s, .. } => {
                SyncOrder::Terraform { step: *s, within: Some(step) }
            }
            SyncOrder::ArgoCd { steps } => {
                let mut steps = steps.clone();
                steps.push(step);
                SyncOrder::ArgoCd { steps }
            }
        }
    }
}

impl fmt::Display for SyncOrder {
    /// `terraform:2`, `terraform:2/PreSync:-5`, `-10/-7/0`, `20/2/10/PostSync:0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncOrder::Terraform { step, within: None } => write!(f, "terraform:{step}"),
            SyncOrder::Terraform { step, within: Some(s) } => write!(f, "terraform:{step}/{s}"),
            SyncOrder::ArgoCd { steps } if steps.is_empty() => f.write_str("root"),
            SyncOrder::ArgoCd { steps } => {
                let parts: Vec<String> = steps.iter().map(Step::to_string).collect();
                f.write_str(&parts.join("/"))
            }
        }
    }
}

impl std::str::FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PreSync" => Ok(Phase::PreSync),
            "Sync" => Ok(Phase::Sync),
            "PostSync" => Ok(Phase::PostSync),
            "SyncFail" => Ok(Phase::SyncFail),
            other => Err(format!("unknown sync phase {other:?}")),
        }
    }
}

impl std::str::FromStr for Step {
    type Err = String;

    /// `-5` (the Sync phase) or `PreSync:3`, as [`Step`]'s `Display` writes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (phase, wave) = match s.split_once(':') {
            Some((p, w)) => (p.parse()?, w),
            None => (Phase::Sync, s),
        };
        let wave =
            wave.parse().map_err(|_| format!("sync step {s:?}: the wave is not an integer"))?;
        Ok(Step { phase, wave })
    }
}

impl std::str::FromStr for SyncOrder {
    type Err = String;

    /// Reads back what `Display` writes (the `render.platctl.io/sync-order`
    /// annotation), so checks on a render on disk compare positions exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "root" {
            return Ok(SyncOrder::ArgoCd { steps: Vec::new() });
        }
        if let Some(rest) = s.strip_prefix("terraform:") {
            let (step, within) = match rest.split_once('/') {
                Some((n, w)) => (n, Some(w.parse()?)),
                None => (rest, None),
            };
            let step = step
                .parse()
                .map_err(|_| format!("sync order {s:?}: the Terraform step is not a number"))?;
            return Ok(SyncOrder::Terraform { step, within });
        }
        let steps = s.split('/').map(str::parse).collect::<Result<Vec<Step>, _>>()?;
        Ok(SyncOrder::ArgoCd { steps })
    }
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

fn csv(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The object's wave: `argocd.argoproj.io/sync-wave`, else `helm.sh/hook-weight`, else 0
/// (an annotation that is not an integer counts as absent, as in gitops-engine).
pub fn wave(obj: &Value) -> i64 {
    annotation(obj, "argocd.argoproj.io/sync-wave")
        .and_then(|t| t.trim().parse().ok())
        .or_else(|| annotation(obj, "helm.sh/hook-weight").and_then(|t| t.trim().parse().ok()))
        .unwrap_or(0)
}

/// The phase the object is applied in, or why it is never applied by a sync.
pub fn phase(obj: &Value) -> Result<Phase, String> {
    if let Some(hooks) = annotation(obj, "argocd.argoproj.io/hook") {
        let mut phases = Vec::new();
        let mut skip = false;
        for h in csv(hooks) {
            match h {
                "PreSync" => phases.push(Phase::PreSync),
                "Sync" => phases.push(Phase::Sync),
                "PostSync" => phases.push(Phase::PostSync),
                "SyncFail" => phases.push(Phase::SyncFail),
                "Skip" => skip = true,
                _ => {}
            }
        }
        if let Some(first) = phases.iter().min() {
            return Ok(*first);
        }
        if skip {
            return Err("argocd.argoproj.io/hook: Skip".into());
        }
        // An unknown Argo CD hook type: no phase runs it.
        return Err(format!("argocd.argoproj.io/hook: {hooks} (no phase runs it)"));
    }
    if let Some(hooks) = annotation(obj, "helm.sh/hook") {
        if hooks.trim() == "crd-install" {
            return Ok(Phase::Sync);
        }
        let mut phases = Vec::new();
        for h in csv(hooks) {
            match h {
                "pre-install" | "pre-upgrade" => phases.push(Phase::PreSync),
                "post-install" | "post-upgrade" => phases.push(Phase::PostSync),
                _ => {}
            }
        }
        return phases.into_iter().min().ok_or_else(|| {
            format!("helm.sh/hook: {hooks} (Argo CD runs no such Helm hook in a sync)")
        });
    }
    Ok(Phase::Sync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(annotations: Value) -> Value {
        json!({"metadata": {"annotations": annotations}})
    }

    #[test]
    fn hooks_map_like_gitops_engine() {
        assert_eq!(phase(&json!({"metadata": {}})), Ok(Phase::Sync));
        assert_eq!(
            phase(&obj(json!({"helm.sh/hook": "pre-install,pre-upgrade"}))),
            Ok(Phase::PreSync)
        );
        assert_eq!(phase(&obj(json!({"helm.sh/hook": "post-install"}))), Ok(Phase::PostSync));
        assert_eq!(phase(&obj(json!({"helm.sh/hook": "crd-install"}))), Ok(Phase::Sync));
        assert!(phase(&obj(json!({"helm.sh/hook": "test"}))).is_err(), "helm test hooks never run");
        assert!(phase(&obj(json!({"helm.sh/hook": "pre-delete"}))).is_err());
        assert!(phase(&obj(json!({"argocd.argoproj.io/hook": "Skip"}))).is_err());
        // Argo CD's annotation wins over Helm's
        assert_eq!(
            phase(&obj(
                json!({"argocd.argoproj.io/hook": "PostSync", "helm.sh/hook": "pre-install"})
            )),
            Ok(Phase::PostSync)
        );
    }

    #[test]
    fn waves_fall_back_to_the_helm_hook_weight() {
        assert_eq!(wave(&obj(json!({"argocd.argoproj.io/sync-wave": "-5"}))), -5);
        assert_eq!(wave(&obj(json!({"helm.sh/hook-weight": "3"}))), 3);
        assert_eq!(
            wave(&obj(json!({"argocd.argoproj.io/sync-wave": "x", "helm.sh/hook-weight": "3"}))),
            3
        );
        assert_eq!(wave(&json!({})), 0);
    }

    #[test]
    fn order_is_the_chain_of_steps() {
        let sync = |wave| Step { phase: Phase::Sync, wave };
        let root = SyncOrder::ArgoCd { steps: vec![] };
        let platform = root.child(sync(-10));
        let cert_manager = platform.child(sync(-7));
        let deployment = cert_manager.child(sync(0));
        let env = root.child(sync(10));
        let bootstrap = SyncOrder::Terraform { step: 2, within: None };
        assert!(bootstrap < deployment, "Terraform's bootstrap comes first");
        assert!(deployment < env, "a child's objects before the parent's next wave");
        assert!(platform.child(sync(-9)).child(sync(5)) < cert_manager);
        let hook = cert_manager.child(Step { phase: Phase::PreSync, wave: 3 });
        assert!(hook < deployment, "PreSync hooks before the Sync phase");
        assert_eq!(deployment.to_string(), "-10/-7/0");
        assert_eq!(hook.to_string(), "-10/-7/PreSync:3");
        assert_eq!(bootstrap.child(sync(0)).to_string(), "terraform:2/0");
        for order in [&deployment, &hook, &bootstrap, &bootstrap.child(sync(0)), &root] {
            assert_eq!(order.to_string().parse::<SyncOrder>().as_ref(), Ok(order), "{order}");
        }
        assert_eq!(
            "20/2/10/PostSync:0".parse::<SyncOrder>().map(|o| o.to_string()),
            Ok("20/2/10/PostSync:0".to_owned())
        );
        for bad in ["", "x", "-10/Later:3", "terraform:x", "1/2.5"] {
            assert!(bad.parse::<SyncOrder>().is_err(), "{bad:?} must not parse");
        }
    }
}
