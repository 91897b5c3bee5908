use bytes::Bytes;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The deepest nesting of arrays and objects accepted in a state. Terraform's
/// own states stay far below it; `serde_json` (used to read states back, e.g.
/// for `state show`) refuses documents deeper than 128.
pub const MAX_DEPTH: usize = 100;

/// The fields of a Terraform state file that platctl checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMeta {
    pub version: u64,
    pub serial: u64,
    pub lineage: String,
    pub terraform_version: Option<String>,
}

/// Accepts a JSON object, ignoring its content.
struct AnObject;

impl<'de> Deserialize<'de> for AnObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnObject)
            }
        }
        d.deserialize_map(V)
    }
}

/// Accepts a JSON array of objects, ignoring their content.
struct ArrayOfObjects;

impl<'de> Deserialize<'de> for ArrayOfObjects {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ArrayOfObjects;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ArrayOfObjects, A::Error> {
                while seq.next_element::<AnObject>()?.is_some() {}
                Ok(ArrayOfObjects)
            }
        }
        d.deserialize_seq(V)
    }
}

impl StateMeta {
    /// Parse and validate: JSON nested at most [`MAX_DEPTH`] deep, `version`
    /// 4, a non-empty `lineage`, an integer `serial`, `resources` an array of
    /// objects and `outputs` an object (each when present).
    pub fn parse(bytes: &[u8]) -> Result<StateMeta, String> {
        #[derive(Deserialize)]
        struct Raw {
            version: Option<serde_json::Value>,
            serial: Option<serde_json::Value>,
            lineage: Option<serde_json::Value>,
            terraform_version: Option<String>,
            #[serde(default, deserialize_with = "resources")]
            #[allow(dead_code)]
            resources: Option<ArrayOfObjects>,
            #[serde(default, deserialize_with = "outputs")]
            #[allow(dead_code)]
            outputs: Option<AnObject>,
        }
        // serde_json's own message names the type, not the field.
        fn resources<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ArrayOfObjects>, D::Error> {
            Option::<ArrayOfObjects>::deserialize(d).map_err(|e| {
                de::Error::custom(format!("\"resources\" must be an array of objects ({e})"))
            })
        }
        fn outputs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AnObject>, D::Error> {
            Option::<AnObject>::deserialize(d)
                .map_err(|e| de::Error::custom(format!("\"outputs\" must be an object ({e})")))
        }
        let depth = max_depth(bytes);
        if depth > MAX_DEPTH {
            return Err(format!(
                "the state is nested {depth} levels deep; the limit is {MAX_DEPTH} (Terraform's states stay far below it)"
            ));
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

/// The deepest nesting of `[` and `{` in a JSON text (strings skipped).
/// Linear and allocation-free: it runs before any parser sees the body.
fn max_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The same state with another serial: only the digits of the top-level
/// `"serial"` value change; every other byte (field order, formatting,
/// whitespace) is the stored version's.
pub fn with_serial(bytes: &[u8], serial: u64) -> Result<Bytes, String> {
    let spans = top_level_value_spans(bytes, "serial")?;
    if spans.is_empty() {
        return Err("stored version has no top-level \"serial\"".into());
    }
    let digits = serial.to_string();
    let mut out = Vec::with_capacity(bytes.len() + digits.len());
    let mut pos = 0;
    for (start, end) in spans {
        out.extend_from_slice(&bytes[pos..start]);
        out.extend_from_slice(digits.as_bytes());
        pos = end;
    }
    out.extend_from_slice(&bytes[pos..]);
    let check = StateMeta::parse(&out).map_err(|e| format!("stored version: {e}"))?;
    if check.serial != serial {
        return Err("stored version's serial could not be rewritten".into());
    }
    Ok(Bytes::from(out))
}

/// Byte ranges of the values of top-level object key `key`.
fn top_level_value_spans(bytes: &[u8], key: &str) -> Result<Vec<(usize, usize)>, String> {
    let bad = || "stored version is not a JSON object".to_owned();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return Err(bad());
    }
    i = skip_ws(bytes, i + 1);
    let mut spans = Vec::new();
    if bytes.get(i) == Some(&b'}') {
        return Ok(spans);
    }
    loop {
        let key_end = skip_value(bytes, i).ok_or_else(bad)?;
        let name: String = serde_json::from_slice(&bytes[i..key_end]).map_err(|_| bad())?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return Err(bad());
        }
        let start = skip_ws(bytes, i + 1);
        let end = skip_value(bytes, start).ok_or_else(bad)?;
        if name == key {
            spans.push((start, end));
        }
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b'}') => return Ok(spans),
            _ => return Err(bad()),
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The end of the JSON value starting at `i` (the input is known to be valid JSON).
fn skip_value(bytes: &[u8], i: usize) -> Option<usize> {
    match *bytes.get(i)? {
        b'"' => {
            let mut j = i + 1;
            loop {
                match *bytes.get(j)? {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
        }
        b'{' | b'[' => {
            let (mut depth, mut j, mut in_string, mut escaped) = (0usize, i, false, false);
            loop {
                let b = *bytes.get(j)?;
                j += 1;
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {
            let len = bytes[i..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || matches!(b, b',' | b'}' | b']'))
                .unwrap_or(bytes.len() - i);
            Some(i + len)
        }
    }
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
            (
                br#"{"version":4,"serial":1,"lineage":"a","resources":"garbage"}"#,
                "\"resources\" must be an array of objects",
            ),
            (
                br#"{"version":4,"serial":1,"lineage":"a","resources":[{}, 3]}"#,
                "\"resources\" must be an array of objects",
            ),
            (
                br#"{"version":4,"serial":1,"lineage":"a","outputs":[]}"#,
                "\"outputs\" must be an object",
            ),
        ] {
            let err = StateMeta::parse(bad).expect_err("must fail");
            assert!(err.contains(why), "{err} should mention {why}");
        }
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let deep = |n: usize| {
            format!(
                r#"{{"version":4,"serial":1,"lineage":"a","outputs":{{"x":{{"value":{}1{}}}}}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(StateMeta::parse(deep(MAX_DEPTH - 3).as_bytes()).is_ok());
        let err = StateMeta::parse(deep(100_000).as_bytes()).expect_err("too deep");
        assert!(err.contains("nested") && err.contains("limit"), "{err}");
        // Brackets inside strings do not count.
        let s = format!(r#"{{"version":4,"serial":1,"lineage":"{}"}}"#, "[{".repeat(500));
        assert!(StateMeta::parse(s.as_bytes()).is_ok());
    }

    #[test]
    fn with_serial_changes_only_the_serial_digits() {
        let stored = b"{\"resources\": [{\"a\": 1, \"serial\": 77}],\n \"lineage\":\"abc\",  \"serial\" :3,\"version\":4, \"z\":\"\\\"serial\\\": 5\"}\n";
        let out = with_serial(stored, 1234).expect("rewrite");
        let expected =
            String::from_utf8_lossy(stored).replacen("\"serial\" :3", "\"serial\" :1234", 1);
        assert_eq!(String::from_utf8_lossy(&out), expected);
        assert!(with_serial(b"[1]", 2).is_err());
        assert!(with_serial(br#"{"version":4,"lineage":"a"}"#, 2).is_err());
    }
}
