//! The real sample-service binary on loopback: routes, metrics content and
//! labels, JSON logs with trace ids, OTLP export, readiness on SIGTERM, drain,
//! the grace deadline, and bad configuration.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sample-service");

struct Service {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn start(env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("DELAY_ROUTE_ENABLED", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // Owned by `Service` at once: its Drop kills and reaps the process on every path.
        let mut svc = Self {
            child: cmd.spawn().expect("spawn sample-service"),
            addr: String::new(),
            logs: Arc::default(),
        };
        let stdout = svc.child.stdout.take().expect("stdout");
        let sink = svc.logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("logs").push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = svc.logs.lock().expect("logs").iter().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["message"] == "listening")
                    .then(|| v["addr"].as_str().map(str::to_owned))
                    .flatten()
            });
            if let Some(addr) = found {
                svc.addr = addr;
                return svc;
            }
            assert!(Instant::now() < deadline, "sample-service did not log `listening` within 10s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn sigterm(&self) {
        let st = Command::new("kill").args(["-TERM", &self.pid()]).status().expect("kill");
        assert!(st.success());
    }

    fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return (st, t0.elapsed());
            }
            assert!(t0.elapsed() < limit, "sample-service still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_lines(&self) -> Vec<Value> {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    fn wait_log(&self, pred: impl Fn(&Value) -> bool, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = self.log_lines().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(Instant::now() < deadline, "no log line {what}; logs: {:#?}", self.log_lines());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

#[tokio::test]
async fn routes_answer_as_documented() {
    let svc = Service::start(&[("APP_ENV", "staging"), ("SERVICE_NAME", "demo")]);
    let c = client();
    let root: Value = c.get(svc.url("/")).send().await.expect("GET /").json().await.expect("json");
    assert_eq!(root["service"], "demo");
    assert_eq!(root["environment"], "staging");
    assert_eq!(root["version"], env!("CARGO_PKG_VERSION"));
    for path in ["/healthz", "/readyz"] {
        let r = c.get(svc.url(path)).send().await.expect(path);
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = c.get(svc.url("/no/such/thing")).send().await.expect("404");
    assert_eq!(r.status(), 404);
    let r = c.get(svc.url("/delay/999999999")).send().await.expect("too long");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn metrics_use_route_templates_never_raw_paths() {
    let svc = Service::start(&[]);
    let c = client();
    for path in ["/", "/delay/3", "/delay/7", "/users/42/secret", "/healthz"] {
        c.get(svc.url(path)).send().await.expect(path);
    }
    c.post(svc.url("/")).send().await.expect("POST /");
    let resp = c.get(svc.url("/metrics")).send().await.expect("metrics");
    assert_eq!(resp.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = resp.text().await.expect("body");

    assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{text}");
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/delay/{ms}",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/",status="405"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/delay/{ms}",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"http_request_duration_seconds_count{method="GET",route="/delay/{ms}",status="200"} 2"#), "{text}");
    for raw in ["/delay/3", "/delay/7", "/users/42", "secret"] {
        assert!(!text.contains(raw), "raw path {raw} leaked into metrics:\n{text}");
    }
    assert!(!text.contains("# EOF"), "Prometheus text must not carry the OpenMetrics trailer");
    // The label sets rule OBS007 judges dashboards and alerts by are the real ones.
    let mismatches = platctl_check::metric_labels::table_mismatches("sample-service", &text);
    assert!(mismatches.is_empty(), "OBS007's table is stale: {mismatches:?}");

    // promtool, Prometheus' own checker, parses and lints the exposition.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (.ci/install-tools)");
    use std::io::Write;
    promtool.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // OpenMetrics on request.
    let om = c
        .get(svc.url("/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
        .send()
        .await
        .expect("openmetrics");
    assert!(
        om.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/openmetrics-text")
    );
    assert!(om.text().await.expect("body").trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn logs_are_json_lines_with_trace_ids() {
    let svc = Service::start(&[]);
    let c = client();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    c.get(svc.url("/"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .expect("GET /");
    c.get(svc.url("/healthz")).send().await.expect("healthz");
    let continued = svc.wait_log(|v| v["message"] == "request" && v["route"] == "/", "for GET /");
    assert_eq!(continued["trace_id"], trace, "the caller's trace id is continued: {continued}");
    assert_eq!(continued["status"], 200);
    assert_eq!(continued["level"], "INFO");
    let fresh =
        svc.wait_log(|v| v["message"] == "request" && v["route"] == "/healthz", "for /healthz");
    let tid = fresh["trace_id"].as_str().expect("trace_id");
    assert!(
        tid.len() == 32 && tid.chars().all(|c| c.is_ascii_hexdigit()) && tid != trace,
        "{fresh}"
    );
    let startup = svc.wait_log(|v| v["message"] == "OTLP trace export disabled", "about OTLP");
    assert_eq!(startup["reason"], "OTEL_EXPORTER_OTLP_ENDPOINT is not set");
    for v in svc.log_lines() {
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
    }
}

#[tokio::test]
async fn traces_are_exported_over_otlp_http_when_an_endpoint_is_set() {
    use axum::routing::post;
    // A collector stand-in that speaks OTLP/HTTP's wire contract: POST /v1/traces, protobuf body.
    let received: Arc<Mutex<Vec<(String, bytes::Bytes)>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            let sink = sink.clone();
            async move {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                sink.lock().expect("sink").push((ct, body));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let svc = Service::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "sample-under-test"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=overridden,team=platform"),
    ]);
    // A caller that did not sample its trace is followed: no span for it.
    let unsampled = "11111111111111111111111111111111";
    client()
        .get(svc.url("/"))
        .header("traceparent", format!("00-{unsampled}-2222222222222222-00"))
        .send()
        .await
        .expect("GET");
    let trace = "0af7651916cd43dd8448eb211c80319c";
    client()
        .get(svc.url("/delay/1"))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .await
        .expect("GET");
    let line = svc
        .wait_log(|v| v["message"] == "request" && v["route"] == "/delay/{ms}", "for the request");
    assert_eq!(line["trace_id"], trace, "log and trace share the id: {line}");
    let want: Vec<u8> =
        (0..16).map(|i| u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).expect("hex")).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = received.lock().expect("sink").clone();
        let hit = got.iter().find(|(_, body)| body.windows(16).any(|w| w == want.as_slice()));
        if let Some((ct, body)) = hit {
            assert_eq!(ct, "application/x-protobuf");
            // Decode with the official OTLP types: the wire format is checked field by field.
            use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
            use opentelemetry_proto::tonic::common::v1::any_value::Value;
            use prost::Message as _;
            let req = ExportTraceServiceRequest::decode(body.as_ref())
                .expect("a valid ExportTraceServiceRequest");
            let rs = &req.resource_spans[0];
            let attr = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str| {
                attrs
                    .iter()
                    .find(|kv| kv.key == key)
                    .and_then(|kv| kv.value.clone())
                    .and_then(|v| v.value)
            };
            let resource = &rs.resource.as_ref().expect("resource").attributes;
            assert_eq!(
                attr(resource, "service.name"),
                Some(Value::StringValue("sample-under-test".into())),
                "OTEL_SERVICE_NAME wins"
            );
            assert_eq!(
                attr(resource, "team"),
                Some(Value::StringValue("platform".into())),
                "OTEL_RESOURCE_ATTRIBUTES"
            );
            assert_eq!(
                attr(resource, "deployment.environment.name"),
                Some(Value::StringValue("local".into())),
                "APP_ENV (default local)"
            );
            let scope = &rs.scope_spans[0];
            assert_eq!(scope.scope.as_ref().expect("scope").name, "sample-service");
            let span =
                scope.spans.iter().find(|sp| sp.trace_id == want).expect("the request's span");
            assert_eq!(span.name, "GET /delay/{ms}", "span named after the route template");
            assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
            assert_eq!(
                span.parent_span_id,
                0xb7ad_6b71_6920_3331u64.to_be_bytes().to_vec(),
                "the caller's span is the parent"
            );
            assert_eq!(span.span_id.len(), 8);
            assert_eq!(
                hex_of(&span.span_id),
                line["span_id"].as_str().expect("span_id in the log"),
                "log and span share the span id"
            );
            assert!(
                span.end_time_unix_nano >= span.start_time_unix_nano + 1_000_000,
                "the 1 ms delay is inside the span"
            );
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64;
            assert!(
                now - span.start_time_unix_nano < 60_000_000_000,
                "start time is Unix nanoseconds"
            );
            assert_eq!(
                attr(&span.attributes, "http.route"),
                Some(Value::StringValue("/delay/{ms}".into()))
            );
            assert_eq!(
                attr(&span.attributes, "http.request.method"),
                Some(Value::StringValue("GET".into()))
            );
            assert_eq!(
                attr(&span.attributes, "http.response.status_code"),
                Some(Value::IntValue(200))
            );
            assert_eq!(span.flags & 0x301, 0x301, "sampled, with a remote parent");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no OTLP export carrying trace {trace} within 10s ({} posts)",
            got.len()
        );
        let unsampled_bytes = [0x11u8; 16];
        assert!(
            !got.iter().any(|(_, body)| body.windows(16).any(|w| w == unsampled_bytes)),
            "an unsampled caller's trace is not exported"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigterm_flips_readiness_then_drains_in_flight_requests() {
    let mut svc =
        Service::start(&[("SHUTDOWN_DELAY_SECONDS", "1"), ("SHUTDOWN_GRACE_SECONDS", "10")]);
    let c = client();
    // A request that is still running when draining starts (t=0.2s .. 2.5s; drain at ~1.2s).
    let slow = tokio::spawn({
        let (c, url) = (c.clone(), svc.url("/delay/2500"));
        async move { c.get(url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    svc.sigterm();
    let t0 = Instant::now();
    svc.wait_log(|v| v["message"] == "shutdown started: readiness is false", "about shutdown");
    let ready = c.get(svc.url("/readyz")).send().await.expect("readyz during delay");
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["ready"], false);
    assert_eq!(
        c.get(svc.url("/healthz")).send().await.expect("healthz").status(),
        200,
        "still live"
    );

    let resp = slow.await.expect("join").expect("the in-flight request completes during the drain");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.expect("json")["slept_ms"], 2500);
    let (status, _) = svc.wait_exit(Duration::from_secs(8));
    assert_eq!(status.code(), Some(0), "clean exit after draining");
    assert!(
        t0.elapsed() >= Duration::from_millis(2000),
        "did not exit before the request finished"
    );
    svc.wait_log(|v| v["message"] == "drained; exiting", "about draining");
}

#[tokio::test]
async fn the_grace_period_bounds_shutdown() {
    let mut svc = Service::start(&[("SHUTDOWN_GRACE_SECONDS", "1")]);
    let c = client();
    let slow = tokio::spawn({
        let (c, url) = (c.clone(), svc.url("/delay/8000"));
        async move { c.get(url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    svc.sigterm();
    let (status, took) = svc.wait_exit(Duration::from_secs(6));
    assert_eq!(status.code(), Some(1), "exit 1 when requests had to be cut");
    assert!(
        took < Duration::from_millis(2500),
        "exited {took:?} after SIGTERM with a 1s grace period"
    );
    let line = svc.wait_log(|v| v["level"] == "ERROR", "at ERROR");
    assert_eq!(line["message"], "grace period expired with requests still in flight; exiting");
    assert_eq!(line["in_flight"], 1);
    assert!(slow.await.expect("join").is_err(), "the cut request gets no answer");
}

#[test]
fn invalid_configuration_fails_at_startup_naming_the_variable() {
    for (var, value, needle) in [
        ("LISTEN_ADDR", "localhost:80", "is not an IP:PORT socket address"),
        ("SHUTDOWN_GRACE_SECONDS", "soon", "must be a whole number"),
        ("APP_ENV", "Production", "lowercase"),
        ("ACCESS_LOG", "maybe", "true or false"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "is not an http(s) URL"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "use http/protobuf"),
        ("ACCESS_LOG_FLUSH_MS", "fast", "must be a whole number"),
        // Checked when export is on (the test sets an endpoint for every OTEL_ case).
        ("OTEL_TRACES_SAMPLER", "sometimes", "is not supported"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-1", "must be an integer"),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.env_clear().env(var, value);
        if var.starts_with("OTEL_") && var != "OTEL_EXPORTER_OTLP_ENDPOINT" {
            cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9");
        }
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid configuration: {var}: ")),
            "{var}={value}: {stderr}"
        );
        assert!(stderr.contains(value) && stderr.contains(needle), "{var}={value}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing logged before validation");
    }
}

#[test]
fn a_busy_port_fails_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = Command::new(BIN).env_clear().env("LISTEN_ADDR", &addr).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on LISTEN_ADDR={addr}")), "{stderr}");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn access_lines_are_batched_other_lines_are_not_and_shutdown_writes_everything() {
    // A 10 s flush interval: the access line waits in the buffer...
    let mut svc = Service::start(&[("ACCESS_LOG_FLUSH_MS", "10000")]);
    let resp = client().get(svc.url("/healthz")).send().await.expect("GET");
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !svc.log_lines().iter().any(|v| v["target"] == "access"),
        "an access line is buffered, not written per request: {:#?}",
        svc.log_lines()
    );
    // ...a non-access line (the SIGTERM notice) is written at once, after it, in order...
    svc.sigterm();
    let (status, _) = svc.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(100));
    let lines = svc.log_lines();
    let access = lines.iter().position(|v| v["target"] == "access" && v["route"] == "/healthz");
    let access =
        access.unwrap_or_else(|| panic!("shutdown wrote the buffered access line: {lines:#?}"));
    let later = lines.iter().position(|v| v["signal"] == "SIGTERM");
    assert!(later.is_some_and(|l| l > access), "lines keep their order: {lines:#?}");
}
