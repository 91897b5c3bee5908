//! Tokens for `platctl state serve`: stored as SHA-256 hashes, compared in
//! constant time, scoped to env patterns and permissions.

use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// GET state, versions, metrics.
    Read,
    /// POST and DELETE state, rollback (with lock).
    Write,
    /// LOCK and UNLOCK with the holder's ID.
    Lock,
    /// Everything, plus force-unlock and forced (lineage/serial) writes.
    Admin,
}

impl std::str::FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            "lock" => Ok(Permission::Lock),
            "admin" => Ok(Permission::Admin),
            other => Err(format!("unknown permission {other:?}: use read, write, lock or admin")),
        }
    }
}

/// One entry of the tokens file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// Env patterns: exact names, or a prefix followed by `*`.
    pub envs: Vec<String>,
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    pub tokens: Vec<TokenEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("cannot read tokens file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(
        "tokens file {path} is not valid: {reason}. Expected YAML: `tokens: [{{name, sha256, envs: [..], permissions: [read|write|lock|admin]}}]` (see `platctl state token`)"
    )]
    Invalid { path: String, reason: String },
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    envs: Vec<String>,
    permissions: Vec<Permission>,
}

impl Principal {
    /// Full access to every env (loopback-only mode without a tokens file).
    pub fn local_superuser(name: &str) -> Self {
        Principal {
            name: name.to_owned(),
            envs: vec!["*".into()],
            permissions: vec![Permission::Admin],
        }
    }

    pub fn may(&self, env: Option<&str>, perm: Permission) -> bool {
        let perm_ok = self.permissions.iter().any(|p| *p == perm || *p == Permission::Admin);
        let env_ok = env.is_none_or(|env| self.envs.iter().any(|pat| env_matches(pat, env)));
        perm_ok && env_ok
    }

    pub fn is_admin(&self) -> bool {
        self.permissions.contains(&Permission::Admin)
    }
}

fn env_matches(pattern: &str, env: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => env.starts_with(prefix),
        None => pattern == env,
    }
}

/// The set of accepted tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    entries: Vec<(TokenEntry, [u8; 32])>,
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Tokens, TokensError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| TokensError::Read { path: p.clone(), source })?;
        let file: TokensFile = serde_saphyr::from_str(&text)
            .map_err(|e| TokensError::Invalid { path: p.clone(), reason: e.to_string() })?;
        Tokens::from_entries(file.tokens).map_err(|reason| TokensError::Invalid { path: p, reason })
    }

    pub fn from_entries(entries: Vec<TokenEntry>) -> Result<Tokens, String> {
        if entries.is_empty() {
            return Err("it lists no tokens".into());
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let digest = hex::decode(e.sha256.trim())
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
                .ok_or_else(|| format!("token {:?}: sha256 must be 64 hex characters", e.name))?;
            if e.envs.is_empty() || e.permissions.is_empty() {
                return Err(format!("token {:?}: envs and permissions must not be empty", e.name));
            }
            out.push((e, digest));
        }
        Ok(Tokens { entries: out })
    }

    /// A single in-memory token (used by `platctl tf` for its one-time password).
    pub fn single(
        name: &str,
        token: &str,
        envs: Vec<String>,
        permissions: Vec<Permission>,
    ) -> Tokens {
        let entry = TokenEntry {
            name: name.to_owned(),
            sha256: hex::encode(sha256(token.as_bytes())),
            envs,
            permissions,
        };
        let digest = sha256(token.as_bytes());
        Tokens { entries: vec![(entry, digest)] }
    }

    /// Find the principal for a presented token. Compares against every entry
    /// in constant time so timing reveals neither the match nor its position.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let presented = sha256(token.as_bytes());
        let mut found: Option<&TokenEntry> = None;
        for (entry, digest) in &self.entries {
            if bool::from(presented.ct_eq(digest)) && found.is_none() {
                found = Some(entry);
            }
        }
        found.map(|e| Principal {
            name: e.name.clone(),
            envs: e.envs.clone(),
            permissions: e.permissions.clone(),
        })
    }
}

/// The token in an Authorization header: Basic (password part, as Terraform's
/// http backend sends username/password) or Bearer.
pub fn presented_token(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(rest.trim().to_owned()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (_user, password) = text.split_once(':')?;
            Some(password.to_owned())
        }
        _ => None,
    }
}

/// A new random token (256 bits, hex).
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("plt_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_envs_and_permissions() {
        let tokens = Tokens::from_entries(vec![TokenEntry {
            name: "ci".into(),
            sha256: hex::encode(sha256(b"s3cret")),
            envs: vec!["staging".into(), "dev-*".into()],
            permissions: vec![Permission::Read, Permission::Lock],
        }])
        .expect("valid");
        let p = tokens.authenticate("s3cret").expect("known token");
        assert!(p.may(Some("staging"), Permission::Read));
        assert!(p.may(Some("dev-42"), Permission::Lock));
        assert!(!p.may(Some("production"), Permission::Read));
        assert!(!p.may(Some("staging"), Permission::Write));
        assert!(!p.is_admin());
        assert!(tokens.authenticate("s3cret ").is_none());
        assert!(tokens.authenticate("").is_none());
    }

    #[test]
    fn reads_basic_and_bearer() {
        let basic =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("platctl:tok:en"));
        assert_eq!(presented_token(&basic).as_deref(), Some("tok:en"));
        assert_eq!(presented_token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(presented_token("Digest x"), None);
    }
}
