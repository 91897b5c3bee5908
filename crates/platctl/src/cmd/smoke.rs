//! `platctl smoke`: run platctl-smoke's checks against a URL and report each
//! with its result and time. Exit 0 all passed, 1 a check failed, 2 usage.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use platctl_smoke::{Report, Settings, Status};

use crate::cli::{SmokeArgs, SmokeOutput};
use crate::exit;

pub async fn run(args: SmokeArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(&args).map_err(|e| exit::coded(exit::USAGE, e))?;
    let report = platctl_smoke::run(&settings, |line| crate::output::progress(line))
        .await
        .map_err(|e| exit::coded(exit::USAGE, e.to_string()))?;
    match args.output {
        SmokeOutput::Json => crate::output::print_json(&report)?,
        SmokeOutput::Text => print!("{}", render_text(&report, stdout_color())),
    }
    if report.passed {
        Ok(ExitCode::from(exit::OK))
    } else {
        let failed: Vec<String> =
            report.failed().map(|c| format!("{}: {}", c.name, c.message)).collect();
        eprintln!("{} {}", crate::output::paint_error("smoke failed:"), failed.join("; "));
        Ok(ExitCode::from(exit::ERROR))
    }
}

fn settings(args: &SmokeArgs) -> Result<Settings, String> {
    let mut s = Settings::new(&args.url).map_err(|e| e.to_string())?;
    if let Some(spec) = &args.resolve {
        s.set_resolve(spec).map_err(|e| e.to_string())?;
    }
    if let Some(server) = &args.dns_server {
        s.dns_server = Some(parse_dns_server(server)?);
    }
    s.ca.clone_from(&args.ca);
    s.min_cert_days = args.min_cert_days;
    s.expect_metrics.clone_from(&args.expect_metric);
    s.timeout = seconds("--timeout", args.timeout, 0.001)?;
    s.retries = args.retries;
    s.backoff = seconds("--backoff", args.backoff, 0.0)?;
    Ok(s)
}

fn seconds(flag: &str, v: f64, min: f64) -> Result<Duration, String> {
    if v.is_finite() && v >= min && v <= 3600.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("{flag} {v}: expected seconds between {min} and 3600"))
    }
}

/// `IP`, `IP:PORT`, `[V6]:PORT`; port 53 by default.
fn parse_dns_server(v: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Ok(sa);
    }
    v.trim_matches(['[', ']']).parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)).map_err(|_| {
        format!("--dns-server {v:?}: expected IP or IP:PORT (a resolver address, not a name)")
    })
}

fn stdout_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn render_text(report: &Report, color: bool) -> String {
    let width = report.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in &report.checks {
        let (word, code) = match c.status {
            Status::Pass => ("PASS", "32"),
            Status::Fail => ("FAIL", "1;31"),
            Status::Skip => ("SKIP", "33"),
        };
        let word = if color { format!("\x1b[{code}m{word}\x1b[0m") } else { word.to_owned() };
        out.push_str(&format!(
            "{word}  {:<width$}  {:>9}  {}\n",
            c.name,
            format!("{:.1}ms", c.duration_ms),
            c.message
        ));
    }
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "{}: {} passed, {} failed, {} skipped; {} attempt{} in {:.0}ms\n",
        report.url,
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
        report.attempts,
        if report.attempts == 1 { "" } else { "s" },
        report.duration_ms
    ));
    out
}
