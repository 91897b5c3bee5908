//! `platctl render` driven through the real binary, the real `helm` and
//! `kubectl`: small fixture repositories (charts packaged with `helm package`
//! into a fixture cache, the real `argocd-apps` chart for the root
//! Application), and the repository itself with the real chart cache.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{json, ok, platctl, stderr, stdout};

const HELM: &str = "/usr/local/bin/helm";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The real chart cache (../shared/charts, or $PLATCTL_CHARTS).
fn shared_charts() -> PathBuf {
    let p = std::env::var_os("PLATCTL_CHARTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/charts"));
    assert!(
        p.join("argocd-apps-2.0.2.tgz").is_file(),
        "the chart cache is missing at {}: export PLATCTL_CHARTS or run scripts/test",
        p.display()
    );
    p
}

fn helm() -> &'static str {
    assert!(Path::new(HELM).exists(), "helm is required at {HELM} (.ci/install-tools installs it)");
    HELM
}

/// Every document of a rendered file (its header comment is skipped by YAML).
fn docs(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Option<Value>> =
        serde_saphyr::from_multiple(&text).expect("rendered YAML parses");
    docs.into_iter().flatten().collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:#?}", names(objects)))
}

fn names(objects: &[Value]) -> Vec<String> {
    objects.iter().map(|o| format!("{} {}", o["kind"], o["metadata"]["name"])).collect()
}

fn annotation<'a>(o: &'a Value, key: &str) -> &'a str {
    o["metadata"]["annotations"][key].as_str().unwrap_or_else(|| panic!("no {key} on {o}"))
}

/// A throwaway repository with a minimal Argo CD bootstrap module (the real
/// `argocd-apps` chart makes the root Application) and a chart cache.
struct Fixture {
    dir: tempfile::TempDir,
}

const BOOTSTRAP_MODULE: &str = r#"
variable "root_path" { type = string }
variable "repo_url" { type = string }
resource "helm_release" "root" {
  name      = "argocd-root"
  chart     = "argocd-apps"
  version   = "2.0.2"
  namespace = "argocd"
  values = [yamlencode({
    applications = {
      root = {
        namespace   = "argocd"
        project     = "default"
        source      = { repoURL = var.repo_url, targetRevision = "main", path = var.root_path }
        destination = { server = "https://kubernetes.default.svc", namespace = "argocd" }
      }
    }
  })]
}
"#;

const REPO_URL: &str = "https://git.example.com/platform.git";

/// A chart exercising what Argo CD does with a chart: release name and
/// namespace, values, a CRD in crds/, hooks, a helm test, and a template that
/// renders only when the cluster serves monitoring.coreos.com/v1.
const DEMO_CHART: &[(&str, &str)] = &[
    ("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.0.0\n"),
    ("values.yaml", "replicas: 1\nimage:\n  repository: demo\n  tag: \"1.0\"\n"),
    (
        "templates/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-demo
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ required "image.tag is required" .Values.image.tag }}"
"#,
    ),
    (
        "templates/monitor.yaml",
        r#"{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .Release.Name }}
spec:
  endpoints: [{port: http}]
  selector: {matchLabels: {app: {{ .Release.Name }}}}
{{- end }}
"#,
    ),
    (
        "templates/migrate.yaml",
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "demo:1.0"}]
"#,
    ),
    (
        "templates/tests/smoke.yaml",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-smoke
  annotations: {helm.sh/hook: test}
spec:
  restartPolicy: Never
  containers: [{name: s, image: "demo:1.0"}]
"#,
    ),
    (
        "crds/widgets.yaml",
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.demo.example.com
spec:
  group: demo.example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
"#,
    ),
];

/// The CRD of ServiceMonitor, as a plain manifest of the fixture tree.
const SERVICE_MONITOR_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, plural: servicemonitors}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

fn application(name: &str, wave: i64, namespace: &str, source: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n  \
annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\nspec:\n  project: default\n  destination:\n    server: \
https://kubernetes.default.svc\n    namespace: {namespace}\n{source}"
    )
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = Fixture { dir };
        f.write("infra/terraform/modules/argocd-bootstrap/main.tf", BOOTSTRAP_MODULE);
        f.write(
            "infra/terraform/envs/test/main.tf",
            &format!(
                "module \"argocd\" {{\n  source    = \"../../modules/argocd-bootstrap\"\n  root_path = \
\"deploy/root\"\n  repo_url  = \"{REPO_URL}\"\n}}\n"
            ),
        );
        fs::create_dir_all(f.cache()).expect("cache");
        let shared = shared_charts();
        for chart in ["argocd-apps-2.0.2.tgz", "openbao-0.29.2.tgz"] {
            std::os::unix::fs::symlink(shared.join(chart), f.cache().join(chart)).expect("symlink");
        }
        f.package(DEMO_CHART);
        f
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    fn out(&self) -> PathBuf {
        self.root().join("out")
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    /// `helm package` a chart into the fixture cache.
    fn package(&self, files: &[(&str, &str)]) {
        let src = tempfile::tempdir().expect("tempdir");
        let name = files
            .iter()
            .find(|(f, _)| *f == "Chart.yaml")
            .and_then(|(_, t)| t.lines().find_map(|l| l.strip_prefix("name: ")))
            .expect("Chart.yaml with a name");
        for (rel, text) in files {
            let p = src.path().join(name).join(rel);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, text).expect("write");
        }
        let o = Command::new(helm())
            .arg("package")
            .arg(src.path().join(name))
            .arg("--destination")
            .arg(self.cache())
            .output()
            .expect("helm package");
        assert!(o.status.success(), "helm package: {}", String::from_utf8_lossy(&o.stderr));
    }

    fn render(&self, extra: &[&str]) -> Output {
        let mut cmd = platctl();
        cmd.current_dir(self.root())
            .env_remove("PLATCTL_CHARTS")
            .args(["render", "--env", "test", "--charts"])
            .arg(self.cache())
            .arg("--out-dir")
            .arg(self.out())
            .args(extra);
        cmd.output().expect("run platctl render")
    }

    fn file(&self, app: &str) -> Vec<Value> {
        docs(&self.out().join(format!("{app}.yaml")))
    }
}

#[track_caller]
fn fails(o: &Output, code: i32, parts: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stdout:\n{}\nstderr:\n{err}", stdout(o));
    for p in parts {
        assert!(err.contains(p), "{p:?} is not in:\n{err}");
    }
}

#[test]
fn a_chart_source_renders_with_release_name_namespace_values_crds_hooks_and_api_versions() {
    let f = Fixture::new();
    f.write(
        "deploy/root/shop.yaml",
        &application(
            "shop",
            5,
            "shop",
            "  source:\n    repoURL: https://charts.example.com\n    chart: demo\n    targetRevision: 1.0.0\n    \
helm:\n      releaseName: web\n      valuesObject:\n        replicas: 3\n",
        ),
    );
    f.write(
        "deploy/root/crds.yaml",
        &application(
            "crds",
            -1,
            "default",
            "  source:\n    repoURL: https://git.example.com/platform.git\n    path: deploy/crds\n",
        ),
    );
    f.write("deploy/crds/servicemonitor.yaml", SERVICE_MONITOR_CRD);
    let o = ok(f.render(&["--output", "json"]));
    let summary = json(&o);

    let objects = f.file("shop");
    let deploy = find(&objects, "Deployment", "web-demo");
    assert_eq!(
        deploy["metadata"]["namespace"], "shop",
        "the destination namespace is the release namespace"
    );
    assert_eq!(deploy["spec"]["replicas"], 3, "valuesObject reaches the chart");
    assert_eq!(annotation(deploy, "render.platctl.io/application"), "shop");
    assert_eq!(annotation(deploy, "render.platctl.io/sync-wave"), "0");
    assert_eq!(annotation(deploy, "render.platctl.io/sync-phase"), "Sync");
    assert_eq!(
        annotation(deploy, "render.platctl.io/sync-order"),
        "5/0",
        "root -> shop (wave 5) -> wave 0"
    );
    // The chart's crds/ folder is included, as Argo CD applies it.
    find(&objects, "CustomResourceDefinition", "widgets.demo.example.com");
    // A pre-install hook runs in PreSync with its hook weight as its wave; the helm test never runs.
    let job = find(&objects, "Job", "web-migrate");
    assert_eq!(annotation(job, "render.platctl.io/sync-phase"), "PreSync");
    assert_eq!(annotation(job, "render.platctl.io/sync-order"), "5/PreSync:-5");
    assert!(
        !objects.iter().any(|o| o["kind"] == "Pod"),
        "helm test hooks are not applied: {:?}",
        names(&objects)
    );
    // The tree serves monitoring.coreos.com/v1 (another Application's CRD), so the chart renders its ServiceMonitor.
    find(&objects, "ServiceMonitor", "web");

    let shop = summary["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .find(|a| a["name"] == "shop")
        .expect("shop in the summary");
    assert_eq!(shop["order"], "5");
    assert_eq!(shop["sources"][0]["chart"], "demo");
    assert_eq!(shop["skipped"][0]["kind"], "Pod");
    assert!(
        shop["provides"]
            .as_array()
            .expect("provides")
            .contains(&Value::from("demo.example.com/v1/Widget"))
    );
    assert_eq!(summary["objects_by_kind"]["apps/Deployment"], 1);
    assert!(
        summary["api_versions"]
            .as_array()
            .expect("api")
            .contains(&Value::from("monitoring.coreos.com/v1/ServiceMonitor"))
    );
    let waves: Vec<&str> = summary["waves"]
        .as_array()
        .expect("waves")
        .iter()
        .filter_map(|w| w["order"].as_str())
        .collect();
    assert_eq!(
        waves,
        ["terraform:1", "terraform:1/0", "-1", "5"],
        "the bootstrap, the root, then the waves"
    );
    // The CRD's JSON schema is written for validation (int-or-string as a JSON schema understands it).
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(f.out().join(".schemas/crds/demo.example.com/widget_v1.json"))
            .expect("schema"),
    )
    .expect("JSON");
    assert_eq!(schema["properties"]["spec"]["properties"]["size"]["anyOf"][0]["type"], "integer");
}

/// A chart whose templates make a CRD, and one that renders a custom resource
/// only when the cluster serves it: both read `.Capabilities.APIVersions`, so
/// they render in the same batch, and the second must render again once the
/// first has made the kind known (Argo CD's steady state).
#[test]
fn a_chart_renders_again_when_a_kind_it_checks_for_appears_later() {
    let f = Fixture::new();
    f.package(&[
        ("Chart.yaml", "apiVersion: v2\nname: provider\nversion: 1.0.0\n"),
        (
            "templates/crd.yaml",
            "{{- if .Capabilities.APIVersions.Has \"policy/v1\" }}\napiVersion: apiextensions.k8s.io/v1\n\
kind: CustomResourceDefinition\nmetadata:\n  name: gadgets.demo.example.com\nspec:\n  group: demo.example.com\n  \
scope: Namespaced\n  names: {kind: Gadget, plural: gadgets}\n  versions:\n    - name: v1\n      served: true\n      \
storage: true\n      schema:\n        openAPIV3Schema: {type: object}\n{{- end }}\n",
        ),
    ]);
    f.package(&[
        ("Chart.yaml", "apiVersion: v2\nname: consumer\nversion: 1.0.0\n"),
        (
            "templates/gadget.yaml",
            "{{- if .Capabilities.APIVersions.Has \"demo.example.com/v1/Gadget\" }}\napiVersion: demo.example.com/v1\n\
kind: Gadget\nmetadata:\n  name: {{ .Release.Name }}\n{{- end }}\n",
        ),
    ]);
    for (name, chart) in [("a-provider", "provider"), ("b-consumer", "consumer")] {
        f.write(
            &format!("deploy/root/{name}.yaml"),
            &application(
                name,
                0,
                "demo",
                &format!("  source:\n    repoURL: https://charts.example.com\n    chart: {chart}\n    targetRevision: 1.0.0\n"),
            ),
        );
    }
    let summary = json(&ok(f.render(&["--output", "json"])));
    find(&f.file("b-consumer"), "Gadget", "b-consumer");
    assert_eq!(summary["rerendered"], serde_json::json!(["b-consumer"]), "{summary:#}");
    assert_eq!(
        summary["helm_calls"].as_array().map(Vec::len),
        Some(3),
        "one recorded call per chart: {summary:#}"
    );
}

#[test]
fn a_multi_source_application_reads_values_files_through_its_ref() {
    let f = Fixture::new();
    f.write(
        "deploy/root/shop.yaml",
        &application(
            "shop",
            0,
            "shop",
            "  sources:\n    - repoURL: https://charts.example.com\n      chart: demo\n      targetRevision: 1.0.0\n      \
helm:\n        valueFiles:\n          - $values/values/shop.yaml\n        values: |\n          image:\n            \
tag: \"2.0\"\n    - repoURL: https://git.example.com/platform\n      targetRevision: main\n      ref: values\n",
        ),
    );
    f.write("values/shop.yaml", "replicas: 7\nimage:\n  tag: \"from-file\"\n");
    ok(f.render(&[]));
    let deploy = find(&f.file("shop"), "Deployment", "shop-demo").clone();
    assert_eq!(deploy["spec"]["replicas"], 7, "the $values file is read");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"], "demo:2.0",
        "values come after valueFiles, as in Argo CD"
    );
    // The generated values file is kept, so the recorded helm command can be run again.
    let generated = f.out().join(".helm/shop/source-1-values.yaml");
    assert!(fs::read_to_string(&generated).expect("generated values").contains("2.0"));
}

#[test]
fn a_kustomize_path_renders_with_kubectl_kustomize() {
    let f = Fixture::new();
    f.write(
        "deploy/root/cfg.yaml",
        &application(
            "cfg",
            2,
            "tools",
            "  source:\n    repoURL: https://git.example.com/platform.git\n    path: deploy/cfg\n",
        ),
    );
    f.write(
        "deploy/cfg/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: team-\nresources: [sa.yaml]\n\
configMapGenerator:\n  - name: settings\n    literals: [mode=fast]\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
    );
    f.write(
        "deploy/cfg/sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: runner\n",
    );
    let o = ok(f.render(&[]));
    assert!(stdout(&o).contains("deploy/cfg (kustomize)"), "{}", stdout(&o));
    let objects = f.file("cfg");
    let sa = find(&objects, "ServiceAccount", "team-runner");
    assert_eq!(
        sa["metadata"]["namespace"], "tools",
        "namespace filled from the destination, as Argo CD does"
    );
    assert_eq!(find(&objects, "ConfigMap", "team-settings")["data"]["mode"], "fast");
    assert_eq!(annotation(sa, "render.platctl.io/sync-order"), "2/0");
}

#[test]
fn a_chart_or_version_missing_from_the_cache_is_an_error_naming_both_and_the_cache() {
    let f = Fixture::new();
    // The pin the repository had: openbao 0.29.3 was never published; the cache holds 0.29.2.
    f.write(
        "deploy/root/openbao.yaml",
        &application(
            "openbao-csi-provider",
            -5,
            "openbao",
            "  source:\n    repoURL: https://openbao.github.io/openbao-helm\n    chart: openbao\n    targetRevision: 0.29.3\n",
        ),
    );
    let cache = f.cache().display().to_string();
    fails(
        &f.render(&[]),
        1,
        &[
            "openbao-csi-provider",
            "chart openbao version 0.29.3",
            &cache,
            "it has openbao 0.29.2",
            "never downloads",
        ],
    );
    assert!(!f.out().exists(), "nothing is written when the render fails");

    f.write(
        "deploy/root/openbao.yaml",
        &application("ghost", 0, "x", "  source:\n    repoURL: https://example.com/charts\n    chart: ghost\n    targetRevision: 1.0.0\n"),
    );
    fails(&f.render(&[]), 1, &["chart ghost version 1.0.0", "it has no version of ghost"]);
}

#[test]
fn values_files_that_are_missing_or_malformed_are_errors() {
    let f = Fixture::new();
    let app = |file: &str| {
        application(
            "shop",
            0,
            "shop",
            &format!(
                "  sources:\n    - repoURL: https://charts.example.com\n      chart: demo\n      targetRevision: 1.0.0\n      \
helm:\n        valueFiles: [\"$values/{file}\"]\n    - repoURL: {REPO_URL}\n      ref: values\n"
            ),
        )
    };
    f.write("deploy/root/shop.yaml", &app("values/missing.yaml"));
    fails(
        &f.render(&[]),
        1,
        &["shop: values file $values/values/missing.yaml does not exist", "values/missing.yaml"],
    );

    f.write("deploy/root/shop.yaml", &app("values/bad.yaml"));
    f.write("values/bad.yaml", "replicas: [1\n");
    // Helm itself judges the file, and its own message is shown.
    fails(&f.render(&[]), 1, &["shop: helm template of demo 1.0.0 failed; helm says:", "bad.yaml"]);
}

#[test]
fn a_helm_failure_shows_helms_own_message() {
    let f = Fixture::new();
    f.write(
        "deploy/root/shop.yaml",
        &application(
            "shop",
            0,
            "shop",
            "  source:\n    repoURL: https://charts.example.com\n    chart: demo\n    targetRevision: 1.0.0\n    helm:\n      \
valuesObject:\n        image:\n          tag: null\n",
        ),
    );
    fails(
        &f.render(&[]),
        1,
        &["shop: helm template of demo 1.0.0 failed", "image.tag is required"],
    );
}

#[test]
fn sources_the_render_cannot_read_are_errors_not_silence() {
    let f = Fixture::new();
    // An external Git repository that is not on the list of known external sources.
    f.write(
        "deploy/root/ext.yaml",
        &application("ext", 0, "x", "  source:\n    repoURL: https://github.com/other/manifests.git\n    targetRevision: v1\n    path: deploy\n"),
    );
    fails(
        &f.render(&[]),
        1,
        &["ext: source https://github.com/other/manifests.git at v1", "External sources"],
    );

    // A known external source at another revision: the list must move with the pin.
    f.write(
        "deploy/root/ext.yaml",
        &application(
            "gateway-api-crds",
            -9,
            "default",
            "  source:\n    repoURL: https://github.com/kubernetes-sigs/gateway-api.git\n    targetRevision: v1.4.0\n    path: \
config/crd/standard\n",
        ),
    );
    fails(
        &f.render(&[]),
        1,
        &[
            "gateway-api-crds",
            "v1.4.0",
            "the list knows https://github.com/kubernetes-sigs/gateway-api.git at v1.3.0",
        ],
    );

    // A kustomization with a remote resource: the render never uses the network.
    f.write(
        "deploy/root/ext.yaml",
        &application(
            "remote",
            0,
            "x",
            &format!("  source:\n    repoURL: {REPO_URL}\n    path: deploy/remote\n"),
        ),
    );
    f.write(
        "deploy/remote/kustomization.yaml",
        "resources:\n  - https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.3.0/config/crd/standard/gateway.networking.k8s.io_gateways.yaml\n",
    );
    let started = std::time::Instant::now();
    fails(
        &f.render(&[]),
        1,
        &["remote: kubectl kustomize deploy/remote failed", "never uses the network"],
    );
    assert!(started.elapsed().as_secs() < 60, "the refused connection fails fast");
}

#[test]
fn an_out_dir_that_is_not_a_render_is_left_alone() {
    let f = Fixture::new();
    f.write("deploy/root/none.yaml", "");
    f.write("out/notes.txt", "mine");
    fails(&f.render(&[]), 2, &["is not a previous render"]);
    assert_eq!(fs::read_to_string(f.out().join("notes.txt")).expect("kept"), "mine");
    // A previous render is replaced.
    fs::remove_dir_all(f.out()).expect("rm");
    ok(f.render(&[]));
    assert!(f.out().join(".platctl-render").is_file());
    ok(f.render(&[]));
}

#[test]
fn usage_errors_have_their_exit_codes() {
    let f = Fixture::new();
    let o = platctl()
        .current_dir(f.root())
        .env_remove("PLATCTL_CHARTS")
        .args(["render", "--env", "test", "--charts", "/nonexistent/charts"])
        .output()
        .expect("run");
    fails(&o, 2, &["no chart cache found", "/nonexistent/charts", "--charts"]);
    fails(&f.render(&["--helm", "/nonexistent/helm"]), 2, &["cannot run helm (/nonexistent/helm)"]);
    let o = platctl()
        .current_dir(f.root())
        .args(["render", "--env", "nope", "--charts"])
        .arg(f.cache())
        .output()
        .expect("run");
    fails(&o, 5, &["no environment \"nope\"", "environments: test"]);
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let o = platctl()
        .current_dir(elsewhere.path())
        .args(["render", "--env", "test"])
        .output()
        .expect("run");
    fails(&o, 2, &["is not the platform repository", "run platctl render inside it"]);
    let help = ok(platctl().args(["render", "--help"]).output().expect("run"));
    assert!(stdout(&help).contains("Exit codes: 0 rendered"), "{}", stdout(&help));
}

// --- The repository itself, with the real chart cache.

fn render_repo(out: &Path, extra: &[&str]) -> Output {
    let mut cmd = platctl();
    cmd.current_dir(workspace_root())
        .args(["render", "--charts"])
        .arg(shared_charts())
        .arg("--out-dir")
        .arg(out)
        .args(["--output", "json"])
        .args(extra);
    cmd.output().expect("run platctl render")
}

/// Every file of a folder, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("inside").display().to_string();
                out.insert(rel, fs::read(&p).expect("read"));
            }
        }
    }
    out
}

#[test]
fn the_repository_renders_identically_twice_with_every_pinned_chart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let summary = json(&ok(render_repo(&a, &["--env", "production"])));
    ok(render_repo(&b, &["--env", "production"]));
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>(), "same files");
    for (name, content) in &ta {
        assert!(content == &tb[name], "{name} differs between two renders");
    }

    // The shared topology: one cluster, the platform and both environments.
    assert_eq!(summary["root_path"], "deploy/clusters/shared");
    let apps: BTreeMap<String, Value> = summary["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .map(|a| (a["name"].as_str().expect("name").to_owned(), a.clone()))
        .collect();
    for name in [
        "root",
        "platform",
        "env-staging",
        "env-production",
        "sample-service-staging",
        "sample-service-production",
    ] {
        assert!(apps.contains_key(name), "{name} missing from {:?}", apps.keys());
    }
    // The corrected pin renders from the cache.
    assert_eq!(apps["openbao-csi-provider"]["sources"][0]["version"], "0.29.2");
    // The Gateway API CRDs are an external source: not rendered, their kinds known.
    assert_eq!(apps["gateway-api-crds"]["sources"][0]["type"], "external");
    assert!(
        apps["gateway-api-crds"]["provides"]
            .as_array()
            .expect("provides")
            .contains(&Value::from("gateway.networking.k8s.io/v1/HTTPRoute"))
    );
    // Loki's ServiceMonitor renders only when monitoring.coreos.com/v1 is served: the tree's own CRDs are passed.
    let loki = docs(&a.join("loki.yaml"));
    assert!(loki.iter().any(|o| o["kind"] == "ServiceMonitor"), "{:?}", names(&loki));
    // Charts that keep CRDs in crds/ (sealed-secrets) have them rendered.
    find(
        &docs(&a.join("sealed-secrets.yaml")),
        "CustomResourceDefinition",
        "sealedsecrets.bitnami.com",
    );
    // Every object carries its Application and its place in the sync: under the
    // Application's own place, except the root's, where Argo CD's sync starts.
    for (app, info) in &apps {
        let file = a.join(info["file"].as_str().expect("file"));
        let under = match (info["origin"]["by"].as_str(), app.as_str()) {
            (Some("terraform"), _) => format!("{}/", info["order"].as_str().expect("order")),
            (_, "root") => String::new(),
            _ => format!("{}/", info["order"].as_str().expect("order")),
        };
        for o in docs(&file) {
            assert_eq!(annotation(&o, "render.platctl.io/application"), app);
            let order = annotation(&o, "render.platctl.io/sync-order");
            assert!(
                order.starts_with(&under) && !order.is_empty(),
                "{app}: {order} is not under {under:?}"
            );
            annotation(&o, "render.platctl.io/sync-wave");
            annotation(&o, "render.platctl.io/sync-phase");
        }
    }
    // What Terraform creates directly is rendered too, in its apply order: Argo CD's cluster Secret.
    let cluster = docs(&a.join("module.argocd.kubernetes_secret_v1.in_cluster.yaml"));
    let secret = find(&cluster, "Secret", "in-cluster");
    assert_eq!(secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"], "cluster");
    assert_eq!(annotation(secret, "render.platctl.io/sync-order"), "terraform:2/0");
    let cert_manager = docs(&a.join("cert-manager.yaml"));
    let webhook = find(&cert_manager, "Deployment", "cert-manager-webhook");
    assert_eq!(annotation(webhook, "render.platctl.io/sync-order"), "-10/-7/0");
}

/// The sample-service chart as Argo CD renders it in each environment: drain,
/// probes, hardening and routing wired from the Application's values.
#[test]
fn sample_service_is_wired_from_each_environments_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r");
    ok(render_repo(&out, &["--env", "production"]));
    let chart_values: Value = serde_saphyr::from_str(
        &fs::read_to_string(workspace_root().join("charts/sample-service/values.yaml"))
            .expect("values.yaml"),
    )
    .expect("values");
    for env in ["staging", "production"] {
        let app_file = workspace_root().join(format!("deploy/apps/{env}/sample-service.yaml"));
        let app: Value =
            serde_saphyr::from_str(&fs::read_to_string(app_file).expect("app")).expect("app YAML");
        let values = &app["spec"]["source"]["helm"]["valuesObject"];
        let objects = docs(&out.join(format!("sample-service-{env}.yaml")));
        for o in &objects {
            assert_eq!(o["metadata"]["namespace"], env, "{} {}", o["kind"], o["metadata"]["name"]);
        }
        let dep = find(&objects, "Deployment", "sample-service");
        let pod = &dep["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        let (pre, grace) = (
            chart_values["shutdown"]["preStopSeconds"].as_i64().expect("preStop"),
            chart_values["shutdown"]["graceSeconds"].as_i64().expect("grace"),
        );
        assert_eq!(
            pod["terminationGracePeriodSeconds"],
            pre + grace + 5,
            "{env}: grace = preStop + drain + 5"
        );
        assert_eq!(c["lifecycle"]["preStop"]["sleep"]["seconds"], pre);
        let envs: BTreeMap<&str, &Value> = c["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|e| (e["name"].as_str().expect("name"), &e["value"]))
            .collect();
        assert_eq!(envs["SHUTDOWN_GRACE_SECONDS"], &Value::from(grace.to_string()));
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        let sc = &c["securityContext"];
        assert_eq!(
            (&sc["readOnlyRootFilesystem"], &sc["allowPrivilegeEscalation"]),
            (&Value::Bool(true), &Value::Bool(false))
        );
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
        assert!(c["resources"]["limits"].is_object() && c["resources"]["requests"].is_object());
        assert!(!c["image"].as_str().expect("image").ends_with(":latest"));
        assert!(dep["spec"]["replicas"].is_null(), "{env}: replicas are left to the HPA");
        find(&objects, "HorizontalPodAutoscaler", "sample-service");
        find(&objects, "PodDisruptionBudget", "sample-service");
        let route = find(&objects, "HTTPRoute", "sample-service");
        let parent = &route["spec"]["parentRefs"][0];
        assert_eq!(parent["name"], values["route"]["gateway"]["name"]);
        assert_eq!(parent["namespace"], values["route"]["gateway"]["namespace"]);
        assert_eq!(route["spec"]["hostnames"], serde_json::json!([values["route"]["hostname"]]));
        assert_eq!(
            find(&objects, "ServiceMonitor", "sample-service")["spec"]["endpoints"][0]["path"],
            "/metrics"
        );
        assert!(
            !objects.iter().any(|o| o["kind"] == "NetworkPolicy"),
            "{env}: networkPolicy.enabled is false, the namespace policies grant the flows"
        );
        // The helm test (platctl smoke) is not applied by a sync; the file header says so.
        let text =
            fs::read_to_string(out.join(format!("sample-service-{env}.yaml"))).expect("file");
        assert!(
            text.contains("# Not applied by a sync: Pod sample-service-smoke (helm.sh/hook: test"),
            "{env}"
        );
    }
}

#[test]
fn a_dedicated_staging_cluster_renders_when_the_topology_asks_for_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // With the default (shared) topology, staging has no cluster of its own.
    fails(
        &render_repo(&tmp.path().join("s"), &["--env", "staging"]),
        1,
        &["staging creates no Argo CD bootstrap", "count = local.dedicated"],
    );
    let s = json(&ok(render_repo(
        &tmp.path().join("s"),
        &["--env", "staging", "--var", "staging_dedicated_cluster=true"],
    )));
    assert_eq!(s["root_path"], "deploy/clusters/staging");
    let apps: Vec<&str> = s["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(apps.contains(&"env-staging") && !apps.contains(&"env-production"), "{apps:?}");
}

/// `platctl check --only SYNC001..SYNC004 --output json` on a render folder.
fn sync_order(render: &Path) -> Vec<(String, String)> {
    let schemas = std::env::var_os("PLATCTL_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/schemas"));
    let out = platctl()
        .arg("check")
        .arg(render)
        .arg("--schemas")
        .arg(schemas)
        .args(["--only", "SYNC001,SYNC002,SYNC003,SYNC004", "--output", "json"])
        .output()
        .expect("run platctl check");
    let report = json(&out);
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").to_owned(),
                f["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Change the render's summary (`.render.json`).
fn edit_summary(render: &Path, edit: impl FnOnce(&mut Value)) {
    let path = render.join(".render.json");
    let mut summary: Value =
        serde_json::from_slice(&fs::read(&path).expect("summary")).expect("json");
    edit(&mut summary);
    fs::write(&path, serde_json::to_vec_pretty(&summary).expect("json")).expect("write summary");
}

#[test]
fn the_rendered_platform_syncs_in_order_and_a_missing_or_late_provider_is_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let render = tmp.path().join("production");
    let summary = json(&ok(render_repo(&render, &["--env", "production"])));
    assert_eq!(
        summary["repository"].as_str().map(PathBuf::from),
        Some(workspace_root()),
        "the summary names the repository (the sync mapping is read there)"
    );
    assert!(render.join(".render.json").is_file(), "the summary is written into the render");
    assert_eq!(
        sync_order(&render),
        Vec::<(String, String)>::new(),
        "the repository's render is in order"
    );

    // Without the loki-s3 entry of the sync mapping, nothing provides Loki's S3 keys.
    let repo = tmp.path().join("repo");
    fs::create_dir_all(repo.join("deploy/secrets")).expect("mkdir");
    let mapping =
        fs::read_to_string(workspace_root().join("deploy/secrets/mapping.yaml")).expect("mapping");
    let start = mapping.find("      - name: loki-s3\n").expect("loki-s3 entry");
    // The entry ends where the next one starts.
    let after = start + 1;
    let end = after + mapping[after..].find("      - name: ").expect("next entry");
    let without = format!("{}{}", &mapping[..start], &mapping[end..]);
    fs::write(repo.join("deploy/secrets/mapping.yaml"), without).expect("write mapping");
    edit_summary(&render, |s| s["repository"] = Value::from(repo.display().to_string()));
    let found = sync_order(&render);
    assert!(!found.is_empty());
    for (rule, message) in &found {
        assert_eq!(rule, "SYNC001", "{message}");
        assert!(
            message.contains("(Application loki, at -10/-2/0) -> envFrom of container loki -> Secret monitoring/loki-s3: provided by nothing"),
            "{message}"
        );
    }

    // The platform's SealedSecrets one wave after their consumers: each consumer is named
    // with the provider and both positions; Argo CD's lazy $argocd-dex-github reference is not.
    edit_summary(&render, |s| {
        s["repository"] = Value::from(workspace_root().display().to_string());
        for a in s["applications"].as_array_mut().expect("applications") {
            if a["name"] == "platform-secrets" {
                a["order"] = Value::from("-10/-1");
            }
        }
    });
    let found = sync_order(&render);
    let late = |secret: &str| {
        found.iter().any(|(rule, m)| {
            rule == "SYNC002"
                && m.contains(&format!(
                    "-> Secret {secret} -> sync-mapping entry platform: {secret}"
                ))
                && m.contains(
                    "(Application platform-secrets, at -10/-1/0): the provider syncs later",
                )
        })
    };
    for secret in
        ["monitoring/grafana-admin", "monitoring/loki-s3", "monitoring/alertmanager-oncall"]
    {
        assert!(late(secret), "{secret} not reported late: {found:#?}");
    }
    assert!(found.iter().all(|(rule, _)| rule == "SYNC002"), "{found:#?}");
    assert!(!found.iter().any(|(_, m)| m.contains("argocd-dex-github")), "{found:#?}");
}
