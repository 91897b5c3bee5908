//! Terraform state on an object store: layout, locking, immutable versions,
//! rollback, and an audit record for every change.
//!
//! Layout under the store prefix (interoperable with Terraform's s3 backend
//! when its `key` is `<prefix>/<env>/terraform.tfstate` and `use_lockfile = true`):
//!
//! ```text
//! <env>/terraform.tfstate                 current state (what terraform reads)
//! <env>/terraform.tfstate.tflock          lock: Terraform's LockInfo JSON, create-only
//! <env>/versions/<id>.tfstate             immutable copy of every state ever written
//! <env>/versions/<id>.json                its metadata (serial, lineage, sha256, ...)
//! ```
//!
//! Invariants (see ARCHITECTURE.md):
//! - no state write without the lock holder's ID;
//! - a lock is taken only by a create-only write, and only on a store that
//!   passed the conditional-create probe;
//! - versions are written create-only and never overwritten or deleted;
//! - a version is written before the current state points at its content.

mod env;
mod lock;
mod tfstate;
mod versions;

pub use env::validate_env;
pub use lock::LockInfo;
pub use tfstate::StateMeta;
pub use versions::{VersionMeta, VersionSource};

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use platctl_audit::{Action, AuditEvent, AuditSink, Outcome};
use platctl_store::{ConditionalDelete, Created, Store, StoreError};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "invalid env name {env:?}: {reason}. Use 1-63 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit"
    )]
    InvalidEnv { env: String, reason: &'static str },
    #[error("invalid state: {0}")]
    InvalidState(String),
    #[error("state for env {env} is locked by {} (lock ID {}, operation {}, since {})", holder.who, holder.id, holder.operation, holder.created_display())]
    Locked { env: String, holder: Box<LockInfo> },
    #[error(
        "state for env {env} is not locked: state writes require the lock. Run terraform with locking enabled (do not pass -lock=false)"
    )]
    NotLocked { env: String },
    #[error("lock ID mismatch for env {env}: you gave {given:?} but the lock is held by {} with ID {}", holder.who, holder.id)]
    LockMismatch { env: String, given: String, holder: Box<LockInfo> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("corrupt object: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, StateError>;

/// The current state of an env, as read.
#[derive(Debug, Clone)]
pub struct CurrentState {
    pub bytes: Bytes,
    pub meta: StateMeta,
    pub sha256: String,
    pub last_modified: OffsetDateTime,
}

/// What a successful write did.
#[derive(Debug, Clone, Serialize)]
pub struct WriteOutcome {
    /// The version now current. `None` when the body equalled the current state.
    pub version: Option<VersionMeta>,
    pub unchanged: bool,
}

/// One row of `platctl state list`.
#[derive(Debug, Clone, Serialize)]
pub struct EnvSummary {
    pub env: String,
    pub serial: Option<u64>,
    pub lineage: Option<String>,
    pub size: Option<u64>,
    pub lock: Option<LockStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockStatus {
    #[serde(flatten)]
    pub info: LockInfo,
    pub age_seconds: i64,
}

/// Who is acting, and whether they may override lineage/serial checks.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub admin: bool,
}

impl Actor {
    pub fn new(name: impl Into<String>) -> Self {
        Actor { name: name.into(), admin: false }
    }
    pub fn admin(name: impl Into<String>) -> Self {
        Actor { name: name.into(), admin: true }
    }
}

/// Options of a state write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Accept a lineage change or serial regression (admin only).
    pub force: bool,
    pub source: VersionSource,
    pub reason: Option<String>,
    pub rolled_back_from: Option<String>,
}

/// Terraform state on a store, with an audit sink.
#[derive(Clone)]
pub struct StateStore {
    store: Store,
    audit: Arc<dyn AuditSink>,
    /// Locks this process created, by env: their ID and the lock object's ETag.
    /// An unlock of one of them is a single DELETE conditional on that ETag,
    /// which removes exactly the object we wrote or nothing (if it was
    /// force-unlocked and re-taken meanwhile, the ETag no longer matches).
    held: Arc<std::sync::Mutex<HashMap<String, HeldLock>>>,
}

#[derive(Debug, Clone)]
struct HeldLock {
    info: LockInfo,
    e_tag: String,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore").field("store", &self.store).finish_non_exhaustive()
    }
}

pub(crate) fn state_key(env: &str) -> String {
    format!("{env}/terraform.tfstate")
}

pub(crate) fn lock_key(env: &str) -> String {
    format!("{env}/terraform.tfstate.tflock")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

impl StateStore {
    pub fn new(store: Store, audit: Arc<dyn AuditSink>) -> Self {
        StateStore { store, audit, held: Arc::default() }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The sink this store records to (for callers that record their own events).
    pub fn audit_sink(&self) -> Arc<dyn AuditSink> {
        self.audit.clone()
    }

    /// Record an audit event. A failing sink never fails the state operation
    /// (a stuck lock or a lost acknowledgement would be worse); it is logged
    /// at error level and counted by the caller's metrics.
    pub async fn audit(&self, event: AuditEvent) {
        let action = event.action.as_str();
        let recorded = match self.audit.record_async(&event) {
            Some(durable) => durable.await,
            None => {
                // This sink blocks (fsync); keep it off the async workers.
                let sink = self.audit.clone();
                match tokio::task::spawn_blocking(move || sink.record(&event)).await {
                    Ok(result) => result,
                    Err(e) => {
                        tracing::error!(error = %e, action, "audit task failed");
                        return;
                    }
                }
            }
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, action, "audit record failed");
        }
    }

    // ----- reading -------------------------------------------------------

    pub async fn current(&self, env: &str) -> Result<Option<CurrentState>> {
        validate_env(env)?;
        let Some(obj) = self.store.get(&state_key(env)).await? else { return Ok(None) };
        let meta = StateMeta::parse(&obj.bytes)
            .map_err(|e| StateError::Corrupt(format!("current state of env {env}: {e}")))?;
        Ok(Some(CurrentState {
            sha256: sha256_hex(&obj.bytes),
            bytes: obj.bytes,
            meta,
            last_modified: obj.last_modified,
        }))
    }

    /// The current state's bytes, unparsed (what the http backend's GET serves).
    pub async fn current_raw(&self, env: &str) -> Result<Option<Bytes>> {
        validate_env(env)?;
        Ok(self.store.get(&state_key(env)).await?.map(|o| o.bytes))
    }

    /// Every env that has a state or a lock, with its summary.
    pub async fn list_envs(&self) -> Result<Vec<EnvSummary>> {
        let mut envs: Vec<String> = self
            .store
            .list_dirs("")
            .await?
            .into_iter()
            .filter(|d| validate_env(d).is_ok())
            .collect();
        envs.sort();
        let mut out = Vec::with_capacity(envs.len());
        for env in envs {
            let state = self.store.get(&state_key(&env)).await?;
            let meta = state.as_ref().and_then(|o| StateMeta::parse(&o.bytes).ok());
            let lock = self
                .lock_holder(&env)
                .await?
                .map(|info| LockStatus { age_seconds: info.age_seconds(), info });
            if state.is_none() && lock.is_none() {
                continue;
            }
            out.push(EnvSummary {
                serial: meta.as_ref().map(|m| m.serial),
                lineage: meta.map(|m| m.lineage),
                size: state.map(|o| o.bytes.len() as u64),
                env,
                lock,
            });
        }
        Ok(out)
    }

    // ----- locking -------------------------------------------------------

    /// The current lock holder, if any.
    pub async fn lock_holder(&self, env: &str) -> Result<Option<LockInfo>> {
        validate_env(env)?;
        let Some(obj) = self.store.get(&lock_key(env)).await? else { return Ok(None) };
        LockInfo::parse(&obj.bytes).map(Some).map_err(|e| {
            StateError::Corrupt(format!(
                "lock file of env {env} is not Terraform LockInfo JSON: {e}"
            ))
        })
    }

    /// Take the lock by create-only write. On conflict, returns the holder.
    pub async fn lock(&self, env: &str, mut info: LockInfo, actor: &Actor) -> Result<LockInfo> {
        validate_env(env)?;
        if info.id.trim().is_empty() {
            return Err(StateError::InvalidState("lock request has an empty ID".into()));
        }
        self.store.ensure_conditional_create().await?;
        if info.path.is_empty() {
            info.path = format!("{}/{}", self.store.url(), state_key(env));
        }
        let body = Bytes::from(info.to_json());
        // Two tries: the holder may release between our create and our read.
        for _ in 0..2 {
            match self.store.create_tagged(&lock_key(env), body.clone()).await? {
                (Created::Created, e_tag) => {
                    if let Some(e_tag) = e_tag {
                        self.held_locks()
                            .insert(env.to_owned(), HeldLock { info: info.clone(), e_tag });
                    }
                    self.audit(
                        AuditEvent::new(Action::Lock, Outcome::Success, &actor.name)
                            .env(env)
                            .lock_id(&info.id)
                            .detail("operation", info.operation.clone())
                            .detail("who", info.who.clone()),
                    )
                    .await;
                    return Ok(info);
                }
                (Created::AlreadyExists, _) => {
                    if let Some(holder) = self.lock_holder(env).await? {
                        self.audit(
                            AuditEvent::new(Action::Lock, Outcome::Conflict, &actor.name)
                                .env(env)
                                .lock_id(&info.id)
                                .detail("holder_id", holder.id.clone())
                                .detail("holder_who", holder.who.clone()),
                        )
                        .await;
                        return Err(StateError::Locked {
                            env: env.to_owned(),
                            holder: Box::new(holder),
                        });
                    }
                }
            }
        }
        Err(StateError::Conflict(format!("lock for env {env} is changing hands too fast; retry")))
    }

    fn held_locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, HeldLock>> {
        // The map holds no invariant a panic could break: recover it.
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Release the lock if `id` holds it.
    pub async fn unlock(&self, env: &str, id: &str, actor: &Actor) -> Result<LockInfo> {
        validate_env(env)?;
        let mine = {
            let mut held = self.held_locks();
            match held.get(env) {
                Some(h) if h.info.id == id => held.remove(env),
                _ => None,
            }
        };
        if let Some(mine) = mine {
            let outcome = self.store.delete_if_match(&lock_key(env), &mine.e_tag).await?;
            tracing::debug!(
                env,
                ?outcome,
                "unlock by conditional delete of the lock this process took"
            );
            if outcome == ConditionalDelete::Deleted {
                self.audit(
                    AuditEvent::new(Action::Unlock, Outcome::Success, &actor.name)
                        .env(env)
                        .lock_id(id)
                        .detail("held_seconds", mine.info.age_seconds()),
                )
                .await;
                return Ok(mine.info);
            }
        }
        // Not ours, changed since, or no conditional DELETE on this store:
        // read the lock, check the ID, then delete.
        let Some(holder) = self.lock_holder(env).await? else {
            return Err(StateError::NotFound(format!("env {env} is not locked")));
        };
        if holder.id != id {
            self.audit(
                AuditEvent::new(Action::Unlock, Outcome::Conflict, &actor.name)
                    .env(env)
                    .lock_id(id)
                    .detail("holder_id", holder.id.clone()),
            )
            .await;
            return Err(StateError::LockMismatch {
                env: env.to_owned(),
                given: id.to_owned(),
                holder: Box::new(holder),
            });
        }
        self.store.delete(&lock_key(env)).await?;
        self.audit(
            AuditEvent::new(Action::Unlock, Outcome::Success, &actor.name)
                .env(env)
                .lock_id(id)
                .detail("held_seconds", holder.age_seconds()),
        )
        .await;
        Ok(holder)
    }

    /// Remove the lock whoever holds it. Returns the removed holder.
    pub async fn force_unlock(&self, env: &str, actor: &Actor, reason: &str) -> Result<LockInfo> {
        validate_env(env)?;
        let Some(holder) = self.lock_holder(env).await? else {
            return Err(StateError::NotFound(format!("env {env} is not locked")));
        };
        self.held_locks().remove(env);
        self.store.delete(&lock_key(env)).await?;
        self.audit(
            AuditEvent::new(Action::ForceUnlock, Outcome::Success, &actor.name)
                .env(env)
                .lock_id(&holder.id)
                .detail("holder_who", holder.who.clone())
                .detail("held_seconds", holder.age_seconds())
                .detail("reason", reason),
        )
        .await;
        Ok(holder)
    }

    // ----- writing -------------------------------------------------------

    /// Write a new current state. The caller must hold the lock with `lock_id`.
    pub async fn write(
        &self,
        env: &str,
        body: Bytes,
        lock_id: &str,
        actor: &Actor,
        opts: WriteOptions,
    ) -> Result<WriteOutcome> {
        validate_env(env)?;
        let audit_fail = |outcome: Outcome, why: &str| {
            AuditEvent::new(Action::StateWrite, outcome, &actor.name)
                .env(env)
                .lock_id(lock_id)
                .detail("error", why)
        };
        let new_meta = match StateMeta::parse(&body) {
            Ok(m) => m,
            Err(e) => {
                self.audit(audit_fail(Outcome::Invalid, &e)).await;
                return Err(StateError::InvalidState(e));
            }
        };
        let sha = sha256_hex(&body);
        let id = VersionMeta::make_id(new_meta.serial, &sha);
        // The lock and the current state are independent reads: do them at
        // once, and store the new version's content meanwhile. Content alone
        // is not a version (a version is listed only once its metadata
        // exists, written below after every check passed), so a refused write
        // leaves at most an unlisted, content-addressed object.
        let (holder, current, content) = tokio::join!(
            self.lock_holder(env),
            self.current(env),
            versions::write_data(&self.store, env, &id, body.clone())
        );
        match holder? {
            None => {
                self.audit(audit_fail(Outcome::Conflict, "not locked")).await;
                return Err(StateError::NotLocked { env: env.to_owned() });
            }
            Some(holder) if holder.id != lock_id => {
                self.audit(audit_fail(Outcome::Conflict, "lock id mismatch")).await;
                return Err(StateError::LockMismatch {
                    env: env.to_owned(),
                    given: lock_id.to_owned(),
                    holder: Box::new(holder),
                });
            }
            Some(_) => {}
        }
        let current = current?;
        if let Some(cur) = &current
            && let Err(msg) =
                check_succession(&cur.meta, &cur.sha256, &new_meta, &sha, opts.force && actor.admin)
        {
            if msg.is_empty() {
                // Identical to the current state: nothing to write.
                return Ok(WriteOutcome { version: None, unchanged: true });
            }
            self.audit(audit_fail(Outcome::Conflict, &msg).serial(new_meta.serial).sha256(&sha))
                .await;
            return Err(StateError::Conflict(msg));
        }
        content?;
        let meta = VersionMeta {
            id,
            env: env.to_owned(),
            serial: new_meta.serial,
            lineage: new_meta.lineage.clone(),
            sha256: sha.clone(),
            size: body.len() as u64,
            created: OffsetDateTime::now_utc(),
            actor: actor.name.clone(),
            source: opts.source,
            terraform_version: new_meta.terraform_version.clone(),
            reason: opts.reason.clone(),
            rolled_back_from: opts.rolled_back_from.clone(),
        };
        // A state written by someone else (plain terraform, break-glass) is
        // versioned before we replace it, so it stays recoverable; that and the
        // new version's metadata are independent writes.
        let version = versions::write_meta(&self.store, &meta);
        match &current {
            Some(cur) => {
                let (adopted, written) = tokio::join!(self.adopt(env, cur, actor), version);
                adopted?;
                written?;
            }
            None => version.await?,
        }
        self.store.put(&state_key(env), body).await?;
        let mut ev = AuditEvent::new(Action::StateWrite, Outcome::Success, &actor.name)
            .env(env)
            .lock_id(lock_id)
            .serial(meta.serial)
            .sha256(&sha)
            .detail("version", meta.id.clone())
            .detail("size", meta.size)
            .detail("source", meta.source.as_str());
        if let Some(prev) = &current {
            ev = ev.detail("previous_serial", prev.meta.serial);
        }
        if opts.force {
            ev = ev.detail("forced", true);
        }
        self.audit(ev).await;
        Ok(WriteOutcome { version: Some(meta), unchanged: false })
    }

    /// Version the current state if no version holds its exact content yet.
    async fn adopt(&self, env: &str, cur: &CurrentState, actor: &Actor) -> Result<()> {
        let id = VersionMeta::make_id(cur.meta.serial, &cur.sha256);
        if versions::exists(&self.store, env, &id).await? {
            return Ok(());
        }
        let meta = VersionMeta {
            id,
            env: env.to_owned(),
            serial: cur.meta.serial,
            lineage: cur.meta.lineage.clone(),
            sha256: cur.sha256.clone(),
            size: cur.bytes.len() as u64,
            created: cur.last_modified,
            actor: format!("external (adopted by {})", actor.name),
            source: VersionSource::Adopted,
            terraform_version: cur.meta.terraform_version.clone(),
            reason: Some("state written outside platctl; versioned before being replaced".into()),
            rolled_back_from: None,
        };
        versions::write_version(&self.store, &meta, cur.bytes.clone()).await
    }

    /// Delete the current state (versions are kept). Refused while another ID holds the lock.
    pub async fn delete(&self, env: &str, lock_id: Option<&str>, actor: &Actor) -> Result<()> {
        validate_env(env)?;
        if let Some(holder) = self.lock_holder(env).await?
            && Some(holder.id.as_str()) != lock_id
        {
            return Err(StateError::Locked { env: env.to_owned(), holder: Box::new(holder) });
        }
        let Some(cur) = self.current(env).await? else {
            return Err(StateError::NotFound(format!("env {env} has no state")));
        };
        self.adopt(env, &cur, actor).await?;
        self.store.delete(&state_key(env)).await?;
        self.audit(
            AuditEvent::new(Action::StateDelete, Outcome::Success, &actor.name)
                .env(env)
                .serial(cur.meta.serial)
                .sha256(&cur.sha256),
        )
        .await;
        Ok(())
    }

    // ----- versions and rollback ----------------------------------------

    pub async fn versions(&self, env: &str) -> Result<Vec<VersionMeta>> {
        validate_env(env)?;
        versions::list(&self.store, env).await
    }

    /// A version's metadata and content; the content's sha256 is verified.
    pub async fn version(&self, env: &str, id: &str) -> Result<(VersionMeta, Bytes)> {
        validate_env(env)?;
        versions::read(&self.store, env, id).await
    }

    /// Write version `to` back as the new current state, with serial = current + 1
    /// and the current lineage. Takes and releases the lock itself.
    pub async fn rollback(
        &self,
        env: &str,
        to: &str,
        reason: &str,
        actor: &Actor,
    ) -> Result<VersionMeta> {
        validate_env(env)?;
        if reason.trim().is_empty() {
            return Err(StateError::InvalidState("a rollback needs a --reason".into()));
        }
        let (target, body) = self.version(env, to).await?;
        let info =
            LockInfo::new("platctl-rollback", &actor.name, &format!("rollback to {to}: {reason}"));
        let lock_id = info.id.clone();
        self.lock(env, info, actor).await?;
        let result = self.rollback_locked(env, &target, body, &lock_id, reason, actor).await;
        let unlocked = self.unlock(env, &lock_id, actor).await;
        let meta = result?;
        unlocked?;
        Ok(meta)
    }

    async fn rollback_locked(
        &self,
        env: &str,
        target: &VersionMeta,
        body: Bytes,
        lock_id: &str,
        reason: &str,
        actor: &Actor,
    ) -> Result<VersionMeta> {
        let current = self.current(env).await?;
        let next_serial = current.as_ref().map_or(target.serial, |c| c.meta.serial + 1);
        if let Some(cur) = &current
            && cur.meta.lineage != target.lineage
        {
            return Err(StateError::Conflict(format!(
                "version {} has lineage {} but the current state of env {env} has lineage {}: a rollback keeps the lineage. \
                 Use `platctl state show --version {}` and a reviewed `terraform state push` if you really need the other lineage",
                target.id, target.lineage, cur.meta.lineage, target.id
            )));
        }
        let rewritten =
            tfstate::with_serial(&body, next_serial).map_err(StateError::InvalidState)?;
        let outcome = self
            .write(
                env,
                rewritten,
                lock_id,
                actor,
                WriteOptions {
                    force: false,
                    source: VersionSource::Rollback,
                    reason: Some(reason.to_owned()),
                    rolled_back_from: Some(target.id.clone()),
                },
            )
            .await?;
        let meta = outcome
            .version
            .ok_or_else(|| StateError::Conflict("rollback produced no new version".into()))?;
        self.audit(
            AuditEvent::new(Action::Rollback, Outcome::Success, &actor.name)
                .env(env)
                .serial(meta.serial)
                .sha256(&meta.sha256)
                .lock_id(lock_id)
                .detail("to_version", target.id.clone())
                .detail("new_version", meta.id.clone())
                .detail("reason", reason),
        )
        .await;
        Ok(meta)
    }
}

/// Decide whether `new` may follow `cur`. `Err("")` means identical (no-op);
/// `Err(msg)` a refusal.
fn check_succession(
    cur: &StateMeta,
    cur_sha: &str,
    new: &StateMeta,
    new_sha: &str,
    force: bool,
) -> std::result::Result<(), String> {
    if new_sha == cur_sha {
        return Err(String::new());
    }
    if force {
        return Ok(());
    }
    if new.lineage != cur.lineage {
        return Err(format!(
            "lineage change refused: the stored state has lineage {} but this write has {}. \
             This usually means a state from another configuration; an admin can force it",
            cur.lineage, new.lineage
        ));
    }
    if new.serial <= cur.serial {
        return Err(format!(
            "serial regression refused: the stored state has serial {} but this write has serial {} \
             (a write must increase the serial; another writer may have written since you read). \
             Refresh with `terraform plan` and retry",
            cur.serial, new.serial
        ));
    }
    Ok(())
}
