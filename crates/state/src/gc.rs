//! `platctl state gc`: reclaim version content that no version lists.
//!
//! A state write stores its content while it checks the lock and the serial
//! (to save a round trip), so a refused write leaves its content object
//! behind, unlisted: a version is listed only when its metadata exists too. A
//! crash during the store probe leaves a probe object. Nothing else ever
//! becomes garbage: versions are never deleted.
//!
//! Safety: gc deletes only content objects that have no metadata and are
//! older than `min_age`, and it does so while holding the env's lock (a
//! content object is re-used by a write of the same content, and every write
//! needs the lock). A locked env is skipped and reported. It never touches a
//! listed version, a lock or the current state.

use std::time::Duration;

use platctl_audit::{Action, AuditEvent, Outcome};
use serde::Serialize;

use crate::{Actor, LockInfo, Result, StateError, StateStore, validate_env, versions};

/// What `gc` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub store: String,
    pub dry_run: bool,
    pub min_age_seconds: u64,
    pub envs: Vec<EnvGc>,
    /// Leftover objects of an interrupted store probe (`_platctl/probe/`).
    pub probe_leftovers: Vec<GcObject>,
}

impl GcReport {
    /// Objects removed (or, in a dry run, that would be).
    pub fn removed(&self) -> impl Iterator<Item = &GcObject> {
        self.envs.iter().flat_map(|e| e.removed.iter()).chain(self.probe_leftovers.iter())
    }
}

/// One env's part of a [`GcReport`].
#[derive(Debug, Clone, Serialize)]
pub struct EnvGc {
    pub env: String,
    /// Unlisted content objects removed (or that would be, in a dry run).
    pub removed: Vec<GcObject>,
    /// Unlisted content objects kept because they are younger than `min_age`
    /// (a write may still be recording their metadata).
    pub too_young: usize,
    /// Metadata objects without content: never written by platctl (a person
    /// deleted the content?). Reported, never removed.
    pub metadata_without_content: usize,
    /// Why the env was skipped (it was locked), if it was.
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GcObject {
    pub key: String,
    pub size: u64,
    pub age_seconds: i64,
}

impl StateStore {
    /// Remove unlisted version content older than `min_age` in `env` (or in
    /// every env), and probe leftovers. A dry run only reports.
    pub async fn gc(
        &self,
        env: Option<&str>,
        min_age: Duration,
        dry_run: bool,
        actor: &Actor,
    ) -> Result<GcReport> {
        let envs = match env {
            Some(env) => {
                validate_env(env)?;
                vec![env.to_owned()]
            }
            None => self.env_names().await?,
        };
        let min_age_seconds = min_age.as_secs();
        let old_enough = |age: i64| u64::try_from(age).is_ok_and(|a| a >= min_age_seconds);
        let mut report = GcReport {
            store: self.store().url().to_owned(),
            dry_run,
            min_age_seconds,
            envs: Vec::new(),
            probe_leftovers: Vec::new(),
        };
        for env in envs {
            let found = versions::unlisted(self.store(), &env).await?;
            let mut row = EnvGc {
                env: env.clone(),
                removed: Vec::new(),
                too_young: found.contents.iter().filter(|c| !old_enough(c.2)).count(),
                metadata_without_content: found.metas,
                skipped: None,
            };
            let candidates = found.contents.iter().any(|c| old_enough(c.2));
            if !candidates || dry_run {
                row.removed = gc_objects(found.contents, old_enough);
                report.envs.push(row);
                continue;
            }
            let info =
                LockInfo::new("platctl-gc", &actor.name, "reclaiming unlisted version content");
            let lock_id = info.id.clone();
            match self.lock(&env, info, actor).await {
                Ok(_) => {}
                Err(StateError::Locked { holder, .. }) => {
                    row.skipped = Some(format!(
                        "locked by {} (lock ID {}): run gc again once it is released",
                        holder.who, holder.id
                    ));
                    report.envs.push(row);
                    continue;
                }
                Err(e) => return Err(e),
            }
            // Under the lock no write is in flight: list again and delete what
            // is still unlisted.
            let removed = self.remove_unlisted(&env, old_enough).await;
            let unlocked = self.unlock(&env, &lock_id, actor).await;
            row.removed = removed?;
            unlocked?;
            if !row.removed.is_empty() {
                self.audit(
                    AuditEvent::new(Action::Gc, Outcome::Success, &actor.name)
                        .env(&env)
                        .detail("removed", row.removed.len())
                        .detail("bytes", row.removed.iter().map(|o| o.size).sum::<u64>()),
                )
                .await;
            }
            report.envs.push(row);
        }
        if env.is_none() {
            let now = time::OffsetDateTime::now_utc();
            let probes = self.store().list("_platctl/probe").await?;
            for entry in probes {
                let age = (now - entry.last_modified).whole_seconds();
                if !old_enough(age) {
                    continue;
                }
                if !dry_run {
                    self.store().delete(&entry.key).await?;
                }
                report.probe_leftovers.push(GcObject {
                    key: entry.key,
                    size: entry.size,
                    age_seconds: age,
                });
            }
        }
        Ok(report)
    }

    async fn remove_unlisted(
        &self,
        env: &str,
        old_enough: impl Fn(i64) -> bool,
    ) -> Result<Vec<GcObject>> {
        let found = versions::unlisted(self.store(), env).await?;
        let doomed = gc_objects(found.contents, old_enough);
        for object in &doomed {
            self.store().delete(&object.key).await?;
        }
        Ok(doomed)
    }
}

fn gc_objects(
    contents: Vec<(String, u64, i64)>,
    old_enough: impl Fn(i64) -> bool,
) -> Vec<GcObject> {
    contents
        .into_iter()
        .filter(|c| old_enough(c.2))
        .map(|(key, size, age_seconds)| GcObject { key, size, age_seconds })
        .collect()
}
