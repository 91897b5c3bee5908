//! Bad files become findings, never a crash: binary, huge, symlink loops,
//! dangling links, malformed YAML and invalid HCL, built at run time.

use std::path::Path;

use platctl_check::walk::MAX_FILE_BYTES;
use platctl_check::{Finding, Options, check};

mod common;
use common::schemas;

fn run(root: &Path, only: &str) -> Vec<Finding> {
    let opts = Options {
        root: root.to_path_buf(),
        schemas: schemas(),
        only: vec![only.to_owned()],
        skip: vec![],
    };
    check(&opts).expect("check runs").findings
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("deploy/apps")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("infra/terraform")).expect("mkdir");
    std::fs::write(
        dir.path().join("deploy/apps/ok.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
    )
    .expect("write");
    dir
}

#[test]
fn binary_file_is_a_finding() {
    let dir = repo();
    assert!(run(dir.path(), "PARSE003").is_empty(), "text files pass");
    std::fs::write(
        dir.path().join("deploy/apps/blob.yaml"),
        [0x7f, b'E', b'L', b'F', 0, 0, 1, 2, 0xff],
    )
    .expect("write");
    std::fs::write(dir.path().join("infra/terraform/latin1.tf"), b"# caf\xe9\n").expect("write");
    let f = run(dir.path(), "PARSE003");
    let files: Vec<&str> = f.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(files, ["deploy/apps/blob.yaml", "infra/terraform/latin1.tf"], "{f:?}");
    assert!(f[0].message.contains("binary"), "{f:?}");
}

#[test]
fn huge_file_is_a_finding_and_not_parsed() {
    let dir = repo();
    assert!(run(dir.path(), "PARSE004").is_empty());
    let mut big = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n");
    while big.len() as u64 <= MAX_FILE_BYTES {
        big.push_str(
            "  k: \"0123456789012345678901234567890123456789012345678901234567890123456789\"\n",
        );
    }
    std::fs::write(dir.path().join("deploy/apps/big.yaml"), &big).expect("write");
    let f = run(dir.path(), "PARSE004");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].file.as_str(), f[0].line), ("deploy/apps/big.yaml", 0));
    // Not parsed, so no parse finding either.
    assert!(run(dir.path(), "PARSE001").is_empty());
}

#[cfg(unix)]
#[test]
fn symlink_loops_and_dangling_links_are_findings() {
    use std::os::unix::fs::symlink;
    let dir = repo();
    assert!(run(dir.path(), "PARSE005").is_empty());
    // a directory link to its own ancestor, a self-referencing link, a dangling link
    symlink(dir.path().join("deploy"), dir.path().join("deploy/apps/loop")).expect("symlink");
    symlink("self.yaml", dir.path().join("deploy/apps/self.yaml")).expect("symlink");
    symlink("missing.yaml", dir.path().join("deploy/apps/dangling.yaml")).expect("symlink");
    let f = run(dir.path(), "PARSE005");
    let got: Vec<(&str, bool)> =
        f.iter().map(|f| (f.file.as_str(), f.message.contains("loop"))).collect();
    assert_eq!(
        got,
        [
            ("deploy/apps/dangling.yaml", false),
            ("deploy/apps/loop", true),
            ("deploy/apps/self.yaml", true)
        ],
        "{f:?}"
    );
    // the rest of the tree is still checked
    std::fs::write(
        dir.path().join("deploy/apps/plain.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n",
    )
    .expect("write");
    assert_eq!(run(dir.path(), "K8S007").len(), 1);
}

#[test]
fn malformed_yaml_and_invalid_hcl_are_findings_at_their_line() {
    let dir = repo();
    std::fs::write(dir.path().join("deploy/apps/bad.yaml"), "a: 1\nb:\n  - x\n  y: z\n")
        .expect("write");
    std::fs::write(dir.path().join("infra/terraform/bad.tf"), "locals {\n  a = 1\n  b = \n}\n")
        .expect("write");
    std::fs::write(dir.path().join("deploy/apps/empty.yaml"), "").expect("write");
    std::fs::write(dir.path().join("deploy/apps/only-comments.yaml"), "# nothing\n---\n")
        .expect("write");
    let y = run(dir.path(), "PARSE001");
    assert_eq!(y.len(), 1, "{y:?}");
    assert_eq!(y[0].file, "deploy/apps/bad.yaml");
    assert!((3..=4).contains(&y[0].line), "{y:?}");
    let h = run(dir.path(), "PARSE002");
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!((h[0].file.as_str(), h[0].line), ("infra/terraform/bad.tf", 3));
}

#[test]
fn checking_a_sub_folder_keeps_each_file_kind() {
    // `platctl check .github/workflows` still applies the workflow rules.
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).expect("mkdir");
    std::fs::write(wf.join("ci.yml"), "name: ci\non: [push]\njobs:\n  t:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n")
        .expect("write");
    let f = run(&wf, "GHA002");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].file.as_str(), f[0].line), ("ci.yml", 7));
}

#[test]
fn terraform_state_and_saved_plans_are_findings_and_never_read() {
    let dir = repo();
    let env = dir.path().join("infra/terraform/envs/staging");
    std::fs::create_dir_all(&env).expect("mkdir");
    std::fs::write(env.join("main.tf"), "locals {}\n").expect("write");
    assert!(run(dir.path(), "TF015").is_empty(), "no state, no finding");
    // Not text: the walk must not try to parse them (they would be PARSE findings).
    std::fs::write(env.join("terraform.tfstate"), [0u8, 1, 2]).expect("write");
    std::fs::write(env.join("terraform.tfstate.backup"), "{}").expect("write");
    std::fs::write(env.join("plan.tfplan"), [0u8, 0xff]).expect("write");
    let f = run(dir.path(), "TF015");
    let files: Vec<(&str, usize)> = f.iter().map(|f| (f.file.as_str(), f.line)).collect();
    assert_eq!(
        files,
        [
            ("infra/terraform/envs/staging/plan.tfplan", 0),
            ("infra/terraform/envs/staging/terraform.tfstate", 0),
            ("infra/terraform/envs/staging/terraform.tfstate.backup", 0),
        ],
        "{f:?}"
    );
    assert!(run(dir.path(), "PARSE003").is_empty(), "state files are not read");
}
