//! Which bytes of a file are deployed: YAML without its comments (block
//! scalars are content, so a `#` inside one is kept), Terraform attribute
//! values except `description` and `error_message` (documentation), JSON as a
//! whole. Placeholders in the rest (comments, descriptions) deploy nothing.

use std::ops::Range;

use hcl::edit::Span;
use hcl::edit::structure::{Body, Structure};

/// The kind of file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Hcl,
    Json,
}

impl Format {
    pub fn of(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "yaml" | "yml" => Some(Format::Yaml),
            "tf" | "tfvars" => Some(Format::Hcl),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The deployed byte ranges of `text`, in order.
pub fn deployed_ranges(format: Format, text: &str) -> Vec<Range<usize>> {
    match format {
        Format::Yaml => yaml_code(text),
        Format::Hcl => hcl_values(text),
        Format::Json => std::iter::once(0..text.len()).collect(),
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// YAML without comments. A block scalar (`key: |`, `- >-`) keeps every line
/// indented deeper than its header, `#` included.
fn yaml_code(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut block_parent: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        if let Some(parent) = block_parent {
            if body.trim().is_empty() || indent_of(body) > parent {
                out.push(start..start + body.len());
                continue;
            }
            block_parent = None;
        }
        let code = strip_comment(body);
        if !code.trim().is_empty() {
            out.push(start..start + code.len());
        }
        if opens_block_scalar(code) {
            block_parent = Some(indent_of(body));
        }
    }
    out
}

/// The line up to a comment: `#` at the start or after whitespace, outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'')
                && (prev == ' '
                    || prev == ':'
                    || prev == '['
                    || prev == ','
                    || prev == '-'
                    || i == 0) =>
            {
                quote = Some(c)
            }
            None if c == '#' && (prev.is_whitespace() || i == 0) => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

fn opens_block_scalar(code: &str) -> bool {
    let t = code.trim_end();
    let Some(pos) = t.rfind(['|', '>']) else { return false };
    let indicator_tail = &t[pos + 1..];
    if !indicator_tail.chars().all(|c| c == '-' || c == '+' || c.is_ascii_digit()) {
        return false;
    }
    let before = t[..pos].trim_end();
    before.ends_with(':') || before.ends_with('-') || before.is_empty()
}

/// Terraform: the value of every attribute except `description` and
/// `error_message`, at any depth. A file that does not parse is taken whole
/// minus its comment lines (`platctl check` reports the parse error).
fn hcl_values(text: &str) -> Vec<Range<usize>> {
    match hcl::edit::parser::parse_body(text) {
        Ok(body) => {
            let mut out = Vec::new();
            visit(&body, &mut out);
            out.sort_by_key(|r| r.start);
            out
        }
        Err(_) => {
            let mut out = Vec::new();
            let mut offset = 0;
            for line in text.split_inclusive('\n') {
                let t = line.trim_start();
                if !(t.starts_with('#') || t.starts_with("//")) {
                    out.push(offset..offset + line.len());
                }
                offset += line.len();
            }
            out
        }
    }
}

fn visit(body: &Body, out: &mut Vec<Range<usize>>) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                if matches!(a.key.as_str(), "description" | "error_message") {
                    continue;
                }
                if let Some(r) = a.value.span() {
                    out.push(r);
                }
            }
            Structure::Block(b) => visit(&b.body, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(format: Format, text: &str) -> String {
        deployed_ranges(format, text).into_iter().map(|r| &text[r]).collect::<Vec<_>>().join("|")
    }

    #[test]
    fn yaml_comments_go_block_scalars_stay() {
        let text = "a: x # note about example.com\n# full comment\nb: \"q # not a comment\"\nc: |\n  # kept: config text\n  line\nd: y\n";
        let k = kept(Format::Yaml, text);
        assert!(!k.contains("note about"), "{k}");
        assert!(!k.contains("full comment"), "{k}");
        assert!(k.contains("q # not a comment"), "{k}");
        assert!(k.contains("# kept: config text"), "{k}");
        assert!(k.contains("d: y"), "{k}");
    }

    #[test]
    fn hcl_descriptions_and_comments_go() {
        let text = "# top comment example.com\nvariable \"d\" {\n  description = \"e.g. platform.example.com\"\n  default     = \"x.example.com\"\n  validation {\n    condition     = true\n    error_message = \"such as 203.0.113.10/32\"\n  }\n}\n";
        let k = kept(Format::Hcl, text);
        assert!(k.contains("x.example.com"), "{k}");
        assert!(!k.contains("platform.example.com"), "{k}");
        assert!(!k.contains("203.0.113"), "{k}");
        assert!(!k.contains("top comment"), "{k}");
    }
}
