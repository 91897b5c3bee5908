use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The fields of a Terraform state file that platctl checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMeta {
    pub version: u64,
    pub serial: u64,
    pub lineage: String,
    pub terraform_version: Option<String>,
}

impl StateMeta {
    /// Parse and validate: JSON, `version` 4, a non-empty `lineage`, an integer `serial`.
    pub fn parse(bytes: &[u8]) -> Result<StateMeta, String> {
        #[derive(Deserialize)]
        struct Raw {
            version: Option<serde_json::Value>,
            serial: Option<serde_json::Value>,
            lineage: Option<serde_json::Value>,
            terraform_version: Option<String>,
        }
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| format!("the body is not a JSON Terraform state ({e})"))?;
        let version = raw
            .version
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .ok_or("the state has no numeric \"version\"")?;
        if version != 4 {
            return Err(format!(
                "state format version {version} is not supported (Terraform >= 0.12 writes version 4)"
            ));
        }
        let serial = raw
            .serial
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .ok_or("the state has no non-negative integer \"serial\"")?;
        let lineage = raw
            .lineage
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .filter(|l| !l.trim().is_empty())
            .ok_or("the state has no \"lineage\"")?
            .to_owned();
        Ok(StateMeta { version, serial, lineage, terraform_version: raw.terraform_version })
    }
}

/// The same state with another serial, formatted as Terraform formats state
/// (two-space indented JSON). Field order is preserved.
pub fn with_serial(bytes: &[u8], serial: u64) -> Result<Bytes, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("stored version is not JSON: {e}"))?;
    let obj = value.as_object_mut().ok_or("stored version is not a JSON object")?;
    obj.insert("serial".into(), serial.into());
    let mut out = serde_json::to_vec_pretty(&value).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_the_fields_terraform_needs() {
        let ok = br#"{"version":4,"terraform_version":"1.11.4","serial":3,"lineage":"abc","outputs":{},"resources":[]}"#;
        let meta = StateMeta::parse(ok).expect("valid");
        assert_eq!((meta.serial, meta.lineage.as_str()), (3, "abc"));
        for (bad, why) in [
            (&b"nope"[..], "not a JSON"),
            (br#"{"version":3,"serial":1,"lineage":"a"}"#, "version 3"),
            (br#"{"version":4,"lineage":"a"}"#, "serial"),
            (br#"{"version":4,"serial":-1,"lineage":"a"}"#, "serial"),
            (br#"{"version":4,"serial":1,"lineage":""}"#, "lineage"),
        ] {
            let err = StateMeta::parse(bad).expect_err("must fail");
            assert!(err.contains(why), "{err} should mention {why}");
        }
    }

    #[test]
    fn with_serial_changes_only_the_serial() {
        let ok = br#"{"version":4,"serial":3,"lineage":"abc","resources":[{"a":1}]}"#;
        let out = with_serial(ok, 9).expect("rewrite");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["serial"], 9);
        assert_eq!(v["lineage"], "abc");
        assert_eq!(v["resources"][0]["a"], 1);
    }
}
