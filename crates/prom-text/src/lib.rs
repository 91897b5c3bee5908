//! The two text formats a `/metrics` endpoint serves, written once for every
//! crate that exposes metrics (the state server, sample-service).
//!
//! `prometheus-client` encodes OpenMetrics 1.0. Prometheus asks for it in its
//! `Accept` header; everyone else (curl, `promtool check metrics`) gets the
//! classic text format 0.0.4, derived here. No dependencies, so any crate can
//! use it without pulling in another's stack.

/// Content type of the Prometheus text format (the default answer of `/metrics`).
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Content type of OpenMetrics text, served when the scraper's `Accept` asks for it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether any of the request's `Accept` header values asks for OpenMetrics.
pub fn wants_openmetrics<'a>(accept: impl IntoIterator<Item = &'a str>) -> bool {
    accept.into_iter().any(|v| v.contains("application/openmetrics-text"))
}

/// Convert OpenMetrics text to the Prometheus text format 0.0.4: the
/// OpenMetrics-only `# EOF` and `# UNIT` lines are dropped, and counter
/// families are named after their `_total` sample in `# HELP` and `# TYPE`
/// (OpenMetrics names the family without the suffix).
pub fn openmetrics_to_prometheus(text: &str) -> String {
    let counters: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            (counters.contains(name) && !name.ends_with("_total"))
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_suffix_in_help_and_type() {
        let om = "# HELP x_requests Requests.\n# TYPE x_requests counter\nx_requests_total{a=\"b\"} 1\n# HELP d Seconds.\n# TYPE d gauge\n# UNIT d seconds\nd 2\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\nx_requests_total{a=\"b\"} 1\n# HELP d Seconds.\n# TYPE d gauge\nd 2\n"
        );
    }

    #[test]
    fn a_counter_already_named_total_is_not_renamed_twice() {
        let om = "# TYPE y_total counter\ny_total 3\n# EOF\n";
        assert_eq!(openmetrics_to_prometheus(om), "# TYPE y_total counter\ny_total 3\n");
    }

    #[test]
    fn negotiates_on_the_accept_header() {
        assert!(wants_openmetrics([
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        ]));
        assert!(!wants_openmetrics(["text/plain", "*/*"]));
        assert!(!wants_openmetrics([]));
    }
}
