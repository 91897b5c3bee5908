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
//! - no state write without the lock holder's ID, and only by the principal
//!   that took the lock or an admin;
//! - a lock is taken only by a create-only write, and only on a store that
//!   passed the conditional-create probe;
//! - writes to one env are serialised, and the current state is replaced
//!   only if it is still the one the write read;
//! - versions are written create-only and never overwritten or deleted;
//! - a version is written before the current state points at its content.

mod env;
mod gc;
mod lock;
mod tfstate;
mod versions;

pub use env::validate_env;
pub use gc::{EnvGc, GcObject, GcReport};
pub use lock::LockInfo;
pub use tfstate::{MAX_DEPTH, StateMeta};
pub use versions::{VersionEntry, VersionMeta, VersionSource, VersionStatus};

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use platctl_audit::{Action, AuditEvent, AuditSink, Outcome};
use platctl_store::{ConditionalDelete, ConditionalPut, Created, Store, StoreError};
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
    #[error(
        "lock {} of env {env} was taken by {}; {actor:?} may not {action} it: only the principal that took a lock, or an admin, may write under it or release it",
        holder.id,
        holder.owner.as_deref().map_or_else(|| "a client outside platctl".to_owned(), |o| format!("{o:?}"))
    )]
    NotLockOwner { env: String, actor: String, action: &'static str, holder: Box<LockInfo> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("corrupt object: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A store error after part of an operation took effect: `changed` says
    /// what did (a plain [`StateError::Store`] means nothing changed).
    #[error("{error}. {changed}")]
    Partial { error: StoreError, changed: String },
}

pub type Result<T> = std::result::Result<T, StateError>;

/// The current state of an env, as read.
#[derive(Debug, Clone)]
pub struct CurrentState {
    pub bytes: Bytes,
    pub meta: StateMeta,
    pub sha256: String,
    pub last_modified: OffsetDateTime,
    /// The object's ETag: the state's next replacement is conditional on it.
    pub e_tag: Option<String>,
}

/// What a successful write did.
#[derive(Debug, Clone, Serialize)]
pub struct WriteOutcome {
    /// The version now current. `None` when the body equalled the current
    /// state, so nothing was written.
    pub version: Option<VersionMeta>,
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
    /// Seconds since the lock was taken, by the store's clock.
    pub age_seconds: i64,
    /// When the lock was taken, by the store's clock (RFC 3339).
    pub locked_at: Option<String>,
}

impl From<LockInfo> for LockStatus {
    fn from(info: LockInfo) -> Self {
        let locked_at = info
            .locked_at
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
        LockStatus { age_seconds: info.age_seconds(), locked_at, info }
    }
}

/// What `/metrics` shows of an env, read without downloading its state.
#[derive(Debug, Clone)]
pub struct EnvGauges {
    pub env: String,
    /// Size of the current state (from a HEAD), if there is one.
    pub state_bytes: Option<u64>,
    /// Age of the lock, if the env is locked.
    pub lock_age_seconds: Option<i64>,
}

/// Who is acting, and whether they may override lineage/serial checks and
/// act on a lock another principal took.
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

    /// Whether this actor may write under `lock` or release it.
    pub fn may_use(&self, lock: &LockInfo) -> bool {
        self.admin || lock.owner.as_deref() == Some(self.name.as_str())
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
    /// Locks this process created, by env: their LockInfo and the lock
    /// object's ETag. An unlock of one of them is a single DELETE conditional
    /// on that ETag, which removes exactly the object we wrote or nothing (if
    /// it was force-unlocked and re-taken meanwhile, the ETag no longer matches).
    held: Arc<std::sync::Mutex<HashMap<String, OwnLock>>>,
    /// One state write (or delete) at a time per env in this process, so that
    /// every write checks the serial against the state the previous one left.
    /// Across processes the replacement is conditional on the state's ETag.
    writers: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

#[derive(Debug, Clone)]
struct OwnLock {
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

/// How a new state relates to the current one.
#[derive(Debug, PartialEq, Eq)]
enum Succession {
    /// The same bytes: nothing to write.
    Identical,
    /// It may replace the current state.
    Follows,
    /// It may not; the message says why and what to do.
    Refused(String),
}

impl StateStore {
    pub fn new(store: Store, audit: Arc<dyn AuditSink>) -> Self {
        StateStore { store, audit, held: Arc::default(), writers: Arc::default() }
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
            e_tag: obj.e_tag,
        }))
    }

    /// The current state's bytes, unparsed (what the http backend's GET serves).
    pub async fn current_raw(&self, env: &str) -> Result<Option<Bytes>> {
        validate_env(env)?;
        Ok(self.store.get(&state_key(env)).await?.map(|o| o.bytes))
    }

    async fn env_names(&self) -> Result<Vec<String>> {
        let mut envs: Vec<String> = self
            .store
            .list_dirs("")
            .await?
            .into_iter()
            .filter(|d| validate_env(d).is_ok())
            .collect();
        envs.sort();
        Ok(envs)
    }

    /// Every env that has a state or a lock, with its summary.
    pub async fn list_envs(&self) -> Result<Vec<EnvSummary>> {
        let rows = futures::stream::iter(self.env_names().await?)
            .map(|env| async move {
                let key = state_key(&env);
                let (state, lock) = tokio::join!(self.store.get(&key), self.lock_holder(&env));
                let (state, lock) = (state?, lock?);
                let meta = state.as_ref().and_then(|o| StateMeta::parse(&o.bytes).ok());
                Ok::<_, StateError>((state.is_some() || lock.is_some()).then(|| EnvSummary {
                    serial: meta.as_ref().map(|m| m.serial),
                    lineage: meta.map(|m| m.lineage),
                    size: state.map(|o| o.bytes.len() as u64),
                    lock: lock.map(LockStatus::from),
                    env,
                }))
            })
            .buffered(8)
            .collect::<Vec<_>>()
            .await;
        rows.into_iter().filter_map(Result::transpose).collect()
    }

    /// Lock age and state size of every env, without downloading any state
    /// (a HEAD of each state, a GET of each lock, which is small).
    pub async fn gauges(&self) -> Result<Vec<EnvGauges>> {
        let rows = futures::stream::iter(self.env_names().await?)
            .map(|env| async move {
                let key = state_key(&env);
                let (head, lock) = tokio::join!(self.store.head(&key), self.lock_holder(&env));
                Ok::<_, StateError>(EnvGauges {
                    state_bytes: head?.map(|h| h.size),
                    lock_age_seconds: lock?.map(|l| l.age_seconds()),
                    env,
                })
            })
            .buffered(16)
            .collect::<Vec<_>>()
            .await;
        rows.into_iter().collect()
    }

    // ----- locking -------------------------------------------------------

    /// The current lock holder, if any, with the store's time of locking.
    pub async fn lock_holder(&self, env: &str) -> Result<Option<LockInfo>> {
        Ok(self.read_lock(env).await?.map(|(info, _)| info))
    }

    /// The lock and its ETag.
    async fn read_lock(&self, env: &str) -> Result<Option<(LockInfo, Option<String>)>> {
        validate_env(env)?;
        let Some(obj) = self.store.get(&lock_key(env)).await? else { return Ok(None) };
        let mut info = LockInfo::parse(&obj.bytes).map_err(|e| {
            StateError::Corrupt(format!(
                "lock file of env {env} is not Terraform LockInfo JSON: {e}"
            ))
        })?;
        info.locked_at = Some(obj.last_modified);
        Ok(Some((info, obj.e_tag)))
    }

    fn held_locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, OwnLock>> {
        // The map holds no invariant a panic could break: recover it.
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take the lock by create-only write, owned by `actor`. On conflict,
    /// returns the holder. Retrying a lock this actor already holds with the
    /// same ID succeeds (the first answer may have been lost).
    pub async fn lock(&self, env: &str, mut info: LockInfo, actor: &Actor) -> Result<LockInfo> {
        validate_env(env)?;
        if info.id.trim().is_empty() {
            return Err(StateError::InvalidState("lock request has an empty ID".into()));
        }
        self.store.ensure_conditional_create().await?;
        if info.path.is_empty() {
            info.path = format!("{}/{}", self.store.url(), state_key(env));
        }
        // The owner is who authenticated, whatever the client wrote.
        info.owner = Some(actor.name.clone());
        info.locked_at = None;
        let body = Bytes::from(info.to_json());
        let ours = |holder: &LockInfo| holder.id == info.id && holder.owner == info.owner;
        // Two tries: the holder may release between our create and our read.
        for _ in 0..2 {
            let created = match self.store.create_tagged(&lock_key(env), body.clone()).await {
                Ok(created) => created,
                // The create may have landed and only its answer been lost.
                Err(error) => match self.read_lock(env).await {
                    Ok(Some((holder, e_tag))) if ours(&holder) => {
                        tracing::warn!(env, error = %error, "the store reported an error, but the lock was taken");
                        (Created::Created, e_tag)
                    }
                    Ok(_) => return Err(error.into()),
                    Err(_) => {
                        return Err(StateError::Partial {
                            error,
                            changed: format!(
                                "Whether the lock of env {env} was taken is unknown: check `platctl state list`"
                            ),
                        });
                    }
                },
            };
            match created {
                (Created::Created, e_tag) => {
                    info.locked_at = Some(OffsetDateTime::now_utc());
                    if let Some(e_tag) = e_tag {
                        self.held_locks()
                            .insert(env.to_owned(), OwnLock { info: info.clone(), e_tag });
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
                (Created::AlreadyExists, _) => match self.read_lock(env).await? {
                    Some((holder, e_tag)) if ours(&holder) => {
                        if let Some(e_tag) = e_tag {
                            self.held_locks()
                                .insert(env.to_owned(), OwnLock { info: holder.clone(), e_tag });
                        }
                        return Ok(holder);
                    }
                    Some((holder, _)) => {
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
                    None => {}
                },
            }
        }
        Err(StateError::Conflict(format!("lock for env {env} is changing hands too fast; retry")))
    }

    /// Release the lock if `id` holds it and `actor` took it (or is an admin).
    pub async fn unlock(&self, env: &str, id: &str, actor: &Actor) -> Result<LockInfo> {
        validate_env(env)?;
        let mine = self.held_locks().get(env).filter(|h| h.info.id == id).cloned();
        if let Some(mine) = mine {
            if !actor.may_use(&mine.info) {
                return Err(self.not_owner(env, actor, "release", mine.info));
            }
            let outcome = match self.store.delete_if_match(&lock_key(env), &mine.e_tag).await {
                Ok(outcome) => outcome,
                Err(error) => return self.after_failed_unlock(env, mine.info, actor, error).await,
            };
            tracing::debug!(
                env,
                ?outcome,
                "unlock by conditional delete of the lock this process took"
            );
            if outcome != ConditionalDelete::Unsupported {
                self.forget_held(env, id);
            }
            if outcome == ConditionalDelete::Deleted {
                self.audit_unlocked(env, &mine.info, actor).await;
                return Ok(mine.info);
            }
        }
        // Not ours, changed since, or no conditional DELETE on this store:
        // read the lock, check the ID and the owner, then delete.
        let Some((holder, e_tag)) = self.read_lock(env).await? else {
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
        if !actor.may_use(&holder) {
            return Err(self.not_owner(env, actor, "release", holder));
        }
        match self.delete_lock_read(env, e_tag.as_deref()).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(StateError::Conflict(format!(
                    "the lock of env {env} changed while it was being released; nothing was removed. See `platctl state list`"
                )));
            }
            Err(error) => return self.after_failed_unlock(env, holder, actor, error).await,
        }
        self.forget_held(env, id);
        self.audit_unlocked(env, &holder, actor).await;
        Ok(holder)
    }

    /// Delete the lock object read with `e_tag`: conditionally where the store
    /// allows it (`Ok(false)`: it changed meanwhile, nothing was deleted).
    async fn delete_lock_read(
        &self,
        env: &str,
        e_tag: Option<&str>,
    ) -> std::result::Result<bool, StoreError> {
        if let Some(e_tag) = e_tag {
            match self.store.delete_if_match(&lock_key(env), e_tag).await? {
                ConditionalDelete::Deleted => return Ok(true),
                ConditionalDelete::Mismatch => return Ok(false),
                ConditionalDelete::Unsupported => {}
            }
        }
        self.store.delete(&lock_key(env)).await.map(|()| true)
    }

    fn forget_held(&self, env: &str, id: &str) {
        let mut held = self.held_locks();
        if held.get(env).is_some_and(|h| h.info.id == id) {
            held.remove(env);
        }
    }

    fn not_owner(
        &self,
        env: &str,
        actor: &Actor,
        action: &'static str,
        holder: LockInfo,
    ) -> StateError {
        StateError::NotLockOwner {
            env: env.to_owned(),
            actor: actor.name.clone(),
            action,
            holder: Box::new(holder),
        }
    }

    async fn audit_unlocked(&self, env: &str, holder: &LockInfo, actor: &Actor) {
        self.audit(
            AuditEvent::new(Action::Unlock, Outcome::Success, &actor.name)
                .env(env)
                .lock_id(&holder.id)
                .detail("held_seconds", holder.age_seconds()),
        )
        .await;
    }

    /// The store failed while deleting `holder`'s lock: find out whether the
    /// delete happened anyway, so the answer says what changed.
    async fn after_failed_unlock(
        &self,
        env: &str,
        holder: LockInfo,
        actor: &Actor,
        error: StoreError,
    ) -> Result<LockInfo> {
        match self.read_lock(env).await {
            Ok(Some((now, _))) if now.id == holder.id => Err(error.into()),
            Ok(_) => {
                tracing::warn!(env, error = %error, "the store reported an error, but the lock was released");
                self.forget_held(env, &holder.id);
                self.audit_unlocked(env, &holder, actor).await;
                Ok(holder)
            }
            Err(_) => Err(StateError::Partial {
                error,
                changed: format!(
                    "Whether lock {} of env {env} was released is unknown: check `platctl state list`",
                    holder.id
                ),
            }),
        }
    }

    /// Remove the lock whoever holds it. Returns the removed holder.
    pub async fn force_unlock(&self, env: &str, actor: &Actor, reason: &str) -> Result<LockInfo> {
        validate_env(env)?;
        let Some((holder, e_tag)) = self.read_lock(env).await? else {
            return Err(StateError::NotFound(format!("env {env} is not locked")));
        };
        match self.delete_lock_read(env, e_tag.as_deref()).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(StateError::Conflict(format!(
                    "the lock of env {env} changed hands while it was being removed; nothing was removed. See `platctl state list` and retry"
                )));
            }
            Err(error) => match self.read_lock(env).await {
                Ok(Some((now, _))) if now.id == holder.id => return Err(error.into()),
                Ok(_) => {
                    tracing::warn!(env, error = %error, "the store reported an error, but the lock was removed");
                }
                Err(_) => {
                    return Err(StateError::Partial {
                        error,
                        changed: format!(
                            "Whether lock {} of env {env} was removed is unknown: check `platctl state list`",
                            holder.id
                        ),
                    });
                }
            },
        }
        self.held_locks().remove(env);
        self.audit(
            AuditEvent::new(Action::ForceUnlock, Outcome::Success, &actor.name)
                .env(env)
                .lock_id(&holder.id)
                .detail("holder_who", holder.who.clone())
                .detail("holder_owner", holder.owner.clone().unwrap_or_default())
                .detail("held_seconds", holder.age_seconds())
                .detail("reason", reason),
        )
        .await;
        Ok(holder)
    }

    // ----- writing -------------------------------------------------------

    /// This process's writer slot for `env`.
    async fn writer_slot(&self, env: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let slot = {
            let mut writers =
                self.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if writers.len() > 1024 {
                writers.retain(|_, slot| Arc::strong_count(slot) > 1);
            }
            writers.entry(env.to_owned()).or_default().clone()
        };
        slot.lock_owned().await
    }

    /// Write a new current state. The caller must hold the lock with
    /// `lock_id`, and have taken it (or be an admin).
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
        // One write per env at a time here: each one checks its serial
        // against what the previous one left.
        let _slot = self.writer_slot(env).await;
        // The lock and the current state are independent reads: do them at
        // once, and store the new version's content meanwhile. Content alone
        // is not a version (a version is listed only once its metadata
        // exists, written below after every check passed), so a refused write
        // leaves at most an unlisted, content-addressed object (`state gc`).
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
            // A lock ID is not a credential: the caller records the denial.
            Some(holder) if !actor.may_use(&holder) => {
                return Err(self.not_owner(env, actor, "write under", holder));
            }
            Some(_) => {}
        }
        let current = current?;
        if let Some(cur) = &current {
            match check_succession(
                &cur.meta,
                &cur.sha256,
                &new_meta,
                &sha,
                opts.force && actor.admin,
            ) {
                Succession::Identical => return Ok(WriteOutcome { version: None }),
                Succession::Refused(msg) => {
                    self.audit(
                        audit_fail(Outcome::Conflict, &msg).serial(new_meta.serial).sha256(&sha),
                    )
                    .await;
                    return Err(StateError::Conflict(msg));
                }
                Succession::Follows => {}
            }
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
            previous: Some(
                current
                    .as_ref()
                    .map(|c| VersionMeta::make_id(c.meta.serial, &c.sha256))
                    .unwrap_or_default(),
            ),
        };
        // A state written by someone else (plain terraform, break-glass) is
        // versioned before we replace it, so it stays recoverable; that and the
        // new version's metadata are independent writes.
        let version = versions::write_meta(&self.store, &meta);
        let recorded = match &current {
            Some(cur) => {
                let (adopted, written) = tokio::join!(self.adopt(env, cur, actor), version);
                adopted.and(written)
            }
            None => version.await,
        };
        if let Err(e) = recorded {
            let changed = format!(
                "The current state of env {env} was not replaced; version {} may have been recorded (never current: `platctl state versions` marks it)",
                meta.id
            );
            return Err(self
                .partial_write(e, changed, &audit_fail(Outcome::Error, "store error"))
                .await);
        }
        if let Err(e) = self.replace_current(env, body, current.as_ref(), &meta).await {
            let outcome = if matches!(e, StateError::Conflict(_)) {
                Outcome::Conflict
            } else {
                Outcome::Error
            };
            self.audit(audit_fail(outcome, &e.to_string()).serial(meta.serial).sha256(&sha)).await;
            return Err(e);
        }
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
        Ok(WriteOutcome { version: Some(meta) })
    }

    async fn partial_write(
        &self,
        e: StateError,
        changed: String,
        event: &AuditEvent,
    ) -> StateError {
        self.audit(event.clone().detail("changed", changed.clone())).await;
        match e {
            StateError::Store(error) => StateError::Partial { error, changed },
            other => other,
        }
    }

    /// Point the current state at `body`, only if it is still `current` (the
    /// state this write read): create-only when there was none, conditional
    /// on its ETag where the store honours `If-Match`.
    async fn replace_current(
        &self,
        env: &str,
        body: Bytes,
        current: Option<&CurrentState>,
        meta: &VersionMeta,
    ) -> Result<()> {
        let key = state_key(env);
        let replaced = match current {
            None => self.store.create(&key, body.clone()).await.map(|c| c == Created::Created),
            Some(cur) => match cur.e_tag.as_deref() {
                Some(e_tag) => match self.store.put_if_match(&key, body.clone(), e_tag).await {
                    Ok(ConditionalPut::Written) => Ok(true),
                    Ok(ConditionalPut::Mismatch) => Ok(false),
                    Ok(ConditionalPut::Unsupported) => {
                        self.store.put(&key, body.clone()).await.map(|()| true)
                    }
                    Err(e) => Err(e),
                },
                None => self.store.put(&key, body.clone()).await.map(|()| true),
            },
        };
        match replaced {
            Ok(true) => Ok(()),
            Ok(false) => Err(StateError::Conflict(format!(
                "the current state of env {env} changed while this write was in flight (another writer replaced it), so it was not overwritten; \
                 version {} was recorded but never became current. Run terraform again to plan against the new state",
                meta.id
            ))),
            // The PUT may have landed and only its answer been lost: look.
            Err(error) => match self.store.get(&key).await {
                Ok(Some(now)) if sha256_hex(&now.bytes) == meta.sha256 => {
                    tracing::warn!(env, error = %error, "the store reported an error, but the state was written");
                    Ok(())
                }
                Ok(_) => Err(StateError::Partial {
                    error,
                    changed: format!(
                        "Version {} was recorded but the current state of env {env} was not replaced (the version is marked never current)",
                        meta.id
                    ),
                }),
                Err(_) => Err(StateError::Partial {
                    error,
                    changed: format!(
                        "Version {} was recorded; whether the current state of env {env} now points at it is unknown: check `platctl state show --env {env}`",
                        meta.id
                    ),
                }),
            },
        }
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
            // What it replaced was written outside platctl: unknown.
            previous: None,
        };
        versions::write_version(&self.store, &meta, cur.bytes.clone()).await
    }

    /// Delete the current state (versions are kept). Needs the lock: `lock_id`
    /// must hold it, and `actor` must have taken it or be an admin.
    pub async fn delete(&self, env: &str, lock_id: &str, actor: &Actor) -> Result<()> {
        validate_env(env)?;
        let _slot = self.writer_slot(env).await;
        match self.lock_holder(env).await? {
            None => return Err(StateError::NotLocked { env: env.to_owned() }),
            Some(holder) if holder.id != lock_id => {
                return Err(StateError::LockMismatch {
                    env: env.to_owned(),
                    given: lock_id.to_owned(),
                    holder: Box::new(holder),
                });
            }
            Some(holder) if !actor.may_use(&holder) => {
                return Err(self.not_owner(env, actor, "delete the state under", holder));
            }
            Some(_) => {}
        }
        let Some(cur) = self.current(env).await? else {
            return Err(StateError::NotFound(format!("env {env} has no state")));
        };
        self.adopt(env, &cur, actor).await?;
        if let Err(error) = self.store.delete(&state_key(env)).await {
            return Err(match self.store.exists(&state_key(env)).await {
                Ok(true) => error.into(),
                Ok(false) => StateError::Partial {
                    error,
                    changed: format!(
                        "The state of env {env} was deleted nonetheless (its versions are kept)"
                    ),
                },
                Err(_) => StateError::Partial {
                    error,
                    changed: format!(
                        "Whether the state of env {env} was deleted is unknown: check `platctl state show --env {env}`"
                    ),
                },
            });
        }
        self.audit(
            AuditEvent::new(Action::StateDelete, Outcome::Success, &actor.name)
                .env(env)
                .lock_id(lock_id)
                .serial(cur.meta.serial)
                .sha256(&cur.sha256),
        )
        .await;
        Ok(())
    }

    // ----- versions and rollback ----------------------------------------

    /// Every version of `env`, oldest first, each marked current, superseded,
    /// never current (a write that stopped after recording it) or unknown.
    pub async fn versions(&self, env: &str) -> Result<Vec<VersionEntry>> {
        validate_env(env)?;
        let (metas, current) = tokio::join!(versions::list(&self.store, env), self.current(env));
        let current_id = current?.map(|c| VersionMeta::make_id(c.meta.serial, &c.sha256));
        Ok(versions::classify(metas?, current_id.as_deref()))
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
        // The version's own bytes; only the serial's digits change.
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

/// Decide whether `new` may follow `cur`.
fn check_succession(
    cur: &StateMeta,
    cur_sha: &str,
    new: &StateMeta,
    new_sha: &str,
    force: bool,
) -> Succession {
    if new_sha == cur_sha {
        return Succession::Identical;
    }
    if force {
        return Succession::Follows;
    }
    if new.lineage != cur.lineage {
        return Succession::Refused(format!(
            "lineage change refused: the stored state has lineage {} but this write has {}. \
             This usually means a state from another configuration; an admin can force it",
            cur.lineage, new.lineage
        ));
    }
    if new.serial <= cur.serial {
        return Succession::Refused(format!(
            "serial regression refused: the stored state has serial {} but this write has serial {} \
             (a write must increase the serial; another writer may have written since you read). \
             Refresh with `terraform plan` and retry",
            cur.serial, new.serial
        ));
    }
    Succession::Follows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(serial: u64, lineage: &str) -> StateMeta {
        StateMeta { version: 4, serial, lineage: lineage.into(), terraform_version: None }
    }

    #[test]
    fn succession_is_identical_follows_or_refused() {
        let cur = meta(5, "L");
        assert_eq!(check_succession(&cur, "a", &meta(5, "L"), "a", false), Succession::Identical);
        assert_eq!(check_succession(&cur, "a", &meta(6, "L"), "b", false), Succession::Follows);
        assert!(matches!(
            check_succession(&cur, "a", &meta(5, "L"), "b", false),
            Succession::Refused(m) if m.contains("serial regression")
        ));
        assert!(matches!(
            check_succession(&cur, "a", &meta(6, "X"), "b", false),
            Succession::Refused(m) if m.contains("lineage change")
        ));
        assert_eq!(check_succession(&cur, "a", &meta(1, "X"), "b", true), Succession::Follows);
    }
}
