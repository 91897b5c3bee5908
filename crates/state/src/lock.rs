use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Terraform's `statemgr.LockInfo`, with Terraform's own JSON field names, so
/// that a lock written by either platctl or Terraform's s3 backend is
/// understood by both. Unknown fields are ignored, missing ones default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LockInfo {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Operation", default)]
    pub operation: String,
    #[serde(rename = "Info", default)]
    pub info: String,
    #[serde(rename = "Who", default)]
    pub who: String,
    #[serde(rename = "Version", default)]
    pub version: String,
    /// RFC 3339 with nanoseconds, as Go's time.Time marshals it. Kept as text
    /// so a lock round-trips byte for byte. Written by the client: it is shown,
    /// never trusted for the lock's age (see [`LockInfo::locked_at`]).
    #[serde(rename = "Created", default)]
    pub created: String,
    #[serde(rename = "Path", default)]
    pub path: String,
    /// The authenticated principal that took the lock through platctl (a
    /// token name, or the operator running the CLI), set by platctl whatever
    /// the client sent. Only that principal, or an admin, may write under the
    /// lock or release it. Terraform ignores the field; a lock written by
    /// Terraform itself has none, and then only an admin may act on it.
    #[serde(rename = "PlatctlOwner", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When the lock object was created, by the store's clock (its
    /// last-modified time; a lock is written once, create-only). Filled in
    /// when a lock is read; never serialised.
    #[serde(skip)]
    pub locked_at: Option<OffsetDateTime>,
}

impl LockInfo {
    /// The largest LockInfo accepted. Terraform's is a few hundred bytes; a
    /// lock is re-read by every `state list`, metrics scrape and conflict.
    pub const MAX_BYTES: usize = 64 * 1024;

    /// A new lock request made by platctl itself.
    pub fn new(operation: &str, who: &str, info: &str) -> Self {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_owned(),
            info: info.to_owned(),
            who: who.to_owned(),
            version: format!("platctl/{}", env!("CARGO_PKG_VERSION")),
            created: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
            ..LockInfo::default()
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(format!(
                "the LockInfo is {} bytes; the limit is {} (Terraform's is a few hundred)",
                bytes.len(),
                Self::MAX_BYTES
            ));
        }
        let info: LockInfo = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if info.id.is_empty() {
            return Err("the lock has no ID".into());
        }
        Ok(info)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Seconds since the lock was taken, by the store's clock (0 for a
    /// LockInfo that was not read from the store). The client's `Created` is
    /// never used: it may be empty, skewed or in the future.
    pub fn age_seconds(&self) -> i64 {
        self.locked_at.map_or(0, |t| (OffsetDateTime::now_utc() - t).whole_seconds().max(0))
    }

    /// When the lock was taken: the store's time when known, else the
    /// client's `Created`, else "an unknown time".
    pub fn created_display(&self) -> String {
        match (self.locked_at.and_then(|t| t.format(&Rfc3339).ok()), self.created.is_empty()) {
            (Some(t), _) => t,
            (None, false) => self.created.clone(),
            (None, true) => "an unknown time".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_terraform_lock_json_and_keeps_field_names() {
        // As written by Terraform 1.11's s3 backend (statemgr.LockInfo marshalled by encoding/json).
        let tf = br#"{"ID":"5d3c1f0e-1111-2222-3333-444455556666","Operation":"OperationTypeApply","Info":"","Who":"alice@box","Version":"1.11.4","Created":"2026-11-25T10:00:00.123456789Z","Path":"infra-state/staging/terraform.tfstate"}"#;
        let info = LockInfo::parse(tf).expect("parse");
        assert_eq!(info.who, "alice@box");
        assert_eq!(info.owner, None, "a lock written by Terraform has no owner");
        let back: serde_json::Value = serde_json::from_slice(&info.to_json()).expect("json");
        assert_eq!(back["ID"], "5d3c1f0e-1111-2222-3333-444455556666");
        assert_eq!(back["Created"], "2026-11-25T10:00:00.123456789Z");
        assert!(back.get("PlatctlOwner").is_none());
        assert!(LockInfo::parse(b"{}").is_err());
        assert!(LockInfo::parse(b"not json").is_err());
    }

    #[test]
    fn size_is_bounded_and_age_comes_from_the_store_clock() {
        let big = format!(r#"{{"ID":"x","Info":"{}"}}"#, "a".repeat(LockInfo::MAX_BYTES));
        assert!(LockInfo::parse(big.as_bytes()).expect_err("too big").contains("limit"));
        // A client's Created in the future or empty says nothing about the age.
        let mut info =
            LockInfo::parse(br#"{"ID":"x","Created":"2999-01-01T00:00:00Z"}"#).expect("parse");
        assert_eq!(info.age_seconds(), 0);
        info.locked_at = Some(OffsetDateTime::now_utc() - time::Duration::seconds(90));
        assert!((90..100).contains(&info.age_seconds()), "{}", info.age_seconds());
        assert!(info.created_display().starts_with(&OffsetDateTime::now_utc().year().to_string()));
    }
}
