//! Drift metrics in the Prometheus text format, for a textfile collector (the
//! binary writes the file with `platctl_atomic_file`) or a Pushgateway.

use std::fmt::Write as _;

use crate::report::{EnvReport, Status};

/// Render the metrics of a run. `last_success` gives, per env, the time of the
/// last successful check (this one if it succeeded, else the previous one).
pub fn render(reports: &[EnvReport], last_success: &[(String, Option<i64>)]) -> String {
    let mut out = String::new();
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let _ = writeln!(
        out,
        "# HELP platctl_drift_resources Resources with drift or pending changes at the last check, by class."
    );
    let _ = writeln!(out, "# TYPE platctl_drift_resources gauge");
    for r in reports {
        for (class, n) in [("drift", r.counts.drift), ("pending", r.counts.pending)] {
            let _ = writeln!(
                out,
                "platctl_drift_resources{{env=\"{}\",class=\"{class}\"}} {n}",
                esc(&r.env)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP platctl_drift_check_success 1 if the last drift check of the env ran to completion, else 0."
    );
    let _ = writeln!(out, "# TYPE platctl_drift_check_success gauge");
    for r in reports {
        let _ = writeln!(
            out,
            "platctl_drift_check_success{{env=\"{}\"}} {}",
            esc(&r.env),
            u8::from(r.status != Status::Error)
        );
    }
    let _ = writeln!(
        out,
        "# HELP platctl_drift_check_duration_seconds Duration of the last drift check of the env."
    );
    let _ = writeln!(out, "# TYPE platctl_drift_check_duration_seconds gauge");
    for r in reports {
        let _ = writeln!(
            out,
            "platctl_drift_check_duration_seconds{{env=\"{}\"}} {:.3}",
            esc(&r.env),
            r.duration_ms as f64 / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "# HELP platctl_drift_last_success_timestamp_seconds Unix time of the last successful drift check of the env."
    );
    let _ = writeln!(out, "# TYPE platctl_drift_last_success_timestamp_seconds gauge");
    for (env, t) in last_success {
        if let Some(t) = t {
            let _ = writeln!(
                out,
                "platctl_drift_last_success_timestamp_seconds{{env=\"{}\"}} {t}",
                esc(env)
            );
        }
    }
    out
}

/// PUT the metrics to a Pushgateway under job `platctl_drift` (replacing the group).
pub async fn push(gateway: &str, text: &str) -> Result<(), String> {
    let url = format!("{}/metrics/job/platctl_drift", gateway.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .put(&url)
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(text.to_owned())
        .send()
        .await
        .map_err(|e| format!("cannot reach the Pushgateway at {url}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the Pushgateway at {url} answered {}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default().trim()
        ))
    }
}
