//! A PromQL reader for label analysis (OBS007): enough of the grammar to know
//! which series an expression selects, which labels it matches, groups and
//! joins on, and which labels its result carries. It never evaluates.
//!
//! Grammar (Prometheus 3 query language, without the experimental parts):
//! binary operators with their precedence (`or` < `and`/`unless` <
//! comparisons < `+ -` < `* / % atan2` < `^`), `bool`, vector matching
//! (`on`/`ignoring`, `group_left`/`group_right`), aggregations with
//! `by`/`without` before or after the arguments, function calls, selectors
//! with matchers, ranges and subqueries, `offset` and `@`. Grafana template
//! variables (`$env`, `${env}`, `$__rate_interval`) are read as opaque values.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// Numbers, durations and template variables: values, never labels.
    Num,
    Punct(&'static str),
}

/// Multi-character punctuation first, so `=~` is not read as `=`.
const PUNCT: &[&str] = &[
    "==", "!=", ">=", "<=", "=~", "!~", "(", ")", "{", "}", "[", "]", ",", ":", "+", "-", "*", "/",
    "%", "^", "<", ">", "=", "@",
];

fn tokens(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' || c == b'\'' || c == b'`' {
            // Bytes, decoded at the end: a value may be any UTF-8.
            let mut s = Vec::new();
            i += 1;
            loop {
                let Some(&d) = b.get(i) else { return Err("a string is not closed".into()) };
                i += 1;
                if d == c {
                    break;
                }
                if d == b'\\' && c != b'`' {
                    if let Some(&e) = b.get(i) {
                        s.push(e);
                        i += 1;
                    }
                    continue;
                }
                s.push(d);
            }
            out.push(Tok::Str(String::from_utf8_lossy(&s).into_owned()));
        } else if c == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                while i < b.len() && b[i] != b'}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
            }
            out.push(Tok::Num);
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // 5m, 1h30m, 1e3, 0x1f, 2.5: one value token.
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num);
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_owned()));
        } else if let Some(p) = PUNCT.iter().find(|p| src[i..].starts_with(**p)) {
            out.push(Tok::Punct(p));
            i += p.len();
        } else {
            return Err(format!("unexpected character {:?}", c as char));
        }
    }
    Ok(out)
}

/// A label matcher of a selector: `label op "value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

/// How a binary operation matches its sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matching {
    /// `on (...)` (true) or `ignoring (...)` (false), with its labels.
    pub on: Option<(bool, Vec<String>)>,
    /// `group_left (...)`/`group_right (...)`: true for left, and the labels copied.
    pub group: Option<(bool, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Numbers and template variables.
    Scalar,
    /// A string literal (a function's label-name or regex argument).
    Str(String),
    Selector {
        metric: Option<String>,
        matchers: Vec<Matcher>,
    },
    Call {
        func: String,
        args: Vec<Expr>,
    },
    Aggregate {
        op: String,
        /// `by (...)` (true) or `without (...)` (false).
        grouping: Option<(bool, Vec<String>)>,
        args: Vec<Expr>,
    },
    Binary {
        op: String,
        left: Box<Expr>,
        right: Box<Expr>,
        matching: Matching,
    },
    Neg(Box<Expr>),
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

/// Parses one PromQL expression.
pub fn parse(src: &str) -> Result<Expr, String> {
    let mut p = Parser { toks: tokens(src)?, pos: 0 };
    let e = p.expr(0)?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?} after a complete expression")),
    }
}

fn precedence(op: &str) -> Option<(u8, bool)> {
    // (level, right-associative)
    Some(match op {
        "or" => (1, false),
        "and" | "unless" => (2, false),
        "==" | "!=" | "<=" | ">=" | "<" | ">" => (3, false),
        "+" | "-" => (4, false),
        "*" | "/" | "%" | "atan2" => (5, false),
        "^" => (6, true),
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }
    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word))
    }
    fn expect(&mut self, p: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(q)) if q == p => Ok(()),
            other => Err(format!("expected {p:?}, found {other:?}")),
        }
    }

    fn binary_op(&self) -> Option<String> {
        match self.peek()? {
            Tok::Punct(p) if precedence(p).is_some() => Some((*p).to_owned()),
            Tok::Ident(w) if precedence(&w.to_ascii_lowercase()).is_some() => {
                Some(w.to_ascii_lowercase())
            }
            _ => None,
        }
    }

    fn expr(&mut self, min: u8) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(op) = self.binary_op() {
            let (level, right_assoc) = precedence(&op).unwrap_or((0, false));
            if level < min {
                break;
            }
            self.pos += 1;
            if self.is_ident("bool") {
                self.pos += 1;
            }
            let mut matching = Matching::default();
            for (word, on) in [("on", true), ("ignoring", false)] {
                if self.is_ident(word) {
                    self.pos += 1;
                    matching.on = Some((on, self.label_list()?));
                }
            }
            for (word, left_side) in [("group_left", true), ("group_right", false)] {
                if self.is_ident(word) {
                    self.pos += 1;
                    let labels = if self.is_punct("(") { self.label_list()? } else { vec![] };
                    matching.group = Some((left_side, labels));
                }
            }
            let next_min = if right_assoc { level } else { level + 1 };
            let right = self.expr(next_min)?;
            left = Expr::Binary { op, left: Box::new(left), right: Box::new(right), matching };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.is_punct("-") || self.is_punct("+") {
            let neg = self.is_punct("-");
            self.pos += 1;
            let e = self.unary()?;
            return Ok(if neg { Expr::Neg(Box::new(e)) } else { e });
        }
        let e = self.primary()?;
        self.postfix()?;
        Ok(e)
    }

    /// Ranges, subqueries, `offset` and `@` change time, never labels.
    fn postfix(&mut self) -> Result<(), String> {
        loop {
            if self.is_punct("[") {
                while !self.is_punct("]") {
                    if self.next().is_none() {
                        return Err("a range `[` is not closed".into());
                    }
                }
                self.pos += 1;
            } else if self.is_ident("offset") {
                self.pos += 1;
                if self.is_punct("-") {
                    self.pos += 1;
                }
                self.next();
            } else if self.is_punct("@") {
                self.pos += 1;
                self.unary()?;
            } else {
                return Ok(());
            }
        }
    }

    fn label_list(&mut self) -> Result<Vec<String>, String> {
        self.expect("(")?;
        let mut out = Vec::new();
        while !self.is_punct(")") {
            match self.next() {
                Some(Tok::Ident(l)) | Some(Tok::Str(l)) => out.push(l),
                other => return Err(format!("expected a label name, found {other:?}")),
            }
            if self.is_punct(",") {
                self.pos += 1;
            }
        }
        self.pos += 1;
        Ok(out)
    }

    fn matchers(&mut self) -> Result<(Option<String>, Vec<Matcher>), String> {
        self.expect("{")?;
        let mut name = None;
        let mut out = Vec::new();
        while !self.is_punct("}") {
            let label = match self.next() {
                Some(Tok::Ident(l)) => l,
                // {"metric.name", ...}: the quoted name form.
                Some(Tok::Str(s)) if self.is_punct(",") || self.is_punct("}") => {
                    name = Some(s);
                    if self.is_punct(",") {
                        self.pos += 1;
                    }
                    continue;
                }
                Some(Tok::Str(l)) => l,
                other => return Err(format!("expected a label matcher, found {other:?}")),
            };
            let op = match self.next() {
                Some(Tok::Punct(p)) if ["=", "!=", "=~", "!~"].contains(&p) => p.to_owned(),
                other => {
                    return Err(format!(
                        "expected a matcher operator after {label}, found {other:?}"
                    ));
                }
            };
            let value = match self.next() {
                Some(Tok::Str(v)) => v,
                other => {
                    return Err(format!("expected a quoted value for {label}, found {other:?}"));
                }
            };
            if label == "__name__" && op == "=" {
                name = Some(value);
            } else {
                out.push(Matcher { label, op, value });
            }
            if self.is_punct(",") {
                self.pos += 1;
            }
        }
        self.pos += 1;
        Ok((name, out))
    }

    fn args(&mut self) -> Result<Vec<Expr>, String> {
        self.expect("(")?;
        let mut out = Vec::new();
        while !self.is_punct(")") {
            out.push(self.expr(0)?);
            if self.is_punct(",") {
                self.pos += 1;
            } else if !self.is_punct(")") {
                return Err(format!("expected `,` or `)`, found {:?}", self.peek()));
            }
        }
        self.pos += 1;
        Ok(out)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Num) => Ok(Expr::Scalar),
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Punct("(")) => {
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Punct("{")) => {
                self.pos -= 1;
                let (metric, matchers) = self.matchers()?;
                Ok(Expr::Selector { metric, matchers })
            }
            Some(Tok::Ident(word)) => {
                let lower = word.to_ascii_lowercase();
                if AGGREGATIONS.contains(&lower.as_str())
                    && (self.is_punct("(") || self.is_ident("by") || self.is_ident("without"))
                {
                    let mut grouping = self.grouping()?;
                    let args = self.args()?;
                    if grouping.is_none() {
                        grouping = self.grouping()?;
                    }
                    return Ok(Expr::Aggregate { op: lower, grouping, args });
                }
                if self.is_punct("(") {
                    let args = self.args()?;
                    return Ok(Expr::Call { func: word, args });
                }
                if ["inf", "nan"].contains(&lower.as_str()) {
                    return Ok(Expr::Scalar);
                }
                let matchers = if self.is_punct("{") { self.matchers()?.1 } else { Vec::new() };
                Ok(Expr::Selector { metric: Some(word), matchers })
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn grouping(&mut self) -> Result<Option<(bool, Vec<String>)>, String> {
        for (word, by) in [("by", true), ("without", false)] {
            if self.is_ident(word) {
                self.pos += 1;
                return Ok(Some((by, self.label_list()?)));
            }
        }
        Ok(None)
    }
}

/// Every selector in an expression, in order.
pub fn selectors(e: &Expr) -> Vec<(&Option<String>, &[Matcher])> {
    let mut out = Vec::new();
    walk(e, &mut |x| {
        if let Expr::Selector { metric, matchers } = x {
            out.push((metric, matchers.as_slice()));
        }
    });
    out
}

/// Visits `e` and every expression under it.
pub fn walk<'a>(e: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    f(e);
    match e {
        Expr::Call { args, .. } | Expr::Aggregate { args, .. } => {
            args.iter().for_each(|a| walk(a, f));
        }
        Expr::Binary { left, right, .. } => {
            walk(left, f);
            walk(right, f);
        }
        Expr::Neg(x) => walk(x, f),
        Expr::Scalar | Expr::Str(_) | Expr::Selector { .. } => {}
    }
}

/// The labels of a series set; `None` for a scalar.
pub type Labels = Option<BTreeSet<String>>;

/// The string argument at `i` of a call, if it is a literal.
pub fn str_arg(args: &[Expr], i: usize) -> Option<&str> {
    match args.get(i) {
        Some(Expr::Str(s)) => Some(s),
        _ => None,
    }
}

/// The labels an expression's result carries, given the labels of each
/// selector (`series`). Aggregations keep their `by` labels (or drop their
/// `without` labels), `histogram_quantile` drops `le`, `label_replace` and
/// `label_join` add their target label, `absent` keeps the equality matchers.
pub fn result_labels(e: &Expr, series: &impl Fn(&Expr) -> BTreeSet<String>) -> Labels {
    match e {
        Expr::Scalar | Expr::Str(_) => None,
        Expr::Selector { .. } => Some(series(e)),
        Expr::Neg(x) => result_labels(x, series),
        Expr::Call { func, args } => {
            let vector = args.iter().find_map(|a| result_labels(a, series));
            match func.as_str() {
                "time" | "pi" | "scalar" => None,
                "vector" => Some(BTreeSet::new()),
                "absent" | "absent_over_time" => {
                    let mut out = BTreeSet::new();
                    for (_, ms) in args.iter().flat_map(selectors) {
                        out.extend(ms.iter().filter(|m| m.op == "=").map(|m| m.label.clone()));
                    }
                    Some(out)
                }
                "histogram_quantile" => vector.map(|mut l| {
                    l.remove("le");
                    l
                }),
                "label_replace" | "label_join" => vector.map(|mut l| {
                    l.extend(str_arg(args, 1).map(str::to_owned));
                    l
                }),
                // minute(), hour(), ... without an argument read time(): a scalar-like vector.
                _ => vector.or_else(|| args.is_empty().then(BTreeSet::new)),
            }
        }
        Expr::Aggregate { op, grouping, args } => {
            let inner =
                args.iter().rev().find_map(|a| result_labels(a, series)).unwrap_or_default();
            if ["topk", "bottomk", "limitk", "limit_ratio"].contains(&op.as_str()) {
                return Some(inner);
            }
            let mut out: BTreeSet<String> = match grouping {
                Some((true, by)) => by.iter().cloned().collect(),
                Some((false, without)) => {
                    inner.into_iter().filter(|l| !without.contains(l)).collect()
                }
                None => BTreeSet::new(),
            };
            if op == "count_values" {
                out.extend(str_arg(args, 0).map(str::to_owned));
            }
            Some(out)
        }
        Expr::Binary { op, left, right, matching } => {
            let (l, r) = (result_labels(left, series), result_labels(right, series));
            match (l, r) {
                (None, None) => None,
                (Some(x), None) | (None, Some(x)) => Some(x),
                (Some(l), Some(r)) => Some(match op.as_str() {
                    "or" => l.union(&r).cloned().collect(),
                    "and" | "unless" => l,
                    _ => {
                        let (mut keep, other) = match &matching.group {
                            Some((false, _)) => (r, l),
                            _ => (l, r),
                        };
                        if let Some((_, extra)) = &matching.group {
                            keep.extend(extra.iter().filter(|x| other.contains(*x)).cloned());
                        }
                        keep
                    }
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &Expr) -> Vec<String> {
        selectors(e).iter().filter_map(|(m, _)| (*m).clone()).collect()
    }

    #[test]
    fn selectors_with_matchers_ranges_and_template_variables() {
        let e = parse(r#"sum by (route, status) (rate(http_requests_total{namespace="$env", status=~"5.."}[$__rate_interval] offset 5m))"#).expect("parses");
        let sel = selectors(&e);
        assert_eq!(names(&e), ["http_requests_total"]);
        assert_eq!(sel[0].1.len(), 2);
        assert_eq!(
            sel[0].1[1],
            Matcher { label: "status".into(), op: "=~".into(), value: "5..".into() }
        );
        let Expr::Aggregate { grouping, .. } = &e else { panic!("aggregation: {e:?}") };
        assert_eq!(grouping, &Some((true, vec!["route".to_owned(), "status".to_owned()])));
    }

    #[test]
    fn grouping_after_the_arguments_and_vector_matching() {
        let e = parse("max(argocd_app_info) by (name) * on (name) group_left (project) max by (name, project) (x)").expect("parses");
        let Expr::Binary { op, matching, .. } = &e else { panic!("binary: {e:?}") };
        assert_eq!(op, "*");
        assert_eq!(matching.on, Some((true, vec!["name".to_owned()])));
        assert_eq!(matching.group, Some((true, vec!["project".to_owned()])));
    }

    #[test]
    fn precedence_keeps_the_vector_side() {
        // (a - time()) < 14 * 86400: the comparison's left side is the vector.
        let e = parse("certmanager_certificate_expiration_timestamp_seconds - time() < 14 * 86400")
            .expect("parses");
        let series = |_: &Expr| BTreeSet::from(["name".to_owned(), "namespace".to_owned()]);
        assert_eq!(result_labels(&e, &series).map(|s| s.len()), Some(2));
        let Expr::Binary { op, .. } = &e else { panic!() };
        assert_eq!(op, "<");
    }

    #[test]
    fn result_labels_follow_aggregations_and_functions() {
        let series =
            |_: &Expr| BTreeSet::from(["env".to_owned(), "le".to_owned(), "job".to_owned()]);
        let labels = |q: &str| {
            result_labels(&parse(q).expect(q), &series).map(|s| s.into_iter().collect::<Vec<_>>())
        };
        assert_eq!(labels("max by (env) (x) > 0"), Some(vec!["env".to_owned()]));
        assert_eq!(labels("sum without (job) (x)"), Some(vec!["env".to_owned(), "le".to_owned()]));
        assert_eq!(
            labels("histogram_quantile(0.99, x)"),
            Some(vec!["env".to_owned(), "job".to_owned()])
        );
        assert_eq!(labels("absent(up{job=\"platctl-state\"})"), Some(vec!["job".to_owned()]));
        assert_eq!(labels("max(x)"), Some(vec![]));
        assert_eq!(labels("time() - 3"), None);
        assert_eq!(labels("time() - max by (env) (x) > 3 * 3600"), Some(vec!["env".to_owned()]));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse("sum(x").expect_err("unclosed").contains("expected"));
        assert!(parse("x{a=\"b}").expect_err("string").contains("not closed"));
        assert!(parse("x{a=b}").expect_err("unquoted").contains("quoted value"));
    }

    #[test]
    fn string_values_keep_their_utf8() {
        let e = parse(r#"x{city="café", q="a\"b"}"#).expect("parses");
        let sel = selectors(&e);
        assert_eq!(sel[0].1[0].value, "café");
        assert_eq!(sel[0].1[1].value, "a\"b");
    }
}
