//! The rule table: typed IDs, severities, titles and fix hints.
//!
//! Every rule is a [`RuleId`] variant, so a misspelt ID does not compile and
//! looking a rule up cannot fail. docs/rules.md is generated from this table
//! and the fixtures (see tests/rules_doc.rs). The ID strings are stable: users
//! name them in `--only`, `--skip` and `# platctl:ignore` comments.
//!
//! Adding a rule: one line in [`rule_table!`] below, its check in the family's
//! module (see [`crate::families`]), and `tests/fixtures/<ID>/{bad,good}/`.

use std::fmt;

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
    pub id: RuleId,
    pub severity: Severity,
    /// What the rule requires, one line.
    pub title: &'static str,
    /// How to fix a finding, one line.
    pub fix: &'static str,
}

/// Declares [`RuleId`] and [`RULES`] from one list, so the two cannot disagree.
macro_rules! rule_table {
    ($($variant:ident $code:literal $severity:ident $title:literal $fix:literal;)*) => {
        /// A rule of `platctl check`. `Display` and `Serialize` give the stable ID string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId {
            $($variant,)*
        }

        impl RuleId {
            /// Every rule, in table order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The stable ID string, e.g. `"K8S001"`.
            pub const fn code(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $code,)*
                }
            }

            /// Severity, title and fix hint.
            pub const fn info(self) -> &'static RuleInfo {
                match self {
                    $(RuleId::$variant => &RuleInfo {
                        id: RuleId::$variant,
                        severity: Severity::$severity,
                        title: $title,
                        fix: $fix,
                    },)*
                }
            }
        }

        /// The whole table, in the order docs/rules.md lists it.
        pub const RULES: &[RuleInfo] = &[$(*RuleId::$variant.info(),)*];
    };
}

impl RuleId {
    /// Parse an ID string (`"TF001"`); `None` for an unknown one.
    pub fn parse(code: &str) -> Option<RuleId> {
        RuleId::ALL.iter().copied().find(|r| r.code() == code)
    }

    pub fn severity(self) -> Severity {
        self.info().severity
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.code() == *other
    }
}

rule_table! {
    // Files and parsing (the walk, crate::walk)
    Parse001 "PARSE001" Error
        "YAML and JSON files parse (every document)"
        "fix the syntax at the reported line (yamllint or `jq .` shows the same error)";
    Parse002 "PARSE002" Error
        "Terraform files parse as HCL"
        "fix the HCL syntax at the reported line (`terraform fmt` shows the same error)";
    Parse003 "PARSE003" Error
        "checked files are UTF-8 text, not binary"
        "remove the binary file or give it an extension that is not .tf/.tfvars/.yaml/.yml/.json";
    Parse004 "PARSE004" Error
        "checked files are at most 4 MiB"
        "split the file; generated blobs do not belong under infra/, deploy/, charts/ or .github/";
    Parse005 "PARSE005" Error
        "every path can be read (no symlink loop, dangling link or permission error)"
        "remove or fix the symlink, or fix the file permissions";
    // Suppressions (crate::suppress)
    Supp001 "SUPP001" Error
        "a suppression names a known rule and gives a reason"
        "write `# platctl:ignore RULE-ID why this is acceptable`";
    Supp002 "SUPP002" Warning
        "a suppression silences a finding"
        "remove the `# platctl:ignore` comment: nothing on this or the next line triggers that rule";
    Supp003 "SUPP003" Error
        "every entry of the render suppression file names a known rule, an Application, its objects and a reason"
        "give the entry `rule`, `application`, `objects: [Kind/name]` and a `reason` (deploy/render-suppressions.yaml; see docs/render.md)";
    Supp004 "SUPP004" Warning
        "every entry of the render suppression file silences a finding of the render"
        "remove the entry, or fix its application, objects or containers: nothing in this render matches it";
    // Terraform (crate::tf)
    Tf001 "TF001" Error
        "the backend is an empty `http` block (platctl) or `s3` with `use_lockfile = true`"
        "use `backend \"http\" {}` and run terraform through `platctl tf --env <env>` (it sets TF_HTTP_*)";
    Tf002 "TF002" Error
        "every provider in required_providers is pinned with an upper bound"
        "set `version = \"~> 3.9\"` (linode) or `\"~> X.Y\"` in required_providers";
    Tf003 "TF003" Error
        "the region variable defaults to `fr-par`"
        "set `default = \"fr-par\"` in `variable \"region\"`";
    Tf004 "TF004" Error
        "every LKE cluster has at least two node pools, one of them autoscaled"
        "keep a system pool and add a workload `pool` with `autoscaler { min = ... max = ... }`";
    Tf005 "TF005" Error
        "production clusters have an HA control plane"
        "set `control_plane { high_availability = true }` for production";
    Tf006 "TF006" Error
        "production clusters have the control-plane ACL enabled, with specific addresses"
        "set `control_plane { acl { enabled = true  addresses { ipv4 = [...] } } }` with your CIDRs, never 0.0.0.0/0";
    Tf007 "TF007" Error
        "the state bucket is versioned and expires non-current versions"
        "set `versioning = true` and a `lifecycle_rule { enabled = true  noncurrent_version_expiration { days = N } }`";
    Tf008 "TF008" Error
        "Object Storage buckets are private (and the state bucket has no CORS)"
        "set `acl = \"private\"` (or remove the public ACL); remove `cors_enabled` from the state bucket";
    Tf009 "TF009" Error
        "no literal Linode token, S3 key or private key in .tf/.tfvars"
        "remove the literal and rotate it now; read it from the environment (LINODE_TOKEN, AWS_*) or a sensitive variable";
    Tf010 "TF010" Error
        "every module has main.tf, variables.tf, outputs.tf, versions.tf and a README listing its inputs and outputs"
        "add the missing file, or list the input/output as `name` in the module's README.md";
    Tf011 "TF011" Error
        "variables have a type and a description; outputs have a description; credential outputs are sensitive"
        "add `type` and `description`; mark kubeconfig, key, token and password outputs `sensitive = true`";
    Tf012 "TF012" Error
        "provider \"linode\" takes its token from LINODE_TOKEN, not from the configuration"
        "remove `token` from the provider block and export LINODE_TOKEN where terraform runs";
    Tf013 "TF013" Error
        "references resolve: declared var./local./module., module inputs, and tfvars keys of the right type"
        "declare the variable, local or module, or fix the name; pass only inputs the module declares and all required ones";
    Tf014 "TF014" Error
        "a setting shared by every environment root lives in one file, linked into each root"
        "replace the copy with a symlink: `ln -sf ../<file> infra/terraform/envs/<env>/<file>`";
    Tf015 "TF015" Error
        "no Terraform state or saved plan is committed under infra/"
        "state belongs in the store: `platctl tf --env <env> -- init -migrate-state`, then delete the file (it may hold secrets)";
    Tf016 "TF016" Error
        "every GPU node pool is tainted, so only GPU workloads land on it"
        "add `taint { key = \"nvidia.com/gpu\"  value = \"present\"  effect = \"NoSchedule\" }` to the GPU pool";
    Tf017 "TF017" Error
        "every Object Storage key is limited to named buckets"
        "add a `bucket_access { bucket_name = ...  region = ...  permissions = ... }` per bucket the key needs";
    // Linode provider schema (crate::linode)
    Linode001 "LINODE001" Error
        "every linode_* resource and data source type exists in the pinned provider"
        "fix the type name (see the provider's documentation for the pinned version)";
    Linode002 "LINODE002" Error
        "every argument and block of a linode_* resource or data source exists in the pinned provider"
        "fix the name or move it to the block it belongs to (the message names the provider version)";
    Linode003 "LINODE003" Error
        "every required argument of a linode_* resource, data source or block is set"
        "set the argument the message names";
    Linode004 "LINODE004" Error
        "the pinned linode provider version has an argument schema"
        "pin a version the schema folder has (`~> 3.9`), or add terraform/linode/<version>.json to the schema folder (derive.py)";
    // Node firewall (crate::firewall)
    Fw001 "FW001" Error
        "every Cloud Firewall drops inbound and outbound traffic by default"
        "set `inbound_policy = \"DROP\"` and `outbound_policy = \"DROP\"`, and accept only the traffic the nodes need";
    Fw002 "FW002" Error
        "the node firewall accepts the traffic LKE documents as required, IP-in-IP both ways, and the platform's egress"
        "add the `inbound` or `outbound` rule the message names (LKE \"Network and firewall details\", the module README)";
    Fw003 "FW003" Error
        "NodePorts (30000-32767) are open only to the NodeBalancer range 192.168.255.0/24"
        "restrict the NodePort rule to `ipv4 = [\"192.168.255.0/24\"]` (no ipv6, no 0.0.0.0/0)";
    Fw004 "FW004" Error
        "every LKE node pool attaches a Cloud Firewall through `firewall_id`, and no firewall with LKE's node rules is attached by instance IDs"
        "set `firewall_id` on every `pool` (and `linode_lke_node_pool`), and drop `linodes` from the node firewall: a pool attaches it to every node it creates, autoscaled ones included";
    // Kubernetes: network (crate::k8s::network)
    K8s001 "K8S001" Error
        "every application namespace has a default-deny ingress policy"
        "add a NetworkPolicy with `podSelector: {}`, `policyTypes: [Ingress]` and no ingress rules in the namespace";
    K8s002 "K8S002" Error
        "every application namespace has a default-deny egress policy"
        "add a NetworkPolicy with `podSelector: {}`, `policyTypes: [Egress]` and no egress rules in the namespace";
    K8s003 "K8S003" Error
        "every application namespace allows DNS egress to kube-dns (UDP and TCP 53)"
        "add an egress NetworkPolicy allowing UDP and TCP port 53 to pods `k8s-app: kube-dns` in kube-system";
    // Kubernetes: TLS (crate::k8s::tls)
    K8s004 "K8S004" Error
        "every Gateway serves HTTPS for a hostname with a certificate from cert-manager"
        "give each HTTPS listener a `hostname` and `tls.certificateRefs`, and annotate the Gateway with `cert-manager.io/cluster-issuer`";
    K8s005 "K8S005" Error
        "every HTTPRoute host is served over TLS"
        "attach the route to an HTTPS listener covering its hostnames; routes on HTTP listeners may only redirect to https";
    K8s006 "K8S006" Error
        "every Ingress uses TLS from cert-manager"
        "add `spec.tls` covering every host and a `cert-manager.io/cluster-issuer` annotation";
    // Kubernetes: workloads (crate::k8s::workload)
    K8s007 "K8S007" Error
        "no plain `kind: Secret` with data or stringData"
        "seal it (`platctl secrets seal` / kubeseal) and commit the SealedSecret instead; rotate the leaked value";
    K8s008 "K8S008" Error
        "every container has CPU and memory requests and a memory limit"
        "set resources.requests.cpu, resources.requests.memory and resources.limits.memory";
    K8s009 "K8S009" Error
        "every long-running container has liveness and readiness probes"
        "add livenessProbe and readinessProbe to the container";
    K8s010 "K8S010" Error
        "every workload runs as non-root"
        "set securityContext.runAsNonRoot: true on the pod (or every container)";
    K8s011 "K8S011" Error
        "every container has a read-only root filesystem"
        "set securityContext.readOnlyRootFilesystem: true (mount an emptyDir for scratch space)";
    K8s012 "K8S012" Error
        "no `:latest` or untagged image"
        "pin the image to a version tag or a digest (`@sha256:...`)";
    K8s013 "K8S013" Error
        "every metrics-exposing Service has a ServiceMonitor"
        "add a ServiceMonitor whose selector matches the Service's labels and whose namespace covers it";
    // Kubernetes: network and TLS, continued
    K8s014 "K8S014" Error
        "a cluster-wide default-deny policy covers namespaces created later"
        "add a Calico GlobalNetworkPolicy with `types: [Ingress, Egress]` and a namespaceSelector that excludes only platform namespaces";
    K8s015 "K8S015" Error
        "every plain-HTTP Gateway listener redirects to HTTPS"
        "attach an HTTPRoute to the listener whose rules only `RequestRedirect` with `scheme: https`";
    K8s016 "K8S016" Error
        "cert-manager issues through the Gateways: the issuers they name exist and solve ACME HTTP-01 with gatewayHTTPRoute"
        "create the ClusterIssuer, or use `solvers: [{http01: {gatewayHTTPRoute: {parentRefs: [...]}}}]` naming existing Gateway listeners";
    // Kubernetes: workloads, continued (crate::k8s::workload)
    K8s017 "K8S017" Error
        "every container runs restricted: no privilege escalation, all capabilities dropped, a seccomp profile"
        "set securityContext.allowPrivilegeEscalation: false, capabilities.drop: [ALL] and seccompProfile.type: RuntimeDefault (pod or container)";
    K8s018 "K8S018" Error
        "no workload is privileged or shares the node's PID, IPC or network namespace"
        "remove `privileged: true`, hostPID, hostIPC and hostNetwork; a node agent that needs them gets a suppression with its reason";
    // Argo CD (crate::argocd)
    Argo001 "ARGO001" Error
        "every Application has an integer sync-wave annotation"
        "add `argocd.argoproj.io/sync-wave: \"<n>\"` to metadata.annotations (see the documented wave order)";
    Argo002 "ARGO002" Error
        "every Application uses a project other than `default`"
        "set spec.project to platform, apps-staging or apps-production";
    Argo003 "ARGO003" Error
        "production Applications need approval: manual sync or a sync window"
        "remove syncPolicy.automated from production apps, or give their AppProject syncWindows";
    Argo004 "ARGO004" Error
        "a production AppProject blocks automated sync around the clock, keeping manual sync"
        "add `syncWindows: [{kind: deny, schedule: \"0 0 * * *\", duration: 24h, applications: [\"*\"], manualSync: true}]`";
    Argo005 "ARGO005" Error
        "Helm charts are pinned to an exact version; Git sources outside this repository to a tag"
        "set targetRevision to a release (`1.2.3` or `v1.2.3`), not a range, branch or `*`";
    Argo006 "ARGO006" Error
        "every path an Application syncs from this repository exists"
        "fix spec.source.path (it is relative to the repository root)";
    Argo007 "ARGO007" Error
        "every AppProject lists its destinations and source repositories explicitly (no `*`)"
        "list each namespace in spec.destinations and each repository URL in spec.sourceRepos";
    Argo008 "ARGO008" Error
        "argocd-cm restores Application health, so app-of-apps sync waves wait for their children"
        "add `resource.customizations.health.argoproj.io_Application` to argocd-cm (see docs/gitops.md)";
    Argo009 "ARGO009" Error
        "Dex connectors read client secrets from a Secret (`$secret:key`), never a literal"
        "set `clientSecret: $<secret-name>:<key>` and seal the value; rotate the leaked one";
    Argo010 "ARGO010" Error
        "argocd-rbac-cm grants exactly what the teams file (deploy/platform/rbac/teams.yaml) says"
        "make policy.csv match the lines the message names (teams.yaml is the source; the message shows the expected line)";
    Argo011 "ARGO011" Error
        "every Application's project admits its source repository and its destination"
        "add the repository to the project's sourceRepos and the namespace to its destinations, or use the right project";
    Argo012 "ARGO012" Error
        "staging Applications sync automatically (continuous delivery to staging)"
        "add `syncPolicy: {automated: {prune: true, selfHeal: true}}`";
    // Observability (crate::observability)
    Obs001 "OBS001" Error
        "Loki retention is at least 720h, enforced by the compactor"
        "set limits_config.retention_period: 720h (or more), compactor.retention_enabled: true and compactor.delete_request_store";
    Obs002 "OBS002" Error
        "kube-prometheus-stack, Loki, Tempo and Alloy are deployed for every environment"
        "add the missing Argo CD Application (chart kube-prometheus-stack, loki, tempo or alloy)";
    Obs003 "OBS003" Error
        "Loki stores its chunks in a bucket Terraform creates"
        "set loki.storage.bucketNames.chunks to the bucket Terraform creates (loki_bucket_name)";
    Obs004 "OBS004" Error
        "PrometheusRules alert on drift, lock age, state server down, audit shipping, certificate expiry and Argo CD sync"
        "add an alert whose expression uses the metric the message names";
    Obs005 "OBS005" Error
        "alert rules and dashboards use only the metric names platctl exports"
        "use one of the exported names listed in docs/rules.md (OBS005)";
    Obs006 "OBS006" Error
        "every Loki label (and constant value) a dashboard queries is written by something in the tree"
        "query a label the Alloy pipelines or platctl's audit streams write (see docs/rules.md, OBS006), or make the pipeline write it";
    Obs007 "OBS007" Error
        "every PromQL label (and closed-set value) a dashboard or alert uses is on the series it queries, as a scrape in the tree produces it"
        "use a label the message lists, scrape the exporter (a ServiceMonitor/PodMonitor, or the chart's monitor), or add the exporter to OBS007's table (crates/check/src/metric_labels.rs)";
    // Workflows (crate::gha)
    Gha001 "GHA001" Error
        "every workflow has an explicit least-privilege `permissions:` block (never write-all)"
        "add a top-level `permissions:` (e.g. `contents: read`) and widen per job only where needed";
    Gha002 "GHA002" Error
        "actions are pinned by commit SHA with a `# vX.Y.Z` comment"
        "replace the tag with the full 40-character commit SHA and keep the tag in a comment: `@<sha> # v4.2.2`";
    Gha003 "GHA003" Error
        "production apply runs in a job with `environment: production`"
        "add `environment: production` to the job so its required reviewers approve the apply";
    Gha004 "GHA004" Error
        "a drift workflow runs `platctl drift --all` hourly"
        "add a workflow with `on: schedule: - cron: \"0 * * * *\"` that runs `platctl drift --all`";
    Gha005 "GHA005" Error
        "pushes to main apply staging automatically and production in an `environment: production` job"
        "add a push-triggered workflow with a staging apply job and a production apply job in `environment: production`";
    Gha006 "GHA006" Error
        "every job that runs terraform plan or apply has a concurrency group per environment"
        "add `concurrency: {group: terraform-<env>, cancel-in-progress: false}` (or `terraform-${{ matrix.env }}`)";
    Gha007 "GHA007" Error
        "workflows never print secrets: no echo/printf of `${{ secrets.* }}`, no `set -x`"
        "pass secrets to steps through `env:` only and remove the echo or the shell tracing";
    Gha008 "GHA008" Error
        "the pull-request workflow tests, formats and plans Terraform, lints and renders charts, and runs the checks"
        "add the step the message names to .github/workflows/pull-request.yml";
    // Dockerfiles (crate::docker)
    Docker001 "DOCKER001" Error
        "images are multi-stage: every final stage copies its artefacts from a build stage"
        "build in one stage and `COPY --from=<build stage>` only the artefacts into the runtime stage";
    Docker002 "DOCKER002" Error
        "every base image is pinned to a version tag or digest (never latest)"
        "write `FROM image:1.2.3` or `FROM image@sha256:...` (ARG defaults count)";
    Docker003 "DOCKER003" Error
        "every final stage runs as a non-root user (uid >= 10000)"
        "add `USER 65532:65532` (or another uid >= 10000) to the runtime stage";
    // Schemas (crate::schema)
    Schema001 "SCHEMA001" Error
        "every Kubernetes object validates strictly against its JSON schema"
        "fix the field named in the message (unknown fields are errors)";
    Schema002 "SCHEMA002" Error
        "every Kubernetes object has a schema"
        "check apiVersion/kind; for a new CRD add {group}/{kind}_{version}.json to the schema folder";
    Schema003 "SCHEMA003" Error
        "every document Argo CD applies is a Kubernetes object with both apiVersion and kind"
        "add the missing apiVersion or kind, or move data files out of folders Applications sync";
    Schema004 "SCHEMA004" Error
        "every file a Kustomization names exists"
        "fix the path in resources/configMapGenerator/secretGenerator (relative to the kustomization.yaml)";
    // The one configuration file (crate::configuration)
    Conf001 "CONF001" Error
        "no placeholder value anywhere deployable that platform.yaml does not own"
        "replace the value with the real one, or derive it from platform.yaml (docs/configuration.md); it cannot be suppressed";
    Conf002 "CONF002" Warning
        "no placeholder value derived from platform.yaml remains (the deploy gate `platctl init --check` refuses them)"
        "run `platctl init --org ... --domain ...` with your values (docs/getting-started.md), then commit the result";
    // Documentation (crate::docs)
    Doc001 "DOC001" Error
        "every Application, namespace, workflow, alert, link and platctl command a runbook or docs/getting-started.md names exists"
        "fix the name (the message says what it is), or add what the document expects to the tree";
    // Sync order of a render (crate::sync_order)
    Sync001 "SYNC001" Error
        "every Secret a rendered object references is provided (Secret, SealedSecret, CSI secretObjects, Certificate or sync mapping), with the key and label it needs"
        "add the provider the message names (a sync-mapping entry, a SecretProviderClass secretObjects a pod mounts, a Certificate), or fix the name, key or label";
    Sync002 "SYNC002" Error
        "every Secret's provider syncs no later than its consumer"
        "move the provider to an earlier sync wave (or the consumer to a later one) so that the provider's chain of waves sorts first";
    Sync003 "SYNC003" Error
        "every custom resource's CRD is applied no later than the resource (or is built in, LKE's, or a known external source's)"
        "sync the CRD's Application in an earlier wave, or add the Application that installs it";
    Sync004 "SYNC004" Error
        "every namespace is created (Namespace object or CreateNamespace=true) no later than the objects in it"
        "add `CreateNamespace=true` to the Application of the first objects there, or a Namespace object in an earlier wave";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id.code()), "{} listed twice", r.id);
            assert_eq!(RuleId::parse(r.id.code()), Some(r.id));
            assert_eq!(r.id.info().title, r.title);
            assert!(!r.title.ends_with('.') && !r.fix.ends_with('.'), "{}: no final period", r.id);
        }
        assert_eq!(RULES.len(), RuleId::ALL.len());
        assert_eq!(RuleId::parse("K8S999"), None);
        assert_eq!(RuleId::K8s001.to_string(), "K8S001");
    }
}
