//! `platctl secrets seal|sync|scan` against real components: the platctl
//! binary, a real OpenBao dev server (PLATCTL_TEST_BAO_ADDR/TOKEN from
//! scripts/test), and kubesealpy (PyPI) as the independent implementation that
//! must decrypt what we seal. Key material and fake credentials are made at
//! run time, never committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_platctl");

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../secrets/tests/support/kubeseal_check.py")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite through scripts/test, which starts an OpenBao dev server and exports it")
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Run platctl with a clean OpenBao environment plus `envs`, optional stdin.
fn platctl(args: &[&str], stdin: Option<&[u8]>, envs: &[(&str, &str)], cwd: &Path) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).env("NO_COLOR", "1").env("PLATCTL_ACTOR", "secrets-test");
    for v in [
        "BAO_ADDR",
        "VAULT_ADDR",
        "BAO_TOKEN",
        "VAULT_TOKEN",
        "BAO_ROLE_ID",
        "BAO_SECRET_ID",
        "VAULT_ROLE_ID",
        "VAULT_SECRET_ID",
        "BAO_K8S_ROLE",
        "PLATCTL_AUDIT_LOG",
        "PLATCTL_SECRETS_MAPPING",
        "PLATCTL_SEALED_SECRETS_CERT",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn platctl");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("platctl output").into()
}

/// kubesealpy key pair (RSA unless `ec`), in `dir`: (cert.pem, key.pem).
fn gen_cert(dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf) {
    let out = Command::new("python3")
        .arg(helper())
        .args(["gen", "--dir"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("python3 with kubesealpy and cryptography (see .ci/install-tools)");
    assert!(out.status.success(), "gen: {}", String::from_utf8_lossy(&out.stderr));
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Decrypt with kubesealpy. `Err(stderr)` when it cannot.
fn unseal(
    key: &Path,
    sealed_yaml: &str,
    relabel: Option<(&str, &str, &str)>,
) -> Result<Value, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sealed.yaml");
    std::fs::write(&file, sealed_yaml).expect("write sealed");
    let mut cmd = Command::new("python3");
    cmd.arg(helper()).args(["unseal", "--key"]).arg(key).arg("--sealed").arg(&file);
    if let Some((scope, ns, name)) = relabel {
        cmd.args(["--scope", scope, "--namespace", ns, "--name", name]);
    }
    let out = cmd.output().expect("python3");
    match out.status.code() {
        Some(0) => Ok(serde_json::from_slice(&out.stdout).expect("helper json")),
        Some(3) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        _ => panic!("helper failed unexpectedly: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unique(prefix: &str) -> String {
    let mut b = [0u8; 4];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    b.copy_from_slice(&nanos.to_le_bytes());
    format!("{prefix}{}{}", std::process::id(), hex::encode(b))
}

// ---------------------------------------------------------------- seal

const MANIFEST: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
  labels:
    app.kubernetes.io/name: ledger
  annotations:
    team: payments
    kubectl.kubernetes.io/last-applied-configuration: '{"leak":"this must be stripped"}'
type: kubernetes.io/basic-auth
data:
  username: bGVkZ2Vy
stringData:
  password: "correct horse battery staple"
  dsn: "postgres://ledger@db:5432/ledger?sslmode=require"
"#;

#[test]
fn seal_all_scopes_decrypt_with_kubesealpy_and_bind_to_their_label() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = gen_cert(dir.path(), &["--bits", "4096"]);
    let cert = cert.to_str().expect("utf8");
    let want = BTreeMap::from([
        ("username", b64("ledger")),
        ("password", b64("correct horse battery staple")),
        ("dsn", b64("postgres://ledger@db:5432/ledger?sslmode=require")),
    ]);
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let run = platctl(
            &["secrets", "seal", "--cert", cert, "--scope", scope],
            Some(MANIFEST.as_bytes()),
            &[],
            dir.path(),
        );
        assert_eq!(run.code, 0, "{scope}: {}", run.stderr);
        let yaml = &run.stdout;
        assert!(
            !yaml.contains("correct horse") && !yaml.contains("stripped"),
            "{scope}: plaintext in output:\n{yaml}"
        );
        // The SealedSecret shape kubeseal writes.
        assert!(
            yaml.contains("apiVersion: bitnami.com/v1alpha1")
                && yaml.contains("kind: SealedSecret"),
            "{yaml}"
        );
        let sealed: Value = serde_json::to_value(
            platctl_secrets::SealedSecret::from_yaml(yaml).expect("parse output"),
        )
        .expect("json");
        assert_eq!(sealed["spec"]["template"]["type"], "kubernetes.io/basic-auth");
        assert_eq!(
            sealed["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
            "ledger"
        );
        assert_eq!(sealed["spec"]["template"]["metadata"]["annotations"]["team"], "payments");
        assert!(
            sealed["spec"]["template"]["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
        let annotation = match scope {
            "namespace-wide" => Some("sealedsecrets.bitnami.com/namespace-wide"),
            "cluster-wide" => Some("sealedsecrets.bitnami.com/cluster-wide"),
            _ => None,
        };
        let annotations =
            sealed["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
        match annotation {
            Some(a) => {
                assert_eq!(annotations.get(a), Some(&json!("true")), "{scope}: {annotations:?}")
            }
            None => assert!(
                annotations.is_empty(),
                "strict carries no scope annotation: {annotations:?}"
            ),
        }

        // kubesealpy reads the scope from the annotations and decrypts every value.
        let out = unseal(&key, yaml, None)
            .unwrap_or_else(|e| panic!("{scope}: kubesealpy cannot decrypt: {e}"));
        assert_eq!(out["scope"], scope);
        assert_eq!(out["name"], "db-creds");
        assert_eq!(out["namespace"], "payments");
        assert_eq!(out["type"], "kubernetes.io/basic-auth");
        for (k, v) in &want {
            assert_eq!(out["data"][k], json!(v), "{scope}: key {k}");
        }

        // The label binds the ciphertext: another name / namespace must fail where the scope says so.
        let other_name = unseal(&key, yaml, Some((scope, "payments", "other-name")));
        let other_ns = unseal(&key, yaml, Some((scope, "other-ns", "db-creds")));
        match scope {
            "strict" => {
                assert!(other_name.is_err(), "strict must not decrypt under another name");
                assert!(other_ns.is_err(), "strict must not decrypt under another namespace");
            }
            "namespace-wide" => {
                assert_eq!(
                    other_name.expect("namespace-wide: any name in the namespace")["data"]["password"],
                    json!(want["password"])
                );
                assert!(
                    other_ns.is_err(),
                    "namespace-wide must not decrypt under another namespace"
                );
            }
            _ => {
                assert_eq!(
                    other_name.expect("cluster-wide: any name")["data"]["password"],
                    json!(want["password"])
                );
                assert_eq!(
                    other_ns.expect("cluster-wide: any namespace")["data"]["password"],
                    json!(want["password"])
                );
            }
        }
    }
}

#[test]
fn seal_from_flags_and_scope_from_manifest_annotations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = gen_cert(dir.path(), &[]);
    let cert = cert.to_str().expect("utf8");
    let file = dir.path().join("ca.crt");
    std::fs::write(&file, b"\x00\x01binary\xffpayload").expect("write");
    let from_file = format!("ca.crt={}", file.display());
    let run = platctl(
        &[
            "secrets",
            "seal",
            "--cert",
            cert,
            "--name",
            "tls-bundle",
            "-n",
            "edge",
            "--from-literal",
            "api-key=k-123=x",
            "--from-file",
            &from_file,
            "--output",
            "json",
        ],
        None,
        &[],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).expect("--output json is JSON");
    assert_eq!(v["spec"]["template"]["type"], "Opaque");
    let yaml = platctl_secrets::SealedSecret::to_yaml(&serde_json::from_value(v).expect("sealed"))
        .expect("yaml");
    let out = unseal(&key, &yaml, None).expect("decrypts");
    assert_eq!(out["data"]["api-key"], json!(b64("k-123=x")), "only the first '=' splits");
    use base64::Engine;
    assert_eq!(
        out["data"]["ca.crt"],
        json!(base64::engine::general_purpose::STANDARD.encode(b"\x00\x01binary\xffpayload"))
    );

    // No --scope: the manifest's own annotation decides, as with kubeseal.
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shared\n  namespace: tools\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\nstringData:\n  k: v\n";
    let run =
        platctl(&["secrets", "seal", "--cert", cert], Some(manifest.as_bytes()), &[], dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = unseal(&key, &run.stdout, None).expect("decrypts");
    assert_eq!(out["scope"], "namespace-wide");
    assert!(unseal(&key, &run.stdout, Some(("namespace-wide", "tools", "any-name"))).is_ok());
}

/// Serve `body` at /v1/cert.pem on a loopback port, from its own thread.
fn serve_body(body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let app = axum::Router::new()
                .route("/v1/cert.pem", axum::routing::get(move || async move { body }));
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{addr}")
}

fn serve_file(contents: String) -> String {
    serve_body(Box::leak(contents.into_boxed_str()))
}

#[test]
fn seal_refuses_bad_input_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (good, _) = gen_cert(&dir.path().join("good"), &[]);
    let (expired, _) = gen_cert(&dir.path().join("expired"), &["--expired"]);
    let (ecdsa, _) = gen_cert(&dir.path().join("ec"), &["--ec"]);
    let good_s = good.to_str().expect("utf8");
    let manifest = MANIFEST.as_bytes();
    let expect_err = |args: &[&str], stdin: &[u8], needles: &[&str]| {
        let run = platctl(args, Some(stdin), &[], dir.path());
        assert_ne!(run.code, 0, "{args:?} should fail");
        assert!(run.stdout.is_empty(), "nothing on stdout on error: {}", run.stdout);
        for n in needles {
            assert!(run.stderr.contains(n), "{args:?}: stderr lacks {n:?}:\n{}", run.stderr);
        }
        assert!(
            !run.stderr.contains("correct horse"),
            "a value leaked into the error: {}",
            run.stderr
        );
    };

    // Invalid manifests.
    expect_err(
        &["secrets", "seal", "--cert", good_s],
        b"kind: Secret\nmetadata: [oops\n",
        &["invalid Secret manifest", "not valid YAML"],
    );
    expect_err(
        &["secrets", "seal", "--cert", good_s],
        b"kind: ConfigMap\nmetadata: {name: a}\n",
        &["kind is \"ConfigMap\""],
    );
    expect_err(
        &["secrets", "seal", "--cert", good_s],
        b"kind: Secret\nmetadata: {name: a, namespace: b}\ndata:\n  password: 'correct horse!'\n",
        &["data.password is not valid base64"],
    );
    expect_err(
        &["secrets", "seal", "--cert", good_s],
        b"kind: Secret\nmetadata: {name: a}\nstringData: {k: v}\n",
        &["has no namespace"],
    );
    expect_err(&["secrets", "seal", "--cert", good_s], b"", &["empty"]);

    // Expired certificate: named, with its notAfter.
    let exp = expired.to_str().expect("utf8");
    expect_err(&["secrets", "seal", "--cert", exp], manifest, &[exp, "expired at 20", "notAfter"]);
    // Wrong key type.
    let ec = ecdsa.to_str().expect("utf8");
    expect_err(&["secrets", "seal", "--cert", ec], manifest, &[ec, "ECDSA", "needs an RSA key"]);
    // A file that is not a certificate.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello\n").expect("write");
    expect_err(
        &["secrets", "seal", "--cert", junk.to_str().expect("utf8")],
        manifest,
        &["is not a PEM X.509 certificate"],
    );

    // URL unreachable: a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/v1/cert.pem");
    expect_err(
        &["secrets", "seal", "--cert", &url],
        manifest,
        &["cannot fetch certificate from", &url],
    );
    // URL that answers with something that is not a certificate.
    let base = serve_body("<html><body>sealed-secrets is not here</body></html>\n");
    let url = format!("{base}/v1/cert.pem");
    expect_err(
        &["secrets", "seal", "--cert", &url],
        manifest,
        &[&url, "is not a PEM X.509 certificate", "<html>"],
    );
    let url404 = format!("{base}/nope");
    expect_err(&["secrets", "seal", "--cert", &url404], manifest, &["HTTP 404"]);

    // Control: the same server path with a real certificate works.
    let base = serve_file(std::fs::read_to_string(&good).expect("read cert"));
    let run = platctl(
        &["secrets", "seal", "--cert", &format!("{base}/v1/cert.pem")],
        Some(manifest),
        &[],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("encryptedData"));
    // A bare controller address means its /v1/cert.pem.
    let run = platctl(&["secrets", "seal", "--cert", &base], Some(manifest), &[], dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
}

// ---------------------------------------------------------------- sync (OpenBao)

/// Admin calls to the dev server with the root token.
fn bao(method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> (u16, Value) {
    let addr = env_var("PLATCTL_TEST_BAO_ADDR");
    let root = env_var("PLATCTL_TEST_BAO_TOKEN");
    let token = token.map_or(root, str::to_owned);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method.parse().expect("method"), format!("{addr}/v1/{path}"))
            .header("X-Vault-Token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("OpenBao reachable");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

fn bao_ok(method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = bao(method, path, body, None);
    assert!((200..300).contains(&status), "{method} {path}: HTTP {status} {v}");
    v
}

fn kv_put(mount: &str, path: &str, data: Value) -> u64 {
    let v = bao_ok("POST", &format!("{mount}/data/{path}"), Some(json!({ "data": data })));
    v["data"]["version"].as_u64().expect("version")
}

fn new_kv_mount() -> String {
    let mount = unique("kvt");
    bao_ok(
        "POST",
        &format!("sys/mounts/{mount}"),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    mount
}

struct SyncEnv {
    dir: tempfile::TempDir,
    key: PathBuf,
    mount: String,
}

impl SyncEnv {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("deploy/secrets/test")).expect("mkdir");
        let (_, key) = gen_cert(&dir.path().join("keys"), &[]);
        std::fs::copy(
            dir.path().join("keys/cert.pem"),
            dir.path().join("deploy/secrets/test/sealed-secrets-cert.pem"),
        )
        .expect("cert");
        SyncEnv { dir, key, mount: new_kv_mount() }
    }

    fn mapping(&self, body: &str) {
        std::fs::write(self.dir.path().join("deploy/secrets/mapping.yaml"), body).expect("mapping");
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join("deploy/secrets/test").join(name)
    }

    fn audit(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn sync(&self, extra: &[&str], token: Option<&str>) -> Run {
        let addr = env_var("PLATCTL_TEST_BAO_ADDR");
        let token = token.map_or_else(|| env_var("PLATCTL_TEST_BAO_TOKEN"), str::to_owned);
        let mapping = self.dir.path().join("deploy/secrets/mapping.yaml");
        let audit = self.audit();
        let mut args = vec![
            "secrets",
            "sync",
            "--env",
            "test",
            "--mapping",
            mapping.to_str().expect("utf8"),
            "--audit-log",
            audit.to_str().expect("utf8"),
        ];
        args.extend_from_slice(extra);
        platctl(&args, None, &[("BAO_ADDR", &addr), ("BAO_TOKEN", &token)], self.dir.path())
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// No file anywhere under the tree contains any of `values`.
    fn assert_no_plaintext(&self, values: &[&str]) {
        for entry in walk(self.dir.path()) {
            let text = String::from_utf8_lossy(&std::fs::read(&entry).expect("read")).into_owned();
            for v in values {
                assert!(!text.contains(v), "plaintext {v:?} found on disk in {}", entry.display());
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

fn decrypt_key(key: &Path, yaml: &str, k: &str) -> String {
    use base64::Engine;
    let out = unseal(key, yaml, None).expect("kubesealpy decrypts the synced file");
    let b = base64::engine::general_purpose::STANDARD
        .decode(out["data"][k].as_str().expect("key present"))
        .expect("b64");
    String::from_utf8(b).expect("utf8")
}

#[test]
fn sync_creates_updates_only_what_changed_and_rotates() {
    let env = SyncEnv::new();
    let m = &env.mount;
    let pw1 = format!("pw-one-{}", unique(""));
    let pw2 = format!("pw-two-{}", unique(""));
    let api1 = format!("api-one-{}", unique(""));
    let legacy = format!("legacy-{}", unique(""));
    assert_eq!(kv_put(m, "app/db", json!({"user": "ledger", "password": pw1})), 1);
    assert_eq!(kv_put(m, "app/db", json!({"user": "ledger", "password": legacy})), 2);
    assert_eq!(kv_put(m, "app/db", json!({"user": "ledger", "password": pw1})), 3);
    assert_eq!(kv_put(m, "app/api", json!({"key": api1})), 1);
    env.mapping(&format!(
        r#"environments:
  test:
    secrets:
      - name: db
        namespace: payments
        type: kubernetes.io/basic-auth
        labels: {{app: ledger}}
        keys:
          username: {{mount: {m}, path: app/db, field: user, version: latest}}
          password: {{mount: {m}, path: app/db, field: password}}
      - name: api
        namespace: payments
        scope: namespace-wide
        keys:
          API_KEY: {{mount: {m}, path: app/api, field: key, version: latest}}
      - name: legacy
        namespace: batch
        scope: cluster-wide
        keys:
          password: {{mount: {m}, path: app/db, field: password, version: 2}}
"#
    ));

    // 1. First sync creates all three.
    let run = env.sync(&[], None);
    assert_eq!(run.code, 0, "{}", run.all());
    for f in ["payments-db.yaml", "payments-api.yaml", "batch-legacy.yaml"] {
        assert!(env.file(f).exists(), "{f} not written: {}", run.all());
    }
    assert_eq!(run.stdout.matches("created").count(), 3, "{}", run.stdout);
    let db1 = env.read("payments-db.yaml");
    assert!(db1.contains(&format!("{m}/app/db#password@3")), "source versions recorded: {db1}");
    assert_eq!(decrypt_key(&env.key, &db1, "password"), pw1);
    assert_eq!(decrypt_key(&env.key, &db1, "username"), "ledger");
    assert_eq!(
        decrypt_key(&env.key, &env.read("batch-legacy.yaml"), "password"),
        legacy,
        "pinned version 2"
    );
    assert_eq!(decrypt_key(&env.key, &env.read("payments-api.yaml"), "API_KEY"), api1);
    let ev = env.events();
    assert_eq!(ev.len(), 1, "one audit event per sync");
    assert_eq!(ev[0]["action"], "secrets_sync");
    assert_eq!(ev[0]["outcome"], "success");
    assert_eq!(ev[0]["env"], "test");
    assert_eq!(ev[0]["details"]["changed"], json!(["payments/db", "payments/api", "batch/legacy"]));

    // 2. Nothing changed in OpenBao: nothing is rewritten (byte-identical files).
    let before: Vec<String> = ["payments-db.yaml", "payments-api.yaml", "batch-legacy.yaml"]
        .iter()
        .map(|f| env.read(f))
        .collect();
    let run = env.sync(&[], None);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stdout.matches("unchanged").count(), 3, "{}", run.stdout);
    let after: Vec<String> = ["payments-db.yaml", "payments-api.yaml", "batch-legacy.yaml"]
        .iter()
        .map(|f| env.read(f))
        .collect();
    assert_eq!(before, after, "an idempotent sync must not reseal");
    assert_eq!(env.events().len(), 2);
    assert_eq!(env.events()[1]["details"]["changed"], json!([]));

    // 3. Rotate the DB password (new KV version): dry-run shows it, without values, and writes nothing.
    assert_eq!(kv_put(m, "app/db", json!({"user": "ledger", "password": pw2})), 4);
    let run = env.sync(&["--dry-run"], None);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("would update") && run.stdout.contains("payments/db"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("{m}/app/db#password@3 -> {m}/app/db#password@4")),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains(&pw2) && !run.all().contains(&pw1), "dry-run printed a value");
    assert_eq!(env.read("payments-db.yaml"), before[0], "dry-run wrote a file");
    assert_eq!(env.events().len(), 2, "dry-run records no audit event");
    let json_run = env.sync(&["--dry-run", "--output", "json"], None);
    let report: Value = serde_json::from_str(&json_run.stdout).expect("json report");
    let changes: Vec<&str> = report["secrets"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["change"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(changes, ["update", "unchanged", "unchanged"]);

    // 4. The real sync rewrites only the Secret whose source version changed.
    let run = env.sync(&[], None);
    assert_eq!(run.code, 0, "{}", run.all());
    let db2 = env.read("payments-db.yaml");
    assert_ne!(db2, before[0]);
    assert_eq!(decrypt_key(&env.key, &db2, "password"), pw2, "rotated value");
    assert_eq!(env.read("payments-api.yaml"), before[1], "api untouched");
    assert_eq!(
        env.read("batch-legacy.yaml"),
        before[2],
        "pinned legacy untouched although its path has a new version"
    );
    assert_eq!(env.events()[2]["details"]["changed"], json!(["payments/db"]));

    // 5. A new controller certificate reseals everything.
    let (_, key2) = gen_cert(&env.dir.path().join("keys2"), &[]);
    std::fs::copy(env.dir.path().join("keys2/cert.pem"), env.file("sealed-secrets-cert.pem"))
        .expect("new cert");
    let run = env.sync(&[], None);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stdout.matches("controller certificate changed").count(), 3, "{}", run.stdout);
    assert_eq!(decrypt_key(&key2, &env.read("payments-api.yaml"), "API_KEY"), api1);

    // Never a value in logs or in any file on disk (audit log included).
    for r in [&run] {
        for v in [&pw1, &pw2, &api1, &legacy] {
            assert!(!r.all().contains(v.as_str()));
        }
    }
    env.assert_no_plaintext(&[&pw1, &pw2, &api1, &legacy]);
}

#[test]
fn sync_missing_path_or_field_names_it_and_writes_nothing() {
    let env = SyncEnv::new();
    let m = &env.mount;
    let good = format!("good-{}", unique(""));
    kv_put(m, "app/good", json!({"v": good}));
    kv_put(m, "app/nofield", json!({"other": "x"}));
    kv_put(m, "app/deleted", json!({"v": "gone"}));
    kv_put(m, "app/deleted", json!({"v": "kept"}));
    bao_ok("POST", &format!("{m}/delete/app/deleted"), Some(json!({"versions": [1]})));
    env.mapping(&format!(
        r#"environments:
  test:
    secrets:
      - name: good
        namespace: ns
        keys: {{V: {{mount: {m}, path: app/good, field: v}}}}
      - name: missing
        namespace: ns
        keys: {{V: {{mount: {m}, path: app/does-not-exist, field: v}}}}
      - name: nofield
        namespace: ns
        keys: {{V: {{mount: {m}, path: app/nofield, field: password}}}}
      - name: oldversion
        namespace: ns
        keys: {{V: {{mount: {m}, path: app/good, field: v, version: 7}}}}
      - name: deleted
        namespace: ns
        keys: {{V: {{mount: {m}, path: app/deleted, field: v, version: 1}}}}
"#
    ));
    // A file from an earlier sync must stay as it is.
    std::fs::write(env.file("ns-good.yaml"), "# earlier\n").expect("seed");
    let run = env.sync(&[], None);
    assert_eq!(run.code, 5, "missing sources exit 5: {}", run.all());
    for needle in [
        format!("{m}/app/does-not-exist not found"),
        format!("{m}/app/nofield (version 1): has no field \"password\""),
        format!("{m}/app/good (version 7) not found"),
        format!("{m}/app/deleted (version 1): version 1 is deleted or destroyed"),
        "no file was written".to_owned(),
    ] {
        assert!(run.stderr.contains(&needle), "stderr lacks {needle:?}:\n{}", run.stderr);
    }
    assert_eq!(std::fs::read_to_string(env.file("ns-good.yaml")).expect("read"), "# earlier\n");
    for f in ["ns-missing.yaml", "ns-nofield.yaml", "ns-oldversion.yaml", "ns-deleted.yaml"] {
        assert!(!env.file(f).exists(), "{f} written despite the error");
    }
    let ev = env.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["outcome"], "error");
    assert_eq!(ev[0]["details"]["changed"], json!([]));
    env.assert_no_plaintext(&[&good]);
}

#[test]
fn sync_denied_path_names_it_and_writes_nothing() {
    let env = SyncEnv::new();
    let m = &env.mount;
    kv_put(m, "allowed/app", json!({"v": "allowed-value"}));
    kv_put(m, "forbidden/app", json!({"v": "forbidden-value"}));
    let policy = unique("pol");
    bao_ok(
        "PUT",
        &format!("sys/policies/acl/{policy}"),
        Some(
            json!({"policy": format!("path \"{m}/data/allowed/*\" {{ capabilities = [\"read\"] }}")}),
        ),
    );
    let token = bao_ok(
        "POST",
        "auth/token/create",
        Some(json!({"policies": [policy], "ttl": "10m"})),
    )["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_owned();
    env.mapping(&format!(
        r#"environments:
  test:
    secrets:
      - name: ok
        namespace: ns
        keys: {{V: {{mount: {m}, path: allowed/app, field: v}}}}
      - name: nope
        namespace: ns
        keys: {{V: {{mount: {m}, path: forbidden/app, field: v}}}}
"#
    ));
    let run = env.sync(&[], Some(&token));
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("permission denied (HTTP 403) reading {m}/forbidden/app")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{m}/data/forbidden/app")),
        "names the policy path: {}",
        run.stderr
    );
    assert!(
        !env.file("ns-ok.yaml").exists() && !env.file("ns-nope.yaml").exists(),
        "nothing may be written"
    );
    let ev = env.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["outcome"], "denied");
    assert!(!run.all().contains("allowed-value"));

    // The same token with only the allowed Secret in the mapping works.
    env.mapping(&format!(
        "environments:\n  test:\n    secrets:\n      - name: ok\n        namespace: ns\n        keys: {{V: {{mount: {m}, path: allowed/app, field: v}}}}\n"
    ));
    let run = env.sync(&[], Some(&token));
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(decrypt_key(&env.key, &env.read("ns-ok.yaml"), "V"), "allowed-value");
}

#[test]
fn sync_authenticates_with_approle() {
    let env = SyncEnv::new();
    let m = &env.mount;
    kv_put(m, "svc/cfg", json!({"token": "approle-read-value"}));
    let auth_mount = unique("approle");
    bao_ok("POST", &format!("sys/auth/{auth_mount}"), Some(json!({"type": "approle"})));
    let policy = unique("pol");
    bao_ok(
        "PUT",
        &format!("sys/policies/acl/{policy}"),
        Some(json!({"policy": format!("path \"{m}/data/svc/*\" {{ capabilities = [\"read\"] }}")})),
    );
    bao_ok(
        "POST",
        &format!("auth/{auth_mount}/role/sync"),
        Some(json!({"token_policies": [policy], "token_ttl": "5m"})),
    );
    let role_id =
        bao_ok("GET", &format!("auth/{auth_mount}/role/sync/role-id"), None)["data"]["role_id"]
            .as_str()
            .expect("role_id")
            .to_owned();
    let secret_id = bao_ok("POST", &format!("auth/{auth_mount}/role/sync/secret-id"), None)["data"]
        ["secret_id"]
        .as_str()
        .expect("secret_id")
        .to_owned();
    env.mapping(&format!(
        "environments:\n  test:\n    secrets:\n      - name: cfg\n        namespace: svc\n        keys: {{TOKEN: {{mount: {m}, path: svc/cfg, field: token}}}}\n"
    ));
    let mapping = env.dir.path().join("deploy/secrets/mapping.yaml");
    let audit = env.audit();
    let addr = env_var("PLATCTL_TEST_BAO_ADDR");
    let args = [
        "secrets",
        "sync",
        "--env",
        "test",
        "--mapping",
        mapping.to_str().expect("utf8"),
        "--audit-log",
        audit.to_str().expect("utf8"),
    ];
    let run = platctl(
        &args,
        None,
        &[
            ("BAO_ADDR", &addr),
            ("BAO_ROLE_ID", &role_id),
            ("BAO_SECRET_ID", &secret_id),
            ("BAO_APPROLE_MOUNT", &auth_mount),
        ],
        env.dir.path(),
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("approle auth"), "{}", run.stderr);
    assert_eq!(decrypt_key(&env.key, &env.read("svc-cfg.yaml"), "TOKEN"), "approle-read-value");

    // A wrong secret id is a login error, and nothing is written.
    std::fs::remove_file(env.file("svc-cfg.yaml")).expect("rm");
    let run = platctl(
        &args,
        None,
        &[
            ("BAO_ADDR", &addr),
            ("BAO_ROLE_ID", &role_id),
            ("BAO_SECRET_ID", "wrong"),
            ("BAO_APPROLE_MOUNT", &auth_mount),
        ],
        env.dir.path(),
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("approle login failed"), "{}", run.stderr);
    assert!(!env.file("svc-cfg.yaml").exists());
    // No credentials at all: a clear configuration error.
    let run = platctl(&args, None, &[("BAO_ADDR", &addr)], env.dir.path());
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("set BAO_TOKEN, or BAO_ROLE_ID and BAO_SECRET_ID"),
        "{}",
        run.stderr
    );
}

/// The in-cluster login (`BAO_K8S_ROLE`): `POST auth/<mount>/login {role, jwt}` with the
/// service account token file. OpenBao's kubernetes method checks the token with the
/// cluster's TokenReview API, which cannot run here; its jwt method takes the same login
/// body and verifies the token's signature itself, so it exercises our side for real.
#[test]
fn sync_authenticates_in_cluster_with_a_service_account_token() {
    let env = SyncEnv::new();
    let m = &env.mount;
    kv_put(m, "k8s/cfg", json!({"token": "k8s-login-value"}));
    let jwt_dir = env.dir.path().join("sa");
    let out = Command::new("python3")
        .arg(helper())
        .args(["sa-jwt", "--dir"])
        .arg(&jwt_dir)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let auth_mount = unique("k8s");
    bao_ok("POST", &format!("sys/auth/{auth_mount}"), Some(json!({"type": "jwt"})));
    let pubkey = std::fs::read_to_string(jwt_dir.join("jwt-pub.pem")).expect("pub");
    bao_ok(
        "POST",
        &format!("auth/{auth_mount}/config"),
        Some(json!({"jwt_validation_pubkeys": [pubkey]})),
    );
    let policy = unique("pol");
    bao_ok(
        "PUT",
        &format!("sys/policies/acl/{policy}"),
        Some(json!({"policy": format!("path \"{m}/data/k8s/*\" {{ capabilities = [\"read\"] }}")})),
    );
    for (role, subject) in [
        ("sync", "system:serviceaccount:platform:secrets-sync"),
        ("other", "system:serviceaccount:platform:someone-else"),
    ] {
        bao_ok(
            "POST",
            &format!("auth/{auth_mount}/role/{role}"),
            Some(
                json!({"role_type": "jwt", "bound_audiences": ["openbao"], "user_claim": "sub", "bound_subject": subject,
                        "token_policies": [policy], "token_ttl": "5m"}),
            ),
        );
    }
    env.mapping(&format!(
        "environments:\n  test:\n    secrets:\n      - name: cfg\n        namespace: k8s\n        keys: {{TOKEN: {{mount: {m}, path: k8s/cfg, field: token}}}}\n"
    ));
    let mapping = env.dir.path().join("deploy/secrets/mapping.yaml");
    let audit = env.audit();
    let addr = env_var("PLATCTL_TEST_BAO_ADDR");
    let jwt_path = jwt_dir.join("jwt");
    let args = [
        "secrets",
        "sync",
        "--env",
        "test",
        "--mapping",
        mapping.to_str().expect("utf8"),
        "--audit-log",
        audit.to_str().expect("utf8"),
    ];
    let jwt_str = jwt_path.to_str().expect("utf8");
    let run_as = |role: &str| {
        let envs = [
            ("BAO_ADDR", addr.as_str()),
            ("BAO_K8S_ROLE", role),
            ("BAO_K8S_MOUNT", auth_mount.as_str()),
            ("BAO_K8S_JWT_PATH", jwt_str),
        ];
        platctl(&args, None, &envs, env.dir.path())
    };
    let run = run_as("sync");
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("kubernetes auth"), "{}", run.stderr);
    assert_eq!(decrypt_key(&env.key, &env.read("k8s-cfg.yaml"), "TOKEN"), "k8s-login-value");

    // A role bound to another service account refuses the token; nothing is written.
    std::fs::remove_file(env.file("k8s-cfg.yaml")).expect("rm");
    let run = run_as("other");
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("kubernetes login failed"), "{}", run.stderr);
    assert!(!env.file("k8s-cfg.yaml").exists());
    assert!(
        !run.all().contains(std::fs::read_to_string(&jwt_path).expect("jwt").trim()),
        "the token leaked into the output"
    );
}

// ---------------------------------------------------------------- sealing keys (issue 14)

fn kv_field(mount: &str, path: &str, field: &str) -> String {
    let v = bao_ok("GET", &format!("{mount}/data/{path}"), None);
    v["data"]["data"][field].as_str().unwrap_or_else(|| panic!("{mount}/{path}#{field}")).to_owned()
}

/// A repository copy with a mapping for environments that have no cluster.
struct KeyEnv {
    dir: tempfile::TempDir,
    keys: tempfile::TempDir,
    mount: String,
}

impl KeyEnv {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mount = new_kv_mount();
        std::fs::create_dir_all(dir.path().join("deploy/secrets")).expect("mkdir");
        let mapping = format!(
            "environments:\n  qa:\n    secrets:\n      - name: app\n        namespace: qa\n        keys:\n          TOKEN: {{mount: {mount}, path: qa/app, field: token}}\n  \
             qa-platform:\n    cert: qa/sealed-secrets-cert.pem\n    secrets: []\n  later:\n    secrets: []\n"
        );
        std::fs::write(dir.path().join("deploy/secrets/mapping.yaml"), mapping).expect("mapping");
        KeyEnv { dir, keys: tempfile::tempdir().expect("keys"), mount }
    }

    fn mapping(&self) -> String {
        self.dir.path().join("deploy/secrets/mapping.yaml").to_str().expect("utf8").to_owned()
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("deploy/secrets/qa/sealed-secrets-cert.pem")
    }

    fn key(&self, args: &[&str]) -> Run {
        let addr = env_var("PLATCTL_TEST_BAO_ADDR");
        let token = env_var("PLATCTL_TEST_BAO_TOKEN");
        let mapping = self.mapping();
        let mut all = vec!["secrets", "key"];
        all.extend_from_slice(args);
        all.extend(["--mapping", &mapping, "--kv-mount", &self.mount]);
        platctl(&all, None, &[("BAO_ADDR", &addr), ("BAO_TOKEN", &token)], self.dir.path())
    }

    /// The private key of qa's key `n`, read from OpenBao into a file outside the tree.
    fn private_key(&self, n: u64) -> PathBuf {
        let p = self.keys.path().join(format!("qa-{n}.pem"));
        std::fs::write(&p, kv_field(&self.mount, &format!("sealed-secrets/qa/{n}"), "tls.key"))
            .expect("key");
        p
    }
}

#[test]
fn a_key_generated_before_its_cluster_exists_seals_and_only_that_key_decrypts() {
    let env = KeyEnv::new();
    let value = format!("qa-token-{}", unique(""));
    kv_put(&env.mount, "qa/app", json!({"token": value}));

    // An env that owns no key (it uses qa's certificate) is refused.
    let run = env.key(&["generate", "--env", "qa-platform"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("owns no sealing key"), "{}", run.stderr);
    // Rotating before the first key: exit 5, naming `generate`.
    let run = env.key(&["rotate", "--env", "qa"]);
    assert_eq!(run.code, 5, "{}", run.all());
    assert!(run.stderr.contains("platctl secrets key generate --env qa"), "{}", run.stderr);
    // A dry run creates nothing.
    let run = env.key(&["generate", "--env", "qa", "--dry-run"]);
    assert_ne!(run.code, 0);
    assert!(!env.cert().exists());

    let run = env.key(&["generate", "--env", "qa", "--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(report["created"]["name"], "sealed-secrets-key-qa-1");
    assert_eq!(report["cert_written"], true);
    // The private key lives only in OpenBao: nowhere in the tree, nothing printed.
    let marker = format!("{} KEY", "PRIVATE");
    assert!(!run.all().contains(&marker));
    for f in walk(env.dir.path()) {
        assert!(
            !std::fs::read_to_string(&f).unwrap_or_default().contains(&marker),
            "{} holds a private key",
            f.display()
        );
    }
    // The class installs it for the controller: a kubernetes.io/tls Secret with
    // the label the controller selects, then the ready gate.
    let spc = std::fs::read_to_string(
        env.dir.path().join("deploy/secrets/sealing-keys/sealed-secrets-keys.yaml"),
    )
    .expect("class");
    let doc: Value = serde_saphyr::from_str(&spc).expect("yaml");
    let objects = doc["spec"]["secretObjects"].as_array().expect("secretObjects");
    let names: Vec<&str> = objects.iter().filter_map(|o| o["secretName"].as_str()).collect();
    // Only keys that exist are listed ("later" owns a key but has none yet).
    assert_eq!(names, ["sealed-secrets-key-qa-1", "sealed-secrets-keys-ready"]);
    assert_eq!(objects[0]["type"], "kubernetes.io/tls");
    assert_eq!(objects[0]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"], "active");

    // Seal ad hoc with the certificate: kubesealpy opens it with the generated key.
    let key1 = env.private_key(1);
    let cert = env.cert();
    let run = platctl(
        &["secrets", "seal", "--cert", cert.to_str().expect("utf8")],
        Some(MANIFEST.as_bytes()),
        &[],
        env.dir.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let opened =
        unseal(&key1, &run.stdout, None).expect("kubesealpy decrypts with the generated key");
    assert_eq!(opened["name"], "db-creds");

    // The sync mapping seals for it too.
    let addr = env_var("PLATCTL_TEST_BAO_ADDR");
    let token = env_var("PLATCTL_TEST_BAO_TOKEN");
    let mapping = env.mapping();
    let sync = || {
        platctl(
            &[
                "secrets",
                "sync",
                "--env",
                "qa",
                "--mapping",
                &mapping,
                "--audit-log",
                env.keys.path().join("audit.jsonl").to_str().expect("utf8"),
                "--output",
                "json",
            ],
            None,
            &[("BAO_ADDR", &addr), ("BAO_TOKEN", &token)],
            env.dir.path(),
        )
    };
    let run = sync();
    assert_eq!(run.code, 0, "{}", run.all());
    let sealed_v1 = std::fs::read_to_string(env.dir.path().join("deploy/secrets/qa/qa-app.yaml"))
        .expect("synced");
    assert_eq!(decrypt_key(&key1, &sealed_v1, "TOKEN"), value);

    // generate again: idempotent, no new key, files untouched.
    let cert_before = std::fs::read(env.cert()).expect("cert");
    let run = env.key(&["generate", "--env", "qa", "--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert!(report["created"].is_null());
    assert_eq!(std::fs::read(env.cert()).expect("cert"), cert_before);

    // Rotate: key 2 is active, key 1 stays (old SealedSecrets still open with it).
    let run = env.key(&["rotate", "--env", "qa", "--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(report["active"]["name"], "sealed-secrets-key-qa-2");
    assert_eq!(report["keys"].as_array().map(Vec::len), Some(2));
    assert_ne!(std::fs::read(env.cert()).expect("cert"), cert_before);
    let spc = std::fs::read_to_string(
        env.dir.path().join("deploy/secrets/sealing-keys/sealed-secrets-keys.yaml"),
    )
    .expect("class");
    assert!(
        spc.contains("sealed-secrets-key-qa-1") && spc.contains("sealed-secrets-key-qa-2"),
        "{spc}"
    );
    let key2 = env.private_key(2);
    assert_eq!(
        decrypt_key(&key1, &sealed_v1, "TOKEN"),
        value,
        "the old key still opens the old file"
    );
    let run = sync();
    assert_eq!(run.code, 0, "{}", run.all());
    let out: Value = serde_json::from_str(&run.stdout).expect("json");
    assert!(
        out["secrets"][0]["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .any(|r| r == "controller certificate changed")
    );
    let sealed_v2 = std::fs::read_to_string(env.dir.path().join("deploy/secrets/qa/qa-app.yaml"))
        .expect("resealed");
    assert_eq!(decrypt_key(&key2, &sealed_v2, "TOKEN"), value);
    assert!(unseal(&key1, &sealed_v2, None).is_err(), "the resealed file is for the new key only");

    // key list: Git has the newest certificate (exit 0); an older one is flagged (exit 3).
    let run = env.key(&["list", "--env", "qa"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("sealed-secrets-key-qa-2") && run.stdout.contains("active"),
        "{}",
        run.stdout
    );
    std::fs::write(env.cert(), &cert_before).expect("old cert");
    let run = env.key(&["list", "--env", "qa"]);
    assert_eq!(run.code, 3, "{}", run.all());
}

// ---------------------------------------------------------------- scan

#[test]
fn scan_passes_on_the_repository() {
    let root = workspace_root();
    let run = platctl(
        &["secrets", "scan", root.to_str().expect("utf8"), "--output", "json"],
        None,
        &[],
        &root,
    );
    let report: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("json: {e}\n{}", run.all()));
    assert_eq!(
        report["findings"],
        json!([]),
        "the repository must hold no plaintext Secret or credential:\n{}",
        run.all()
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(report["files_scanned"].as_u64().unwrap_or(0) > 20, "scanned too few files: {report}");
}

#[test]
fn scan_finds_plaintext_secrets_and_credentials_honouring_gitignore_and_allowlist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let w = |rel: &str, body: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    };
    // Fake credentials, assembled at run time.
    let token = "5d1c0ffee0ddba11".repeat(4);
    let akia = format!("{}{}", "AKIA", "R7Y2PLMQ4ZK8WX3T");
    let pem =
        format!("-----{} EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n", "BEGIN");
    let s3_secret = format!("{}{}", "q8Vd3Lr+Kp2mXz7", "Tn4Wb9Ya1Hc6Jf0Ge5Su2Ri8x");
    w(".gitignore", b"ignored/\n*.local\n");
    w("deploy/app.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: hunter2\n");
    w("deploy/sealed.yaml", b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s}\nspec:\n  encryptedData: {password: AgBy}\n");
    w(
        "deploy/empty-secret.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\n",
    );
    w("charts/t/templates/secret.yaml", b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  password: {{ .Values.pw | b64enc }}\n");
    w(".env", format!("LINODE_TOKEN={token}\n").as_bytes());
    w("infra/keys.txt", pem.as_bytes());
    w(
        "infra/s3.tf",
        format!("provider \"aws\" {{\n  secret_key = \"{s3_secret}\"\n}}\n").as_bytes(),
    );
    w("docs/notes.md", format!("the key {akia} was rotated\n").as_bytes());
    w("docs/digest.txt", format!("sha256: {token}\n").as_bytes());
    w("ignored/leak.env", format!("LINODE_TOKEN={token}\n").as_bytes());
    w("creds.local", format!("LINODE_TOKEN={token}\n").as_bytes());
    w("target/debug/leak.txt", format!("LINODE_TOKEN={token}\n").as_bytes());
    let mut binary = b"\x00\x01\x02".to_vec();
    binary.extend(format!("LINODE_TOKEN={token}").as_bytes());
    w("assets/blob.bin", &binary);
    w(
        "tests/fixtures/secret.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: f}\ndata: {k: dg==}\n",
    );
    w(
        ".platctl-scan-allow",
        b"# test fixtures\ntests/fixtures/**  # fake Secrets used by the scanner's own tests\n",
    );

    let run = platctl(
        &["secrets", "scan", root.to_str().expect("utf8"), "--output", "json"],
        None,
        &[],
        root,
    );
    assert_eq!(run.code, 1, "findings exit 1: {}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    let mut got: Vec<(String, u64, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_owned(),
                f["line"].as_u64().unwrap_or(0),
                f["kind"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    got.sort();
    let want = vec![
        (".env".to_owned(), 1, "linode_token".to_owned()),
        ("charts/t/templates/secret.yaml".to_owned(), 5, "kubernetes_secret".to_owned()),
        ("deploy/app.yaml".to_owned(), 9, "kubernetes_secret".to_owned()),
        ("docs/notes.md".to_owned(), 1, "aws_access_key_id".to_owned()),
        ("infra/keys.txt".to_owned(), 1, "private_key".to_owned()),
        ("infra/s3.tf".to_owned(), 2, "s3_secret_key".to_owned()),
    ];
    assert_eq!(got, want, "{}", run.stdout);
    assert_eq!(report["files_allowlisted"], 1);
    assert!(report["files_skipped"].as_u64().unwrap_or(0) >= 1, "the binary file is skipped");
    for v in [&token, &akia, &s3_secret, &"hunter2".to_owned()] {
        assert!(!run.all().contains(v.as_str()), "the scan printed a credential");
    }

    // Text output: file:line:col: kind.
    let run = platctl(&["secrets", "scan", root.to_str().expect("utf8")], None, &[], root);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains(".env:1:14: linode_token:"), "{}", run.stdout);
    assert!(run.stderr.contains("6 finding(s)"), "{}", run.stderr);

    // An allowlist entry without a reason is refused.
    w(".platctl-scan-allow", b"tests/fixtures/**\n");
    let run = platctl(&["secrets", "scan", root.to_str().expect("utf8")], None, &[], root);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(".platctl-scan-allow line 1") && run.stderr.contains("needs a reason"),
        "{}",
        run.stderr
    );

    // A clean tree exits 0.
    let clean = tempfile::tempdir().expect("tempdir");
    std::fs::write(clean.path().join("a.yaml"), "kind: ConfigMap\ndata: {a: b}\n").expect("write");
    let run = platctl(
        &["secrets", "scan", clean.path().to_str().expect("utf8")],
        None,
        &[],
        clean.path(),
    );
    assert_eq!(run.code, 0, "{}", run.all());
}
