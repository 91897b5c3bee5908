//! OpenBao operator calls: seal status, initialisation with the unseal key
//! shares encrypted to named holders' PGP keys, unsealing, raft snapshots,
//! KV v2 writes (check-and-set) and the idempotent access configuration of
//! `platctl openbao configure`.
//!
//! Unseal key shares and root tokens are only ever held in [`Sensitive`]
//! values, whose `Debug` prints nothing; with PGP keys given, OpenBao
//! encrypts them itself and this process never sees them in clear.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bao::{BaoClient, BaoError, encode_path, error_text};

type Result<T> = std::result::Result<T, BaoError>;

/// A string that must never be logged: an unseal key share, a root token,
/// a secret value. `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(s: impl Into<String>) -> Self {
        Sensitive(s.into())
    }

    /// The value itself. Callers write it only to its intended sink (OpenBao,
    /// a holder's file, a terminal).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Sensitive {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// `GET /v1/sys/seal-status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealStatus {
    pub initialized: bool,
    pub sealed: bool,
    /// Threshold: shares needed to unseal.
    #[serde(rename = "t")]
    pub threshold: u32,
    /// Number of shares.
    #[serde(rename = "n")]
    pub shares: u32,
    /// Shares entered so far towards the threshold.
    pub progress: u32,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub storage_type: Option<String>,
}

/// What `sys/init` is asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub shares: u32,
    pub threshold: u32,
    /// Base64 of each holder's binary OpenPGP public key, in share order. Empty:
    /// the shares come back in clear.
    pub pgp_keys: Vec<String>,
    /// Base64 of the OpenPGP public key the root token is encrypted to.
    pub root_token_pgp_key: Option<String>,
}

/// What `sys/init` answers. With PGP keys, each share is the base64 of an
/// OpenPGP message only its holder can decrypt (to the hex share).
#[derive(Debug, Deserialize)]
pub struct InitResponse {
    pub keys_base64: Vec<Sensitive>,
    pub root_token: Sensitive,
}

/// One server's answer to `sys/storage/raft/snapshot(-force)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// The snapshot must come from this cluster (same unseal keys).
    SameCluster,
    /// Disaster recovery into a new cluster: the keyring comes from the
    /// snapshot, and the old cluster's shares unseal it afterwards.
    Force,
}

#[derive(Deserialize)]
struct ListData {
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct WriteData {
    version: u64,
}

impl BaoClient {
    async fn call(
        &self,
        method: reqwest::Method,
        api_path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String)> {
        let mut req = self.request(method, api_path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        Ok((status, text))
    }

    /// A call that must succeed (2xx); the body, parsed when non-empty.
    async fn ok_call(
        &self,
        method: reqwest::Method,
        api_path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Option<Value>> {
        let (status, text) = self.call(method, api_path, body).await?;
        match status {
            200..=299 => {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    serde_json::from_str(&text).map(Some).map_err(|e| BaoError::Protocol {
                        what: what.to_owned(),
                        detail: format!("not JSON: {e}"),
                    })
                }
            }
            403 => {
                Err(BaoError::Denied { what: what.to_owned(), policy_path: api_path.to_owned() })
            }
            s => {
                Err(BaoError::Http { what: what.to_owned(), status: s, detail: error_text(&text) })
            }
        }
    }

    /// `GET /v1/sys/seal-status` (unauthenticated).
    pub async fn seal_status(&self) -> Result<SealStatus> {
        let v = self
            .ok_call(reqwest::Method::GET, "sys/seal-status", None, "seal status")
            .await?
            .unwrap_or_default();
        serde_json::from_value(v)
            .map_err(|e| BaoError::Protocol { what: "seal status".into(), detail: e.to_string() })
    }

    /// `PUT /v1/sys/init`: initialise a new server. Refused by OpenBao when it
    /// is already initialised.
    pub async fn init(&self, req: &InitRequest) -> Result<InitResponse> {
        let mut body = json!({
            "secret_shares": req.shares,
            "secret_threshold": req.threshold,
        });
        if !req.pgp_keys.is_empty() {
            body["pgp_keys"] = json!(req.pgp_keys);
        }
        if let Some(k) = &req.root_token_pgp_key {
            body["root_token_pgp_key"] = json!(k);
        }
        let (status, text) = self.call(reqwest::Method::PUT, "sys/init", Some(&body)).await?;
        if !(200..=299).contains(&status) {
            return Err(BaoError::Http {
                what: "sys/init".into(),
                status,
                detail: error_text(&text),
            });
        }
        serde_json::from_str(&text).map_err(|e| BaoError::Protocol {
            // serde's message names the missing field, never a value.
            what: "sys/init".into(),
            detail: e.to_string(),
        })
    }

    /// `PUT /v1/sys/unseal` with one share (hex or base64, as OpenBao accepts).
    pub async fn unseal(&self, share: &Sensitive) -> Result<SealStatus> {
        let body = json!({ "key": share.expose() });
        let (status, text) = self.call(reqwest::Method::PUT, "sys/unseal", Some(&body)).await?;
        if !(200..=299).contains(&status) {
            // OpenBao's message ("invalid key", "message authentication failed")
            // never echoes the key.
            return Err(BaoError::Http {
                what: "sys/unseal".into(),
                status,
                detail: error_text(&text),
            });
        }
        serde_json::from_str(&text)
            .map_err(|e| BaoError::Protocol { what: "sys/unseal".into(), detail: e.to_string() })
    }

    /// `GET /v1/sys/storage/raft/snapshot`: the whole raft state, gzip'd.
    pub async fn raft_snapshot(&self) -> Result<Vec<u8>> {
        let resp = self
            .request(reqwest::Method::GET, "sys/storage/raft/snapshot")
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(match status {
                403 => BaoError::Denied {
                    what: "raft snapshot".into(),
                    policy_path: "sys/storage/raft/snapshot".into(),
                },
                s => BaoError::Http {
                    what: "raft snapshot".into(),
                    status: s,
                    detail: error_text(&text),
                },
            });
        }
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        if bytes.get(..2) != Some(&[0x1f, 0x8b][..]) {
            return Err(BaoError::Protocol {
                what: "raft snapshot".into(),
                detail: "the body is not a gzip stream; is the storage raft?".into(),
            });
        }
        Ok(bytes.to_vec())
    }

    /// `POST /v1/sys/storage/raft/snapshot[-force]`: replace the raft state.
    pub async fn raft_restore(&self, snapshot: Vec<u8>, mode: RestoreMode) -> Result<()> {
        let path = match mode {
            RestoreMode::SameCluster => "sys/storage/raft/snapshot",
            RestoreMode::Force => "sys/storage/raft/snapshot-force",
        };
        let resp = self
            .request(reqwest::Method::POST, path)
            .header("Content-Type", "application/octet-stream")
            .body(snapshot)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        match status {
            200..=299 => Ok(()),
            403 => Err(BaoError::Denied { what: "raft restore".into(), policy_path: path.into() }),
            s => Err(BaoError::Http {
                what: "raft restore".into(),
                status: s,
                detail: error_text(&text),
            }),
        }
    }

    /// KV v2 `LIST <mount>/metadata/<path>`: the names below `path` (sub
    /// folders end in `/`). Empty when nothing is there.
    pub async fn kv_list(&self, mount: &str, path: &str) -> Result<Vec<String>> {
        let api = format!("{}/metadata/{}", encode_path(mount), encode_path(path));
        let what = format!("{}/{} (list)", mount.trim_matches('/'), path.trim_matches('/'));
        let (status, text) =
            self.call(reqwest::Method::GET, &format!("{api}?list=true"), None).await?;
        match status {
            200 => {
                let env: Envelope<ListData> = serde_json::from_str(&text)
                    .map_err(|e| BaoError::Protocol { what, detail: e.to_string() })?;
                Ok(env.data.map(|d| d.keys).unwrap_or_default())
            }
            404 => Ok(Vec::new()),
            403 => Err(BaoError::Denied { what, policy_path: api }),
            s => Err(BaoError::Http { what, status: s, detail: error_text(&text) }),
        }
    }

    /// KV v2 write of a whole secret version. `cas`: `Some(0)` creates only
    /// (refused when the secret exists), `Some(n)` writes only over version n.
    /// Returns the new version. Values are never part of an error.
    pub async fn kv_write(
        &self,
        mount: &str,
        path: &str,
        data: &BTreeMap<String, Sensitive>,
        cas: Option<u64>,
    ) -> Result<u64> {
        let api = format!("{}/data/{}", encode_path(mount), encode_path(path));
        let what = format!("{}/{}", mount.trim_matches('/'), path.trim_matches('/'));
        let fields: serde_json::Map<String, Value> =
            data.iter().map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned()))).collect();
        let mut body = json!({ "data": fields });
        if let Some(c) = cas {
            body["options"] = json!({ "cas": c });
        }
        let (status, text) = self.call(reqwest::Method::POST, &api, Some(&body)).await?;
        drop(body);
        match status {
            200..=299 => {
                let env: Envelope<WriteData> = serde_json::from_str(&text).map_err(|e| {
                    BaoError::Protocol { what: what.clone(), detail: e.to_string() }
                })?;
                env.data.map(|d| d.version).ok_or(BaoError::Protocol {
                    what,
                    detail: "no version in the answer: is the mount KV version 2?".into(),
                })
            }
            400 if text.contains("check-and-set") => Err(BaoError::Http {
                what,
                status,
                detail:
                    "it changed since it was read (check-and-set mismatch); run the command again"
                        .into(),
            }),
            403 => Err(BaoError::Denied { what, policy_path: api }),
            s => Err(BaoError::Http { what, status: s, detail: error_text(&text) }),
        }
    }

    /// `GET /v1/sys/mounts`: mount path (with trailing `/`) -> type and options.
    pub async fn mounts(&self) -> Result<BTreeMap<String, Value>> {
        let v = self.ok_call(reqwest::Method::GET, "sys/mounts", None, "sys/mounts").await?;
        Ok(data_map(v))
    }

    /// `GET /v1/sys/auth`: auth mount path (with trailing `/`) -> type.
    pub async fn auth_mounts(&self) -> Result<BTreeMap<String, Value>> {
        let v = self.ok_call(reqwest::Method::GET, "sys/auth", None, "sys/auth").await?;
        Ok(data_map(v))
    }

    /// A plain authenticated write (`POST /v1/<path>`), for configuration.
    pub async fn write(&self, api_path: &str, body: &Value) -> Result<Option<Value>> {
        self.ok_call(reqwest::Method::POST, api_path, Some(body), api_path).await
    }

    /// A plain authenticated read; `None` on 404.
    pub async fn read(&self, api_path: &str) -> Result<Option<Value>> {
        let (status, text) = self.call(reqwest::Method::GET, api_path, None).await?;
        match status {
            200 => serde_json::from_str(&text).map(Some).map_err(|e| BaoError::Protocol {
                what: api_path.to_owned(),
                detail: e.to_string(),
            }),
            404 => Ok(None),
            403 => Err(BaoError::Denied {
                what: api_path.to_owned(),
                policy_path: api_path.to_owned(),
            }),
            s => Err(BaoError::Http {
                what: api_path.to_owned(),
                status: s,
                detail: error_text(&text),
            }),
        }
    }
}

/// `sys/mounts` and `sys/auth` answer with the mounts both at the top level
/// and under `data`; take `data` when present.
fn data_map(v: Option<Value>) -> BTreeMap<String, Value> {
    let Some(v) = v else { return BTreeMap::new() };
    let obj = v.get("data").cloned().unwrap_or(v);
    match obj {
        Value::Object(m) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// A holder's OpenPGP public key as OpenBao wants it: base64 of the binary
/// key. Accepts an ASCII-armored file (`gpg --armor --export`) or a binary
/// one (`gpg --export`), or a file that already holds the base64.
pub fn pgp_key_base64(bytes: &[u8]) -> std::result::Result<String, String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    let text = String::from_utf8_lossy(bytes);
    if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        // RFC 4880 §6.2: armor header lines, a blank line, base64 body, an
        // optional `=XXXX` CRC line, the tail line.
        let body: String = text
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
            .skip(1)
            .skip_while(|l| !l.trim().is_empty() && l.contains(':'))
            .take_while(|l| !l.starts_with("-----END"))
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('='))
            .collect();
        let raw = B64
            .decode(body.as_bytes())
            .map_err(|e| format!("armored key body is not base64: {e}"))?;
        return check_packet(&raw).map(|()| B64.encode(raw));
    }
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        check_packet(bytes)?;
        return Ok(B64.encode(bytes));
    }
    let compact: String = text.split_whitespace().collect();
    let raw = B64.decode(compact.as_bytes()).map_err(|_| {
        "neither an OpenPGP public key (armored or binary) nor its base64".to_owned()
    })?;
    check_packet(&raw).map(|()| compact)
}

/// The first OpenPGP packet must be a public key (tag 6).
fn check_packet(raw: &[u8]) -> std::result::Result<(), String> {
    let first = *raw.first().ok_or("the key is empty")?;
    if first & 0x80 == 0 {
        return Err("not an OpenPGP packet stream".into());
    }
    let tag = if first & 0x40 != 0 { first & 0x3f } else { (first >> 2) & 0x0f };
    if tag == 6 {
        Ok(())
    } else if tag == 5 {
        Err("this is a SECRET key: export the public key (`gpg --export`), never the private one"
            .into())
    } else {
        Err(format!("the first OpenPGP packet has tag {tag}, not a public key (6)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_never_print() {
        let s = Sensitive::new("s.rootToken123");
        assert_eq!(format!("{s:?}"), "<redacted>");
        let r: InitResponse = serde_json::from_str(
            r#"{"keys":["aa"],"keys_base64":["qg=="],"root_token":"s.rootToken123"}"#,
        )
        .expect("init response");
        let shown = format!("{r:?}");
        assert!(!shown.contains("rootToken123") && !shown.contains("qg=="), "{shown}");
    }

    #[test]
    fn pgp_keys_in_every_export_form() {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        // A minimal new-format public key packet header (tag 6) and payload.
        let raw = [0xC6u8, 0x03, 0x04, 0x01, 0x02];
        let b64 = B64.encode(raw);
        let armored = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n{b64}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
        );
        assert_eq!(pgp_key_base64(armored.as_bytes()).expect("armored"), b64);
        assert_eq!(pgp_key_base64(&raw).expect("binary"), b64);
        assert_eq!(pgp_key_base64(format!("{b64}\n").as_bytes()).expect("base64"), b64);
        // Old-format secret key packet (tag 5): refused with the fix.
        let secret = [0x94u8, 0x01, 0x04];
        let err = pgp_key_base64(&secret).expect_err("secret key");
        assert!(err.contains("SECRET key"), "{err}");
        assert!(pgp_key_base64(b"hello world").is_err());
    }
}
