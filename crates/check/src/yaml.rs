//! YAML documents with a line number on every node.
//!
//! Parsed by serde-saphyr (multi-document); every node is wrapped in
//! `serde_saphyr::Spanned` so rules and schema errors can point at a line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One YAML node and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

/// A mapping entry: the key text, the key's line, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_line: usize,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

static NULL: Node = Node { line: 0, value: Value::Null };

impl Node {
    /// The value at `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Follow a path of mapping keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        let mut cur = self;
        for key in path {
            cur = cur.get(key)?;
        }
        Some(cur)
    }

    /// The line of the key `key` (when present), else this node's line.
    pub fn key_line(&self, key: &str) -> usize {
        self.entry(key).map_or(self.line, |e| e.key_line)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Scalars as text (numbers and booleans included), for lenient comparisons.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn seq(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// `get` that yields a null node instead of `None`, for chained lookups.
    pub fn field(&self, key: &str) -> &Node {
        self.get(key).unwrap_or(&NULL)
    }

    /// Walk a JSON pointer (as produced by the schema validator) and return
    /// the line of the deepest node reached.
    pub fn line_of_pointer(&self, pointer: &str, last_key: Option<&str>) -> usize {
        let mut cur = self;
        let mut line = self.line;
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
            let next = match &cur.value {
                Value::Map(entries) => entries.iter().find(|e| e.key == token).map(|e| {
                    line = e.key_line;
                    &e.value
                }),
                Value::Seq(items) => {
                    token.parse::<usize>().ok().and_then(|i| items.get(i)).inspect(|n| {
                        line = n.line;
                    })
                }
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => return line,
            }
        }
        if let Some(key) = last_key
            && let Some(e) = cur.entry(key)
        {
            return e.key_line;
        }
        line
    }

    /// Convert to JSON for schema validation.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => {
                J::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect())
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Value>::deserialize(d)?;
        Ok(Node { line: s.referenced.line() as usize, value: s.value })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let text = match &key.value {
                Value::Str(s) => s.clone(),
                Value::Null => "null".to_owned(),
                other => {
                    Node { line: key.line, value: other.clone() }.scalar_text().unwrap_or_default()
                }
            };
            let value = map.next_value::<Node>()?;
            entries.push(Entry { key: text, key_line: key.line, value });
        }
        Ok(Value::Map(entries))
    }
}

/// A YAML parse failure with the line it happened on (when known).
#[derive(Debug, Clone)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

/// Parse every document of a YAML stream. Empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    match serde_saphyr::from_multiple::<Option<Node>>(text) {
        Ok(docs) => Ok(docs.into_iter().flatten().filter(|n| !n.is_null()).collect()),
        Err(e) => {
            let line = e.location().map_or(1, |l| l.line() as usize);
            let message = e.to_string().lines().next().unwrap_or("malformed YAML").to_owned();
            Err(YamlError { line, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_keys_and_items() {
        let text = "---\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: x\n    - name: b\n---\n---\nkind: Service\n";
        let docs = parse_documents(text).expect("parses");
        assert_eq!(docs.len(), 2);
        let pod = &docs[0];
        assert_eq!(pod.key_line("kind"), 3);
        let containers = pod.at(&["spec", "containers"]).expect("containers");
        assert_eq!(containers.seq()[1].line, 8);
        assert_eq!(containers.seq()[0].key_line("image"), 7);
        assert_eq!(pod.line_of_pointer("/spec/containers/1", Some("name")), 8);
        assert_eq!(docs[1].key_line("kind"), 11);
    }

    #[test]
    fn malformed_yaml_has_a_line() {
        let err = parse_documents("a: 1\nb: [\n  c: d\n").expect_err("malformed");
        assert!(err.line >= 2, "{err:?}");
    }

    #[test]
    fn typed_scalars() {
        let docs = parse_documents("a: 1\nb: true\nc: \"1\"\nd: 1.5\ne: ~\n").expect("parses");
        let d = &docs[0];
        assert_eq!(d.field("a").as_i64(), Some(1));
        assert_eq!(d.field("b").as_bool(), Some(true));
        assert_eq!(d.field("c").as_str(), Some("1"));
        assert!(d.field("e").is_null());
    }
}
