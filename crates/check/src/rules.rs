//! The rule table: stable IDs, severities, titles and fix hints.
//! docs/rules.md is generated from this table and the fixtures
//! (see tests/rules_doc.rs); keep IDs stable forever.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    /// What the rule requires, one line.
    pub title: &'static str,
    /// How to fix a finding, one line.
    pub fix: &'static str,
}

const fn r(
    id: &'static str,
    severity: Severity,
    title: &'static str,
    fix: &'static str,
) -> RuleInfo {
    RuleInfo { id, severity, title, fix }
}

use Severity::{Error as E, Warning as W};

pub const RULES: &[RuleInfo] = &[
    // Files and parsing
    r(
        "PARSE001",
        E,
        "YAML files parse (every document)",
        "fix the YAML syntax at the reported line (yamllint shows the same error)",
    ),
    r(
        "PARSE002",
        E,
        "Terraform files parse as HCL",
        "fix the HCL syntax at the reported line (`terraform fmt` shows the same error)",
    ),
    r(
        "PARSE003",
        E,
        "checked files are UTF-8 text, not binary",
        "remove the binary file or give it an extension that is not .tf/.tfvars/.yaml/.yml",
    ),
    r(
        "PARSE004",
        E,
        "checked files are at most 4 MiB",
        "split the file; generated blobs do not belong under infra/, deploy/, charts/ or .github/",
    ),
    r(
        "PARSE005",
        E,
        "every path can be read (no symlink loop, dangling link or permission error)",
        "remove or fix the symlink, or fix the file permissions",
    ),
    r(
        "SUPP001",
        E,
        "a suppression names a known rule and gives a reason",
        "write `# platctl:ignore RULE-ID why this is acceptable`",
    ),
    r(
        "SUPP002",
        W,
        "a suppression silences a finding",
        "remove the `# platctl:ignore` comment: nothing on this or the next line triggers that rule",
    ),
    // Terraform
    r(
        "TF001",
        E,
        "the backend is `http` (platctl) or `s3` with `use_lockfile = true`",
        "use `backend \"http\" {}` and run terraform through `platctl tf --env <env>`",
    ),
    r(
        "TF002",
        E,
        "the `linode` provider version is pinned",
        "set `version = \"~> 3.0\"` (an upper bound) in required_providers.linode",
    ),
    r(
        "TF003",
        E,
        "the region variable defaults to `fr-par`",
        "set `default = \"fr-par\"` in `variable \"region\"`",
    ),
    r(
        "TF004",
        E,
        "every LKE cluster has at least two node pools",
        "add a second `pool` block: a system pool and a workload pool with autoscaler min/max",
    ),
    r(
        "TF005",
        E,
        "production clusters have an HA control plane",
        "set `control_plane { high_availability = true }` for production",
    ),
    r(
        "TF006",
        E,
        "production clusters have the control-plane ACL enabled",
        "set `control_plane { acl { enabled = true  addresses { ipv4 = [...] } } }` for production",
    ),
    r("TF007", E, "the state bucket is versioned", "set `versioning = true` on the state bucket"),
    r(
        "TF008",
        E,
        "the state bucket is private",
        "set `acl = \"private\"` (or remove the public ACL) on the state bucket",
    ),
    r(
        "TF009",
        E,
        "no literal Linode token, S3 key or private key in .tf/.tfvars",
        "remove the literal and rotate it now; read it from the environment (LINODE_TOKEN, AWS_*) or a sensitive variable",
    ),
    // Kubernetes
    r(
        "K8S001",
        E,
        "every application namespace has a default-deny ingress policy",
        "add a NetworkPolicy with `podSelector: {}`, `policyTypes: [Ingress]` and no ingress rules in the namespace",
    ),
    r(
        "K8S002",
        E,
        "every application namespace has a default-deny egress policy",
        "add a NetworkPolicy with `podSelector: {}`, `policyTypes: [Egress]` and no egress rules in the namespace",
    ),
    r(
        "K8S003",
        E,
        "every application namespace allows DNS egress (UDP and TCP 53)",
        "add an egress NetworkPolicy allowing UDP and TCP port 53 to kube-dns",
    ),
    r(
        "K8S004",
        E,
        "every Gateway serves HTTPS with a certificate from cert-manager",
        "give each HTTPS listener `tls.certificateRefs` and annotate the Gateway with `cert-manager.io/cluster-issuer`",
    ),
    r(
        "K8S005",
        E,
        "every HTTPRoute host is served over TLS",
        "attach the route to an HTTPS listener covering its hostnames; routes on HTTP listeners may only redirect to https",
    ),
    r(
        "K8S006",
        E,
        "every Ingress uses TLS from cert-manager",
        "add `spec.tls` covering every host and a `cert-manager.io/cluster-issuer` annotation",
    ),
    r(
        "K8S007",
        E,
        "no plain `kind: Secret` with data or stringData",
        "seal it (`platctl secrets seal` / kubeseal) and commit the SealedSecret instead; rotate the leaked value",
    ),
    r(
        "K8S008",
        E,
        "every container has CPU and memory requests and a memory limit",
        "set resources.requests.cpu, resources.requests.memory and resources.limits.memory",
    ),
    r(
        "K8S009",
        E,
        "every long-running container has liveness and readiness probes",
        "add livenessProbe and readinessProbe to the container",
    ),
    r(
        "K8S010",
        E,
        "every workload runs as non-root",
        "set securityContext.runAsNonRoot: true on the pod (or every container)",
    ),
    r(
        "K8S011",
        E,
        "every container has a read-only root filesystem",
        "set securityContext.readOnlyRootFilesystem: true (mount an emptyDir for scratch space)",
    ),
    r(
        "K8S012",
        E,
        "no `:latest` or untagged image",
        "pin the image to a version tag or a digest (`@sha256:...`)",
    ),
    r(
        "K8S013",
        E,
        "every metrics-exposing Service has a ServiceMonitor",
        "add a ServiceMonitor whose selector matches the Service's labels and whose namespace covers it",
    ),
    // Argo CD
    r(
        "ARGO001",
        E,
        "every Application has a sync-wave annotation",
        "add `argocd.argoproj.io/sync-wave: \"<n>\"` to metadata.annotations (see the documented wave order)",
    ),
    r(
        "ARGO002",
        E,
        "every Application uses a project other than `default`",
        "set spec.project to platform, apps-staging or apps-production",
    ),
    r(
        "ARGO003",
        E,
        "production Applications need approval: manual sync or a sync window",
        "remove syncPolicy.automated from production apps, or give their AppProject syncWindows",
    ),
    // Observability
    r(
        "OBS001",
        E,
        "Loki retention is at least 720h",
        "set limits_config.retention_period: 720h (or more) and enable compactor retention",
    ),
    r(
        "OBS002",
        E,
        "kube-prometheus-stack, Loki and Tempo are deployed for every environment",
        "add the missing Argo CD Application (chart kube-prometheus-stack, loki or tempo)",
    ),
    // Workflows
    r(
        "GHA001",
        E,
        "every workflow has an explicit `permissions:` block",
        "add a top-level `permissions:` (e.g. `contents: read`) and widen per job only where needed",
    ),
    r(
        "GHA002",
        E,
        "actions are pinned by commit SHA",
        "replace the tag with the full 40-character commit SHA and keep the tag in a comment",
    ),
    r(
        "GHA003",
        E,
        "production apply runs in a job with `environment: production`",
        "add `environment: production` to the job so its required reviewers approve the apply",
    ),
    r(
        "GHA004",
        E,
        "a drift workflow runs hourly",
        "add a workflow with `on: schedule: - cron: \"0 * * * *\"` that runs `platctl drift`",
    ),
    // Schemas
    r(
        "SCHEMA001",
        E,
        "every Kubernetes object validates strictly against its JSON schema",
        "fix the field named in the message (unknown fields are errors)",
    ),
    r(
        "SCHEMA002",
        E,
        "every Kubernetes object has a schema",
        "check apiVersion/kind; for a new CRD add {group}/{kind}_{version}.json to the schema folder",
    ),
    r(
        "SCHEMA003",
        E,
        "every Kubernetes object has both apiVersion and kind",
        "add the missing apiVersion or kind",
    ),
];

pub fn info(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}
