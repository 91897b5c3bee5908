//! A strict parser for the Prometheus text exposition format (0.0.4) and
//! OpenMetrics text (1.0): enough to say whether `/metrics` is well formed
//! and which metric families and sample names it exposes.

use std::collections::BTreeSet;

/// What a valid exposition contains.
#[derive(Debug, Default, Clone)]
pub struct Exposition {
    /// Names from `# TYPE` / `# HELP` lines (families: `http_requests` in OpenMetrics).
    pub families: BTreeSet<String>,
    /// Names of samples (`http_requests_total`, `x_bucket`...).
    pub samples: BTreeSet<String>,
    /// Number of sample lines.
    pub sample_count: usize,
}

impl Exposition {
    /// True if `name` is a family or a sample name.
    pub fn has(&self, name: &str) -> bool {
        self.families.contains(name) || self.samples.contains(name)
    }
}

/// A parse error with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

const TYPES: [&str; 9] = [
    "counter",
    "gauge",
    "histogram",
    "summary",
    "untyped",
    "unknown",
    "info",
    "stateset",
    "gaugehistogram",
];

pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    let mut eof = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |message: String| ParseError { line: line_no, message };
        if eof {
            if raw.trim().is_empty() {
                continue;
            }
            return Err(err("content after # EOF".into()));
        }
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if rest == "EOF" {
                eof = true;
                continue;
            }
            let mut words = rest.splitn(3, ' ');
            if let Some(kw @ ("TYPE" | "HELP" | "UNIT")) = words.next() {
                let name = words.next().unwrap_or("");
                if !is_metric_name(name) {
                    return Err(err(format!("# {kw} has an invalid metric name {name:?}")));
                }
                if kw == "TYPE" {
                    let t = words.next().unwrap_or("").trim();
                    if !TYPES.contains(&t) {
                        return Err(err(format!("# TYPE {name} has an unknown type {t:?}")));
                    }
                }
                out.families.insert(name.to_owned());
            } // else: a plain comment
            continue;
        }
        let name = parse_sample(line).map_err(err)?;
        out.samples.insert(name);
        out.sample_count += 1;
    }
    Ok(out)
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_value(s: &str) -> bool {
    matches!(s, "NaN" | "+Inf" | "-Inf" | "Inf" | "+inf" | "-inf") || s.parse::<f64>().is_ok()
}

/// Parse `name{label="v",...} value [timestamp]`; returns the name.
fn parse_sample(line: &str) -> Result<String, String> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut s = after;
        loop {
            s = s.trim_start();
            if let Some(r) = s.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = s.find('=').ok_or_else(|| format!("{name}: label without '='"))?;
            let lname = s[..eq].trim();
            if !is_label_name(lname) {
                return Err(format!("{name}: invalid label name {lname:?}"));
            }
            s = s[eq + 1..].trim_start();
            let mut chars = s.char_indices();
            if !matches!(chars.next(), Some((_, '"'))) {
                return Err(format!("{name}: label {lname} value is not quoted"));
            }
            let mut end = None;
            let mut escaped = false;
            for (idx, c) in chars {
                if escaped {
                    if !matches!(c, '\\' | '"' | 'n') {
                        return Err(format!("{name}: label {lname} has an invalid escape \\{c}"));
                    }
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(idx);
                    break;
                }
            }
            let end =
                end.ok_or_else(|| format!("{name}: label {lname} value is not terminated"))?;
            s = s[end + 1..].trim_start();
            if let Some(r) = s.strip_prefix(',') {
                s = r;
            } else if !s.starts_with('}') {
                return Err(format!("{name}: expected ',' or '}}' after label {lname}"));
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or_else(|| format!("{name}: missing value"))?;
    if !is_value(value) {
        return Err(format!("{name}: invalid value {value:?}"));
    }
    if let Some(ts) = fields.next()
        && ts.parse::<f64>().is_err()
    {
        return Err(format!("{name}: invalid timestamp {ts:?}"));
    }
    if let Some(extra) = fields.next() {
        // OpenMetrics exemplars start with '#'; anything else is garbage.
        if !extra.starts_with('#') {
            return Err(format!("{name}: unexpected {extra:?} after the value"));
        }
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openmetrics_and_prometheus_text() {
        let om = "# HELP http_requests Requests.\n# TYPE http_requests counter\n\
                  http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 3\n\
                  # TYPE d histogram\nd_bucket{le=\"+Inf\"} 1\nd_sum 0.5\nd_count 1\n# EOF\n";
        let e = parse(om).expect("valid");
        assert!(
            e.has("http_requests_total")
                && e.has("http_requests")
                && e.has("d")
                && e.has("d_bucket")
        );
        assert!(!e.has("nope"));
        assert_eq!(e.sample_count, 4);
        let prom = "# TYPE up gauge\nup 1 1700000000000\nweird{a=\"x\\\"y\",} NaN\n";
        assert_eq!(parse(prom).expect("valid").sample_count, 2);
    }

    #[test]
    fn rejects_garbage_with_line_numbers() {
        for (text, line, needle) in [
            ("ok 1\n<html>\n", 2, "invalid metric name"),
            ("a{b=c} 1\n", 1, "not quoted"),
            ("a{b=\"c\" 1\n", 1, "expected ','"),
            ("a one\n", 1, "invalid value"),
            ("# TYPE a countr\n", 1, "unknown type"),
            ("a 1\n# EOF\nb 2\n", 3, "after # EOF"),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}
