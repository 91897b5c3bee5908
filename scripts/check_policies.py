#!/usr/bin/env python3
"""Platform rules for the GitOps tree (deploy/) that schemas cannot express.

Rules (IDs are stable):
  APP001  every Application has an integer argocd.argoproj.io/sync-wave annotation
  APP002  every Application uses a project other than "default"
  APP003  production Applications have no automated sync (manual sync = approval)
  APP004  apps-production carries an always-open deny sync window with manualSync
  APP005  Helm charts pinned to an exact version; external Git sources pinned to a tag
  APP006  every Application path in this repository exists (deploy/secrets/* excepted)
  APP007  AppProjects apps-* have explicit destinations and source repositories
  NET001  every application namespace has a default-deny (ingress + egress) policy
  NET002  every application namespace allows DNS egress to kube-dns on UDP and TCP 53
  NET003  a cluster-wide default-deny policy covers namespaces created later
  SEC001  no Secret with data or stringData under deploy/ (SealedSecret only)
  TLS001  every HTTPS Gateway listener has a certificate from cert-manager
  TLS002  every HTTP Gateway listener redirects to HTTPS
  TLS003  Let's Encrypt staging and production ClusterIssuers use the Gateway HTTP-01 solver
  OBS001  Loki retention >= 720h, compactor retention on, delete_request_store set
  OBS002  kube-prometheus-stack, Loki, Tempo and Alloy are deployed
  OBS003  Loki's bucket is the one Terraform creates (envs/global/terraform.tfvars)
  OBS004  PrometheusRules cover drift, lock age, state server down, audit shipping,
          certificate expiry and Argo CD out-of-sync, with the shared metric names only
  CD001   argocd-cm has the Application health customization and a secret-referenced Dex client secret

Usage:
  scripts/check_policies.py [--self-test]
Exit codes: 0 no findings, 1 findings, 2 usage error.
"""
import argparse
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
OWN_REPO = "https://github.com/example-org/platform.git"
# deploy/secrets/mapping.yaml: OpenBao-to-SealedSecret mapping read by `platctl secrets sync`.
DATA_FILES = {"deploy/platform/rbac/teams.yaml", "deploy/secrets/mapping.yaml"}

# Shared metric names (HELPERS.md): PrometheusRules and dashboards use exactly these.
SHARED_METRICS = {
    "platctl_http_requests_total", "platctl_http_request_duration_seconds",
    "platctl_http_request_duration_seconds_bucket", "platctl_http_request_duration_seconds_sum",
    "platctl_http_request_duration_seconds_count",
    "platctl_state_locks_held", "platctl_state_lock_age_seconds", "platctl_state_bytes",
    "platctl_store_errors_total",
    "platctl_drift_resources", "platctl_drift_last_success_timestamp_seconds",
    "platctl_drift_check_duration_seconds", "platctl_drift_check_success",
    "platctl_audit_ship_errors_total", "platctl_audit_spool_pending_events",
}
REQUIRED_ALERT_SIGNALS = {
    "drift detected": "platctl_drift_resources",
    "lock held too long": "platctl_state_lock_age_seconds",
    "state server down": 'up{job="platctl-state"}',
    "audit shipping failing": "platctl_audit_ship_errors_total",
    "certificates expiring": "certmanager_certificate_expiration_timestamp_seconds",
    "Argo CD apps out of sync": 'argocd_app_info{sync_status="OutOfSync"}',
}
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+$")


def load_tree(root):
    docs = []
    for f in sorted((root / "deploy").rglob("*")):
        if f.suffix not in (".yaml", ".yml") or not f.is_file():
            continue
        rel = f.relative_to(root).as_posix()
        if rel in DATA_FILES:
            continue
        for i, d in enumerate(yaml.safe_load_all(f.read_text())):
            if isinstance(d, dict):
                docs.append((f"{rel}#{i}", d))
    return docs


def of_kind(docs, kind):
    return [(w, d) for w, d in docs if d.get("kind") == kind]


def name_of(d):
    return (d.get("metadata") or {}).get("name", "?")


def ns_of(d):
    return (d.get("metadata") or {}).get("namespace")


def is_production_app(d):
    spec = d.get("spec") or {}
    dest = (spec.get("destination") or {}).get("namespace", "")
    return (
        spec.get("project") == "apps-production"
        or name_of(d).startswith("production-")
        or dest in ("production", "gateway-production")
    )


def check_apps(docs, root):
    out = []
    for w, d in of_kind(docs, "Application"):
        ann = (d.get("metadata") or {}).get("annotations") or {}
        wave = ann.get("argocd.argoproj.io/sync-wave")
        if wave is None or not re.fullmatch(r"-?\d+", str(wave)):
            out.append(("APP001", w, f"Application {name_of(d)} has no integer sync-wave annotation; add argocd.argoproj.io/sync-wave"))
        spec = d.get("spec") or {}
        if spec.get("project") in (None, "", "default"):
            out.append(("APP002", w, f"Application {name_of(d)} uses the default project; use platform or apps-<env>"))
        if is_production_app(d) and (spec.get("syncPolicy") or {}).get("automated") is not None:
            out.append(("APP003", w, f"production Application {name_of(d)} syncs automatically; remove syncPolicy.automated (manual sync is the approval)"))
        sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
        for s in sources:
            rev = str(s.get("targetRevision", ""))
            if s.get("chart") and not EXACT_VERSION.match(rev):
                out.append(("APP005", w, f"chart {s['chart']} is not pinned to an exact version ({rev!r})"))
            if not s.get("chart") and s.get("repoURL") != OWN_REPO and not EXACT_VERSION.match(rev):
                out.append(("APP005", w, f"external Git source {s.get('repoURL')} is not pinned to a release tag ({rev!r})"))
            path = s.get("path")
            if s.get("repoURL") == OWN_REPO and path and not path.startswith("deploy/secrets/"):
                if not (root / path).is_dir():
                    out.append(("APP006", w, f"Application {name_of(d)} points at {path}, which does not exist"))
    projects = {name_of(d): (w, d) for w, d in of_kind(docs, "AppProject")}
    prod = projects.get("apps-production")
    if prod is None:
        out.append(("APP004", "deploy/", "AppProject apps-production is missing"))
    else:
        windows = (prod[1].get("spec") or {}).get("syncWindows") or []
        if not any(x.get("kind") == "deny" and x.get("manualSync") is True and x.get("duration") == "24h" for x in windows):
            out.append(("APP004", prod[0], "apps-production needs a deny sync window open 24h a day with manualSync: true"))
    for pname, (w, d) in projects.items():
        if not pname.startswith("apps-"):
            continue
        spec = d.get("spec") or {}
        if any(x.get("namespace") in (None, "*") or x.get("server") in (None, "*") for x in spec.get("destinations") or [{}]):
            out.append(("APP007", w, f"AppProject {pname} must list explicit destinations (no '*')"))
        if not spec.get("sourceRepos") or "*" in spec.get("sourceRepos"):
            out.append(("APP007", w, f"AppProject {pname} must list explicit sourceRepos (no '*')"))
    return out


def _is_default_deny(np):
    spec = np.get("spec") or {}
    return (
        spec.get("podSelector") == {}
        and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def _allows_dns(np):
    for rule in (np.get("spec") or {}).get("egress") or []:
        ports = {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports") or []}
        if {("UDP", 53), ("TCP", 53)} <= ports:
            for peer in rule.get("to") or []:
                if (peer.get("podSelector") or {}).get("matchLabels", {}).get("k8s-app") == "kube-dns":
                    return True
    return False


def check_network(docs):
    out = []
    app_namespaces = [
        (w, name_of(d)) for w, d in of_kind(docs, "Namespace")
        if ((d.get("metadata") or {}).get("labels") or {}).get("platform.io/tier") in ("apps", "gateway")
    ]
    policies = of_kind(docs, "NetworkPolicy")
    for w, ns in app_namespaces:
        mine = [d for _, d in policies if ns_of(d) == ns]
        if not any(_is_default_deny(p) for p in mine):
            out.append(("NET001", w, f"namespace {ns} has no default-deny NetworkPolicy (podSelector {{}}, Ingress+Egress, no rules)"))
        if not any(_allows_dns(p) for p in mine):
            out.append(("NET002", w, f"namespace {ns} has no DNS egress allow to kube-dns on UDP and TCP 53"))
    gnps = of_kind(docs, "GlobalNetworkPolicy")
    if not any(set((d.get("spec") or {}).get("types") or []) == {"Ingress", "Egress"}
               and (d.get("spec") or {}).get("namespaceSelector") for _, d in gnps):
        out.append(("NET003", "deploy/platform/policies", "no cluster-wide GlobalNetworkPolicy denying ingress and egress for new namespaces"))
    return out


def check_secrets(docs):
    return [
        ("SEC001", w, f"Secret {name_of(d)} carries data in Git; commit a SealedSecret or use the Secrets Store CSI driver")
        for w, d in of_kind(docs, "Secret") if d.get("data") or d.get("stringData")
    ]


def check_tls(docs):
    out = []
    routes = of_kind(docs, "HTTPRoute")
    for w, d in of_kind(docs, "Gateway"):
        ann = (d.get("metadata") or {}).get("annotations") or {}
        has_issuer = "cert-manager.io/cluster-issuer" in ann or "cert-manager.io/issuer" in ann
        for lst in (d.get("spec") or {}).get("listeners") or []:
            if lst.get("protocol") == "HTTPS":
                refs = (lst.get("tls") or {}).get("certificateRefs") or []
                if not refs or not has_issuer or not lst.get("hostname"):
                    out.append(("TLS001", w, f"Gateway {name_of(d)} listener {lst.get('name')} needs a hostname, tls.certificateRefs and a cert-manager issuer annotation"))
            elif lst.get("protocol") == "HTTP":
                redirected = False
                for _, r in routes:
                    if ns_of(r) != ns_of(d):
                        continue
                    parents = (r.get("spec") or {}).get("parentRefs") or []
                    if not any(p.get("name") == name_of(d) and p.get("sectionName") in (None, lst.get("name")) for p in parents):
                        continue
                    for rule in (r.get("spec") or {}).get("rules") or []:
                        for flt in rule.get("filters") or []:
                            if flt.get("type") == "RequestRedirect" and (flt.get("requestRedirect") or {}).get("scheme") == "https":
                                redirected = True
                if not redirected:
                    out.append(("TLS002", w, f"Gateway {name_of(d)} listener {lst.get('name')} serves HTTP without an HTTPS redirect HTTPRoute"))
    issuers = {name_of(d): d for _, d in of_kind(docs, "ClusterIssuer")}
    for want, server in (("letsencrypt-staging", "acme-staging-v02"), ("letsencrypt-production", "acme-v02")):
        d = issuers.get(want)
        acme = ((d or {}).get("spec") or {}).get("acme") or {}
        solvers = acme.get("solvers") or []
        if not d or server not in acme.get("server", "") or not any((s.get("http01") or {}).get("gatewayHTTPRoute") for s in solvers):
            out.append(("TLS003", "deploy/platform/cert-manager", f"ClusterIssuer {want} must use {server} with an http01.gatewayHTTPRoute solver"))
    return out


def _hours(v):
    m = re.fullmatch(r"(\d+)([hd])", str(v))
    if not m:
        return 0
    return int(m.group(1)) * (24 if m.group(2) == "d" else 1)


def _chart_values(docs, chart):
    for w, d in of_kind(docs, "Application"):
        src = (d.get("spec") or {}).get("source") or {}
        if src.get("chart") == chart:
            yield w, ((src.get("helm") or {}).get("valuesObject") or {})


def tfvars_value(root, rel, key):
    path = root / rel
    if not path.exists():
        return None
    m = re.search(rf'^\s*{re.escape(key)}\s*=\s*"([^"]*)"', path.read_text(), re.M)
    return m.group(1) if m else None


def check_observability(docs, root):
    out = []
    lokis = list(_chart_values(docs, "loki"))
    for w, values in lokis:
        loki = values.get("loki") or {}
        limits, comp = loki.get("limits_config") or {}, loki.get("compactor") or {}
        if _hours(limits.get("retention_period")) < 720 or comp.get("retention_enabled") is not True or not comp.get("delete_request_store"):
            out.append(("OBS001", w, "Loki needs limits_config.retention_period >= 720h, compactor.retention_enabled: true and compactor.delete_request_store"))
        bucket = ((loki.get("storage") or {}).get("bucketNames") or {}).get("chunks")
        tf_bucket = tfvars_value(root, "infra/terraform/envs/global/terraform.tfvars", "loki_bucket_name")
        if bucket != tf_bucket:
            out.append(("OBS003", w, f"Loki chunks bucket {bucket!r} differs from Terraform's loki_bucket_name {tf_bucket!r}"))
    present = {c for c in ("kube-prometheus-stack", "loki", "tempo", "alloy") if list(_chart_values(docs, c))}
    missing = {"kube-prometheus-stack", "loki", "tempo", "alloy"} - present
    if missing:
        out.append(("OBS002", "deploy/platform/apps", f"missing observability components: {sorted(missing)}"))
    exprs = []
    for w, d in of_kind(docs, "PrometheusRule"):
        for g in (d.get("spec") or {}).get("groups") or []:
            for r in g.get("rules") or []:
                exprs.append((w, str(r.get("expr", ""))))
    for what, needle in REQUIRED_ALERT_SIGNALS.items():
        if not any(needle in e for _, e in exprs):
            out.append(("OBS004", "deploy/platform/observability/rules", f"no alert for {what} (expected an expression using {needle})"))
    texts = [(w, e) for w, e in exprs]
    for dash in sorted((root / "deploy").rglob("*.json")):
        texts.append((dash.relative_to(root).as_posix(), dash.read_text()))
    for w, text in texts:
        for metric in set(re.findall(r"\bplatctl_[a-z_]+", text)):
            if metric not in SHARED_METRICS:
                out.append(("OBS004", w, f"metric {metric} is not one of the shared platctl metric names (HELPERS.md)"))
    return out


def check_argocd(docs):
    out = []
    cms = {name_of(d): (w, d) for w, d in of_kind(docs, "ConfigMap") if ns_of(d) == "argocd"}
    if "argocd-cm" not in cms:
        return [("CD001", "deploy/platform/argocd", "argocd-cm is missing")]
    w, cm = cms["argocd-cm"]
    data = cm.get("data") or {}
    if "resource.customizations.health.argoproj.io_Application" not in data:
        out.append(("CD001", w, "argocd-cm lacks resource.customizations.health.argoproj.io_Application: sync waves would not wait for health"))
    dex = yaml.safe_load(data.get("dex.config", "") or "{}") or {}
    for c in dex.get("connectors") or []:
        secret = str((c.get("config") or {}).get("clientSecret", ""))
        if not secret.startswith("$"):
            out.append(("CD001", w, f"Dex connector {c.get('id')} has a literal clientSecret; reference a secret ($<secret>:<key>)"))
    if not any(c.get("type") == "github" for c in dex.get("connectors") or []):
        out.append(("CD001", w, "argocd-cm has no Dex GitHub connector"))
    return out


def run_all(docs, root):
    return (check_apps(docs, root) + check_network(docs) + check_secrets(docs)
            + check_tls(docs) + check_observability(docs, root) + check_argocd(docs))


def self_test(docs, root):
    """Each rule must fire on a broken copy of the real tree."""
    import copy

    def mutate(fn):
        d2 = copy.deepcopy(docs)
        fn(d2)
        return {r for r, _, _ in run_all(d2, root)}

    def first(d2, kind, pred=lambda d: True):
        return next(d for _, d in d2 if d.get("kind") == kind and pred(d))

    def drop(d2, kind, pred):
        d2[:] = [(w, d) for w, d in d2 if not (d.get("kind") == kind and pred(d))]

    cases = {
        "APP001": lambda d2: first(d2, "Application")["metadata"]["annotations"].pop("argocd.argoproj.io/sync-wave"),
        "APP002": lambda d2: first(d2, "Application")["spec"].__setitem__("project", "default"),
        "APP003": lambda d2: first(d2, "Application", lambda d: name_of(d) == "production-foundation")["spec"]["syncPolicy"].__setitem__("automated", {"prune": True}),
        "APP004": lambda d2: first(d2, "AppProject", lambda d: name_of(d) == "apps-production")["spec"].pop("syncWindows"),
        "APP005": lambda d2: first(d2, "Application", lambda d: (d["spec"].get("source") or {}).get("chart") == "loki")["spec"]["source"].__setitem__("targetRevision", "6.*"),
        "APP006": lambda d2: first(d2, "Application", lambda d: name_of(d) == "staging-foundation")["spec"]["source"].__setitem__("path", "deploy/nowhere"),
        "APP007": lambda d2: first(d2, "AppProject", lambda d: name_of(d) == "apps-staging")["spec"]["destinations"].append({"server": "*", "namespace": "*"}),
        "NET001": lambda d2: drop(d2, "NetworkPolicy", lambda d: ns_of(d) == "staging" and name_of(d) == "default-deny-all"),
        "NET002": lambda d2: drop(d2, "NetworkPolicy", lambda d: ns_of(d) == "production" and name_of(d) == "allow-dns-egress"),
        "NET003": lambda d2: drop(d2, "GlobalNetworkPolicy", lambda d: True),
        "SEC001": lambda d2: d2.append(("fixture", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"k": "v"}})),
        "TLS001": lambda d2: first(d2, "Gateway")["metadata"].pop("annotations"),
        "TLS002": lambda d2: drop(d2, "HTTPRoute", lambda d: name_of(d) == "https-redirect"),
        "TLS003": lambda d2: drop(d2, "ClusterIssuer", lambda d: name_of(d) == "letsencrypt-production"),
        "OBS001": lambda d2: first(d2, "Application", lambda d: (d["spec"].get("source") or {}).get("chart") == "loki")["spec"]["source"]["helm"]["valuesObject"]["loki"]["limits_config"].__setitem__("retention_period", "168h"),
        "OBS002": lambda d2: drop(d2, "Application", lambda d: (d["spec"].get("source") or {}).get("chart") == "tempo"),
        "OBS003": lambda d2: first(d2, "Application", lambda d: (d["spec"].get("source") or {}).get("chart") == "loki")["spec"]["source"]["helm"]["valuesObject"]["loki"]["storage"]["bucketNames"].__setitem__("chunks", "other-bucket"),
        "OBS004": lambda d2: first(d2, "PrometheusRule")["spec"]["groups"][0]["rules"][0].__setitem__("expr", "platctl_drift_total > 0"),
        "CD001": lambda d2: first(d2, "ConfigMap", lambda d: name_of(d) == "argocd-cm")["data"].pop("resource.customizations.health.argoproj.io_Application"),
    }
    failures = 0
    for rule, fn in cases.items():
        fired = rule in mutate(fn)
        failures += not fired
        print(f"  {'ok  ' if fired else 'FAIL'} {rule} fires on a broken fixture")
    return failures


def main():
    ap = argparse.ArgumentParser(description="Platform rules for deploy/.")
    ap.add_argument("--self-test", action="store_true", help="prove every rule fires on a broken copy of the tree")
    args = ap.parse_args()
    docs = load_tree(ROOT)
    if args.self_test:
        failures = self_test(docs, ROOT)
        print(f"check_policies self-test: {failures} failure(s)")
        return 1 if failures else 0
    findings = run_all(docs, ROOT)
    for rule, where, msg in findings:
        print(f"  {rule} {where}: {msg}")
    print(f"check_policies: {len(docs)} documents, {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
