//! Denied attempts (401 and 403), recorded in a bounded way.
//!
//! A refused request changes nothing, so it must not cost an fsync each: an
//! anonymous client could otherwise fill the audit log and the disk's write
//! budget. Attempts are counted in memory by (action, env, actor, client,
//! status, reason) and written as one `denied` audit event per group, with its
//! count and first/last time, every flush interval and at shutdown. At most
//! [`MAX_GROUPS`] groups are kept per interval; further attempts are counted
//! in one overflow group. Only attempts at state-changing routes are audited
//! (reads have no audit action); every denial is counted in the request
//! metrics either way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use platctl_audit::{Action, AuditEvent, Outcome};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Distinct groups kept between two flushes.
pub const MAX_GROUPS: usize = 256;

/// Who was refused, as far as the server knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Who {
    /// No credentials at all.
    Anonymous,
    /// A token that is in no tokens file entry.
    UnknownToken,
    /// A known token: its principal's name.
    Principal(String),
}

impl Who {
    pub fn actor(&self) -> &str {
        match self {
            Who::Anonymous => "anonymous",
            Who::UnknownToken => "unknown-token",
            Who::Principal(name) => name,
        }
    }
}

/// One denied request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Denial {
    pub action: Action,
    pub env: Option<String>,
    pub who: Who,
    pub client: Option<IpAddr>,
    pub status: u16,
    /// `no token`, `unknown token`, `forbidden`, `not the lock owner`.
    pub reason: &'static str,
}

#[derive(Debug)]
struct Tally {
    count: u64,
    first: OffsetDateTime,
    last: OffsetDateTime,
}

#[derive(Debug, Default)]
pub struct DeniedLog {
    groups: Mutex<HashMap<Denial, Tally>>,
}

impl DeniedLog {
    pub fn record(&self, denial: Denial) {
        let now = OffsetDateTime::now_utc();
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let key = if groups.len() >= MAX_GROUPS && !groups.contains_key(&denial) {
            Denial {
                action: denial.action,
                env: None,
                who: Who::Principal("*".into()),
                client: None,
                status: denial.status,
                reason: "more groups than the audit keeps per interval",
            }
        } else {
            denial
        };
        let tally = groups.entry(key).or_insert(Tally { count: 0, first: now, last: now });
        tally.count += 1;
        tally.last = now;
    }

    /// The audit events for everything recorded since the last drain.
    pub fn drain(&self) -> Vec<AuditEvent> {
        let groups =
            std::mem::take(&mut *self.groups.lock().unwrap_or_else(PoisonError::into_inner));
        let mut events: Vec<AuditEvent> = groups
            .into_iter()
            .map(|(d, t)| {
                let mut ev = AuditEvent::new(d.action, Outcome::Denied, d.who.actor())
                    .detail("count", t.count)
                    .detail("first", t.first.format(&Rfc3339).unwrap_or_default())
                    .detail("last", t.last.format(&Rfc3339).unwrap_or_default())
                    .detail("status", d.status)
                    .detail("reason", d.reason);
                ev.time = t.last;
                if let Some(env) = d.env {
                    ev = ev.env(env);
                }
                if let Some(ip) = d.client {
                    ev = ev.detail("client", ip.to_string());
                }
                ev
            })
            .collect();
        events.sort_by_key(|e| e.time);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(env: &str, who: Who) -> Denial {
        Denial {
            action: Action::ForceUnlock,
            env: Some(env.into()),
            who,
            client: Some([127, 0, 0, 2].into()),
            status: 401,
            reason: "no token",
        }
    }

    #[test]
    fn aggregates_and_stays_bounded() {
        let log = DeniedLog::default();
        for _ in 0..500 {
            log.record(denial("staging", Who::Anonymous));
        }
        log.record(denial("staging", Who::Principal("ci".into())));
        let events = log.drain();
        assert_eq!(events.len(), 2);
        let anon = events.iter().find(|e| e.actor == "anonymous").expect("anonymous group");
        assert_eq!(anon.details["count"], 500);
        assert_eq!(anon.outcome, Outcome::Denied);
        assert!(events.iter().any(|e| e.actor == "ci"), "a known token is named");
        assert!(log.drain().is_empty(), "drained");

        for i in 0..MAX_GROUPS * 3 {
            log.record(denial(&format!("env-{i}"), Who::Anonymous));
        }
        let events = log.drain();
        assert_eq!(events.len(), MAX_GROUPS + 1, "bounded, with one overflow group");
        let total: u64 = events.iter().map(|e| e.details["count"].as_u64().unwrap_or(0)).sum();
        assert_eq!(total, (MAX_GROUPS * 3) as u64, "nothing is lost from the count");
    }
}
