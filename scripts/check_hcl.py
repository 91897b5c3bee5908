#!/usr/bin/env python3
"""Parse every Terraform module and environment root with python-hcl2 and
assert the platform's rules; then exercise the modules' validation blocks
with the real terraform binary.

Structural rules (IDs are stable):
  H001  every .tf / .tfvars file parses
  H002  modules have versions.tf, variables.tf, outputs.tf, main.tf and a README
        listing every input and output
  H003  variables have a type and a description, outputs a description;
        kubeconfig outputs are sensitive
  H004  linode/linode is pinned "~> 3.N" (helm/kubernetes pinned with ~>)
  H005  every region variable defaults to "fr-par"
  H006  environment roots use backend "http" {} (platctl) and no provider token
  H007  lke-cluster: HA control plane + ACL wired, >= 2 pools (system, autoscaled
        workload), optional tainted GPU pool, production rules in validation blocks
  H008  production root: HA control plane and ACL on, allowed CIDRs set, not 0.0.0.0/0
  H009  state bucket private, versioned, non-current versions expire; keys limited
        to one bucket each (state for CI, Loki bucket for Loki)
  H010  firewall: inbound DROP, LKE's documented ports only, NodePorts optional
  H011  no literal Linode tokens, S3 keys or private keys in .tf/.tfvars/.json
  H012  one topology switch shared by the staging and production roots
  H013  references resolve (a poor man's `terraform validate`, which needs the
        providers): every var./local./module. reference is declared, every module
        call passes only inputs the module declares and all of its required inputs,
        and every tfvars key is a declared variable

Validation behaviour (terraform plan on each module's variables.tf alone, which
needs no provider):  V*** cases listed in VALIDATION_CASES.

Usage:
  scripts/check_hcl.py [--root infra/terraform] [--self-test]
Exit codes: 0 all checks pass, 1 failures, 2 missing python-hcl2 / terraform.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYDEPS = pathlib.Path(os.environ.get("PLATCTL_PYDEPS", pathlib.Path.home() / ".cache/platctl/pydeps"))
if (PYDEPS / "hcl2").is_dir():
    sys.path.insert(0, str(PYDEPS))

try:
    import hcl2  # python-hcl2 (installed by .ci/install-tools into $PLATCTL_PYDEPS)
except ImportError:  # pragma: no cover
    hcl2 = None

MODULES = ["lke-cluster", "state-bucket", "firewall", "dns", "argocd-bootstrap"]
ENVS = ["global", "staging", "production"]
SECRET_PATTERNS = [
    (re.compile(r"\b[0-9a-f]{64}\b"), "a 64-hex-digit string (Linode personal access token)"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS-style access key ID"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"(?i)\b(token|secret_key|obj_secret_key|password)\s*=\s*\"[^\"$]{8,}\""), "a literal credential assignment"),
]


def unq(v):
    """python-hcl2 keeps string quotes: '"fr-par"' -> 'fr-par'."""
    if isinstance(v, str) and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    return v


def uk(d):
    """Unquote the keys of a mapping."""
    return {unq(k): v for k, v in d.items()} if isinstance(d, dict) else d


def blocks(doc, kind):
    """Labelled blocks, e.g. blocks(doc, 'resource') -> [(('t','n'), body)]."""
    out = []
    for entry in doc.get(kind, []) or []:
        for l1, body in uk(entry).items():
            if l1.startswith("__"):
                continue
            if kind in ("resource", "data"):
                for l2, inner in uk(body).items():
                    if not l2.startswith("__"):
                        out.append(((l1, l2), inner))
            else:
                out.append(((l1,), body))
    return out


def load_dir(d: pathlib.Path, findings):
    merged = {}
    for f in sorted(d.glob("*.tf")):
        try:
            doc = hcl2.loads(f.read_text())
        except Exception as exc:  # noqa: BLE001 - parser raises many types
            findings.append(("H001", str(f), f"does not parse: {str(exc)[:200]}"))
            continue
        for k, v in doc.items():
            merged.setdefault(k, []).extend(v if isinstance(v, list) else [v])
    return merged


def load_tfvars(f: pathlib.Path, findings):
    try:
        return uk(hcl2.loads(f.read_text()))
    except Exception as exc:  # noqa: BLE001
        findings.append(("H001", str(f), f"does not parse: {str(exc)[:200]}"))
        return {}


def req_providers(doc):
    out = {}
    for t in doc.get("terraform", []) or []:
        for rp in t.get("required_providers", []) or []:
            for name, spec in uk(rp).items():
                if isinstance(spec, dict):
                    out[name] = {k: unq(v) for k, v in uk(spec).items()}
    return out


def check(root: pathlib.Path):
    f = []
    mods = {m: load_dir(root / "modules" / m, f) for m in MODULES}
    envs = {e: load_dir(root / "envs" / e, f) for e in ENVS}

    # H002 / H003 / H004 / H005
    for m, doc in mods.items():
        d = root / "modules" / m
        for need in ("versions.tf", "variables.tf", "outputs.tf", "main.tf", "README.md"):
            if not (d / need).exists():
                f.append(("H002", str(d), f"module {m} lacks {need}"))
        readme = (d / "README.md").read_text() if (d / "README.md").exists() else ""
        for (name,), body in blocks(doc, "variable"):
            if f"`{name}`" not in readme:
                f.append(("H002", f"{d}/README.md", f"input {name} is not listed"))
        for (name,), body in blocks(doc, "output"):
            if f"`{name}`" not in readme:
                f.append(("H002", f"{d}/README.md", f"output {name} is not listed"))
    for where, doc in list(mods.items()) + list(envs.items()):
        for (name,), body in blocks(doc, "variable"):
            if "type" not in body or "description" not in body:
                f.append(("H003", where, f"variable {name} needs a type and a description"))
            if name == "region" and unq(body.get("default")) != "fr-par":
                f.append(("H005", where, f"variable region defaults to {unq(body.get('default'))!r}, not 'fr-par'"))
        for (name,), body in blocks(doc, "output"):
            if "description" not in body:
                f.append(("H003", where, f"output {name} needs a description"))
            if "kubeconfig" in name and str(body.get("sensitive")).lower() != "true":
                f.append(("H003", where, f"output {name} must be sensitive"))
        rp = req_providers(doc)
        for name, spec in rp.items():
            ver = spec.get("version", "")
            if name == "linode" and not re.fullmatch(r"~> 3\.\d+", ver):
                f.append(("H004", where, f"linode provider pinned {ver!r}; want '~> 3.N'"))
            elif name != "linode" and not ver.startswith("~>"):
                f.append(("H004", where, f"provider {name} pinned {ver!r}; want '~> X.Y'"))
        uses_linode = any(t[0].startswith("linode_") for t, _ in blocks(doc, "resource"))
        if uses_linode and "linode" not in rp:
            f.append(("H004", where, "uses linode resources without pinning linode/linode"))

    # H006
    for e, doc in envs.items():
        backends = [uk(b) for t in doc.get("terraform", []) or [] for b in t.get("backend", []) or []]
        kinds = [k for b in backends for k in b if not k.startswith("__")]
        if kinds != ["http"]:
            f.append(("H006", f"envs/{e}", f"backend must be exactly one 'http' block, found {kinds}"))
        else:
            body = {k: v for k, v in backends[0]["http"].items() if not k.startswith("__")}
            if body:
                f.append(("H006", f"envs/{e}", f"backend \"http\" must be empty (platctl sets TF_HTTP_*), found {sorted(body)}"))
        for (name,), body in blocks(doc, "provider"):
            if name == "linode" and "token" in body:
                f.append(("H006", f"envs/{e}", "provider linode sets token; use LINODE_TOKEN from the environment"))
        if not (root / "envs" / e / "terraform.tfvars").exists():
            f.append(("H006", f"envs/{e}", "terraform.tfvars missing"))

    # H007
    lke = mods["lke-cluster"]
    clusters = [b for t, b in blocks(lke, "resource") if t[0] == "linode_lke_cluster"]
    if len(clusters) != 1:
        f.append(("H007", "lke-cluster", f"expected one linode_lke_cluster, found {len(clusters)}"))
    else:
        c = clusters[0]
        cp = (c.get("control_plane") or [{}])[0]
        acl = (cp.get("acl") or [{}])[0]
        if "high_availability" not in cp or "enabled" not in acl or not acl.get("addresses"):
            f.append(("H007", "lke-cluster", "control_plane needs high_availability and acl { enabled, addresses }"))
        pools = c.get("pool") or []
        if len(pools) < 2:
            f.append(("H007", "lke-cluster", f"{len(pools)} static pool(s); at least two (system + workload) are required"))
        if not any(p.get("autoscaler") for p in pools):
            f.append(("H007", "lke-cluster", "no pool has an autoscaler (workload pool needs min/max)"))
        gpu = [uk(dy).get("pool") for dy in c.get("dynamic") or [] if "pool" in uk(dy)]
        if not gpu or not (gpu[0].get("content") or [{}])[0].get("taint"):
            f.append(("H007", "lke-cluster", "optional GPU pool must be a dynamic pool with a taint"))
    lvars = {n: b for (n,), b in blocks(lke, "variable")}
    for v in ("high_availability", "acl_enabled", "acl_allowed_ipv4"):
        conds = " ".join(str(x.get("condition", "")) for x in lvars.get(v, {}).get("validation", []) or [])
        if "production" not in conds:
            f.append(("H007", "lke-cluster", f"variable {v} has no validation enforcing the production rule"))
    if "gpu_pool" in lvars and "rtx4000a" not in json.dumps(lvars["gpu_pool"].get("validation")):
        f.append(("H007", "lke-cluster", "gpu_pool.type is not restricted to LKE GPU plans"))

    # H008
    prod = envs["production"]
    calls = {n: b for (n,), b in blocks(prod, "module")}
    cl = calls.get("cluster", {})
    if str(cl.get("high_availability")).lower() != "true" or str(cl.get("acl_enabled")).lower() != "true":
        f.append(("H008", "envs/production", "module cluster must set high_availability = true and acl_enabled = true"))
    if "lke-cluster" not in unq(str(cl.get("source", ""))):
        f.append(("H008", "envs/production", "module cluster must use modules/lke-cluster"))
    pv = load_tfvars(root / "envs/production/terraform.tfvars", f)
    cidrs = pv.get("acl_allowed_ipv4") or []
    cidrs = [unq(c) for c in cidrs] if isinstance(cidrs, list) else []
    if not cidrs or "0.0.0.0/0" in cidrs:
        f.append(("H008", "envs/production/terraform.tfvars", f"acl_allowed_ipv4 must list specific CIDRs, found {cidrs}"))

    # H009
    sb = {t[1]: b for t, b in blocks(mods["state-bucket"], "resource") if t[0] == "linode_object_storage_bucket"}
    keys = {t[1]: b for t, b in blocks(mods["state-bucket"], "resource") if t[0] == "linode_object_storage_key"}
    st = sb.get("state", {})
    if unq(st.get("acl")) != "private" or str(st.get("versioning")).lower() != "true":
        f.append(("H009", "state-bucket", "state bucket must be acl = \"private\" and versioning = true"))
    rules = st.get("lifecycle_rule") or []
    if not any(str(r.get("enabled")).lower() == "true" and r.get("noncurrent_version_expiration") for r in rules):
        f.append(("H009", "state-bucket", "state bucket needs an enabled lifecycle_rule with noncurrent_version_expiration"))
    if unq(sb.get("loki", {}).get("acl")) != "private":
        f.append(("H009", "state-bucket", "Loki bucket must be private"))
    for kname, bucket in (("ci", "state"), ("loki", "loki")):
        ba = (keys.get(kname, {}).get("bucket_access") or [{}])
        if len(ba) != 1 or unq(ba[0].get("permissions")) != "read_write" or f"linode_object_storage_bucket.{bucket}" not in str(ba[0].get("bucket_name")):
            f.append(("H009", "state-bucket", f"key {kname} must have exactly one read_write bucket_access on the {bucket} bucket"))

    # H010
    fw = [b for t, b in blocks(mods["firewall"], "resource") if t[0] == "linode_firewall"]
    fvars = {n: b for (n,), b in blocks(mods["firewall"], "variable")}
    if not fw or unq(fw[0].get("inbound_policy")) != "DROP":
        f.append(("H010", "firewall", "inbound_policy must be DROP"))
    else:
        lke_cidr = unq(fvars.get("lke_private_cidr", {}).get("default"))
        if lke_cidr != "192.168.128.0/17":
            f.append(("H010", "firewall", f"lke_private_cidr defaults to {lke_cidr!r}, LKE documents 192.168.128.0/17"))
        got = {(unq(r.get("protocol")), unq(r.get("ports"))) for r in fw[0].get("inbound") or []}
        for proto, port in (("TCP", "10250"), ("TCP", "179"), ("UDP", "51820")):
            if not any(p == proto and port in (ports or "").split(",") for p, ports in got):
                f.append(("H010", "firewall", f"no inbound {proto} {port} rule from the LKE private range"))
        for r in fw[0].get("inbound") or []:
            if "30000" in str(r.get("ports")):
                f.append(("H010", "firewall", "NodePorts must only open through the nodeports_enabled dynamic block"))
        dyn = [uk(dy).get("inbound") for dy in fw[0].get("dynamic") or [] if "inbound" in uk(dy)]
        if not any("nodeports_enabled" in str(d.get("for_each")) for d in dyn if d):
            f.append(("H010", "firewall", "NodePort rule must be conditional on var.nodeports_enabled"))

    # H011
    for p in sorted(root.rglob("*")):
        if p.is_file() and (p.suffix in (".tf", ".json") or p.name.endswith(".tfvars")) and ".terraform" not in p.parts:
            text = p.read_text(errors="replace")
            for rx, what in SECRET_PATTERNS:
                m = rx.search(text)
                if m:
                    line = text[: m.start()].count("\n") + 1
                    f.append(("H011", f"{p}:{line}", f"contains {what}; read credentials from the environment"))

    # H012
    topo = root / "envs/topology.auto.tfvars.json"
    try:
        tdoc = json.loads(topo.read_text())
        if not isinstance(tdoc.get("staging_dedicated_cluster"), bool):
            f.append(("H012", str(topo), "staging_dedicated_cluster must be a boolean"))
    except (OSError, json.JSONDecodeError) as exc:
        f.append(("H012", str(topo), f"unreadable: {exc}"))
    for e in ("staging", "production"):
        link = root / "envs" / e / "topology.auto.tfvars.json"
        if not link.exists() or link.resolve() != topo.resolve():
            f.append(("H012", str(link), "must be a symlink to ../topology.auto.tfvars.json (one switch for both roots)"))
        if "staging_dedicated_cluster" not in {n for (n,), _ in blocks(envs[e], "variable")}:
            f.append(("H012", f"envs/{e}", "does not declare variable staging_dedicated_cluster"))
    # H013
    for where, d, doc in [(f"modules/{m}", root / "modules" / m, mods[m]) for m in MODULES] + \
                         [(f"envs/{e}", root / "envs" / e, envs[e]) for e in ENVS]:
        text = "\n".join(p.read_text() for p in sorted(d.glob("*.tf")))
        declared_vars = {n for (n,), _ in blocks(doc, "variable")}
        declared_locals = {k for loc in doc.get("locals", []) or [] for k in uk(loc) if not k.startswith("__")}
        declared_modules = {n for (n,), _ in blocks(doc, "module")}
        for ref in sorted(set(re.findall(r"\bvar\.([a-z0-9_]+)", text)) - declared_vars):
            f.append(("H013", where, f"var.{ref} is used but not declared"))
        for ref in sorted(set(re.findall(r"\blocal\.([a-z0-9_]+)", text)) - declared_locals):
            f.append(("H013", where, f"local.{ref} is used but not declared"))
        for ref in sorted(set(re.findall(r"\bmodule\.([a-z0-9_]+)", text)) - declared_modules):
            f.append(("H013", where, f"module.{ref} is used but not declared"))
        for (name,), call in blocks(doc, "module"):
            src = unq(str(call.get("source", "")))
            target = (d / src).resolve()
            if not target.is_dir():
                f.append(("H013", where, f"module {name}: source {src} does not exist"))
                continue
            mdoc = load_dir(target, f)
            mvars = {n: b for (n,), b in blocks(mdoc, "variable")}
            args = {k for k in call if not k.startswith("__")} - {"source", "count", "for_each", "depends_on", "providers", "version"}
            for a in sorted(args - set(mvars)):
                f.append(("H013", where, f"module {name}: {src} has no input {a}"))
            for r in sorted(n for n, b in mvars.items() if "default" not in b and n not in args):
                f.append(("H013", where, f"module {name}: required input {r} is not set"))
        tfv = d / "terraform.tfvars"
        if tfv.exists():
            for k in sorted(set(load_tfvars(tfv, f)) - declared_vars):
                if not k.startswith("__"):
                    f.append(("H013", f"{where}/terraform.tfvars", f"{k} is not a declared variable"))
    return f


# (module, vars, expected: "ok" or a substring of the error)
VALIDATION_CASES = [
    ("V001", "lke-cluster", {"label": "prod-a", "environment": "production", "acl_allowed_ipv4": ["203.0.113.0/24"]}, "ok"),
    ("V002", "lke-cluster", {"label": "prod-a", "environment": "production", "high_availability": False, "acl_allowed_ipv4": ["203.0.113.0/24"]}, "high_availability = true"),
    ("V003", "lke-cluster", {"label": "prod-a", "environment": "production", "acl_enabled": False, "acl_allowed_ipv4": ["203.0.113.0/24"]}, "acl_enabled = true"),
    ("V004", "lke-cluster", {"label": "prod-a", "environment": "production"}, "at least one CIDR"),
    ("V005", "lke-cluster", {"label": "prod-a", "environment": "production", "acl_allowed_ipv4": ["0.0.0.0/0"]}, "must not contain 0.0.0.0/0"),
    ("V006", "lke-cluster", {"label": "stg-a", "environment": "staging", "high_availability": False, "acl_enabled": False}, "ok"),
    ("V007", "lke-cluster", {"label": "stg-a", "environment": "staging", "gpu_pool": {"enabled": True, "type": "g1-gpu-rtx6000-1", "min": 1, "max": 1}}, "Quadro RTX 6000"),
    ("V008", "lke-cluster", {"label": "stg-a", "environment": "staging", "gpu_pool": {"enabled": True, "type": "g2-gpu-rtx4000a1-s", "min": 1, "max": 2}}, "ok"),
    ("V009", "lke-cluster", {"label": "stg-a", "environment": "staging", "gpu_pool": {"enabled": True, "type": "g3-gpu-rtxpro6000-blackwell-1", "min": 1, "max": 1}}, "ok"),
    ("V010", "lke-cluster", {"label": "stg-a", "environment": "staging", "workload_pool": {"type": "g6-standard-2", "min": 4, "max": 2}}, "min <= max"),
    ("V011", "lke-cluster", {"label": "stg-a", "environment": "dev"}, "\"staging\" or \"production\""),
    ("V012", "state-bucket", {"noncurrent_version_expiration_days": 1}, "between 7 and 3650"),
    ("V013", "state-bucket", {}, "ok"),
    ("V014", "firewall", {"label": "x"}, "3-32 characters"),
    ("V015", "dns", {"domain": "platform.example.com", "environments": {"dev": {}}}, "\"staging\" or \"production\""),
    ("V016", "dns", {"domain": "platform.example.com", "environments": {"staging": {"gateway_ipv4": "not-an-ip"}}}, "IPv4 address"),
]


def run_validation_cases(root: pathlib.Path):
    """terraform plan on a copy of each module's variables.tf (no providers needed)."""
    tf = shutil.which("terraform")
    if not tf:
        return [("V000", "terraform", "terraform binary not found (see .ci/install-tools)")], 0
    results, ran = [], 0
    with tempfile.TemporaryDirectory(prefix="check-hcl-") as tmp:
        env = dict(os.environ, TF_IN_AUTOMATION="1", TF_CLI_ARGS="", CHECKPOINT_DISABLE="1")
        env.pop("TF_CLI_ARGS_plan", None)
        prepared = set()
        for cid, module, values, expect in VALIDATION_CASES:
            wd = pathlib.Path(tmp) / module
            if module not in prepared:
                wd.mkdir()
                shutil.copy(root / "modules" / module / "variables.tf", wd / "variables.tf")
                init = subprocess.run([tf, "init", "-input=false", "-no-color"], cwd=wd, env=env, capture_output=True, text=True)
                if init.returncode != 0:
                    results.append((cid, module, f"terraform init failed: {init.stderr[-300:]}"))
                    continue
                prepared.add(module)
            (wd / "case.auto.tfvars.json").write_text(json.dumps(values))
            p = subprocess.run([tf, "plan", "-input=false", "-no-color", "-lock=false", "-refresh=false"],
                               cwd=wd, env=env, capture_output=True, text=True)
            ran += 1
            out = re.sub(r"\s+", " ", p.stdout + p.stderr)
            if expect == "ok" and p.returncode != 0:
                results.append((cid, module, f"expected {values} to be accepted: {out[-300:]}"))
            elif expect != "ok" and (p.returncode == 0 or expect not in out):
                results.append((cid, module, f"expected {values} to be rejected with '{expect}'"))
    return results, ran


def self_test(root: pathlib.Path):
    """Each structural rule must fire on a broken copy of the tree."""
    mutations = {
        "H002": ("modules/dns/README.md", "`ttl_sec`", "ttl"),
        "H004": ("modules/lke-cluster/versions.tf", '"~> 3.5"', '">= 3.0"'),
        "H005": ("envs/global/variables.tf", 'default     = "fr-par"', 'default     = "us-east"'),
        "H006": ("envs/production/versions.tf", 'backend "http" {}', 'backend "local" {}'),
        "H007": ("modules/lke-cluster/main.tf", "  pool {\n    type = var.workload_pool.type", "  extra {\n    type = var.workload_pool.type"),
        "H008": ("envs/production/main.tf", "high_availability = true", "high_availability = false"),
        "H009": ("modules/state-bucket/main.tf", "versioning = true", "versioning = false"),
        "H010": ("modules/firewall/main.tf", 'inbound_policy  = "DROP"', 'inbound_policy  = "ACCEPT"'),
        # A fake token built at run time, so no token-shaped literal sits in this file.
        "H011": ("envs/global/terraform.tfvars", 'region ', 'token = "' + "0123456789abcdef" * 4 + '"\nregion '),
        "H012": ("envs/topology.auto.tfvars.json", "false", '"no"'),
        "H013": ("envs/production/main.tf", "  acl_allowed_ipv6  = var.acl_allowed_ipv6\n", "  acl_allowed_ipv6  = var.acl_allowed_ipv6\n  acl_ipv6_enabled  = true\n"),
    }
    failures = 0
    for rule, (rel, old, new) in mutations.items():
        with tempfile.TemporaryDirectory(prefix="check-hcl-self-") as tmp:
            copy = pathlib.Path(tmp) / "terraform"
            shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns(".terraform"))
            target = copy / rel
            text = target.read_text()
            if old not in text:
                print(f"  FAIL {rule}: mutation anchor {old!r} not found in {rel}")
                failures += 1
                continue
            target.write_text(text.replace(old, new, 1))
            fired = rule in {r for r, _, _ in check(copy)}
            failures += not fired
            print(f"  {'ok  ' if fired else 'FAIL'} {rule} fires on a broken copy ({rel})")
    return failures


def main():
    ap = argparse.ArgumentParser(description="HCL structure and validation checks for infra/terraform.")
    ap.add_argument("--root", type=pathlib.Path, default=ROOT / "infra/terraform", help="Terraform tree")
    ap.add_argument("--self-test", action="store_true", help="prove each structural rule fires on a broken copy")
    ap.add_argument("--skip-terraform", action="store_true", help="skip the terraform plan validation cases")
    args = ap.parse_args()
    if hcl2 is None or not hasattr(hcl2, "loads"):
        print(f"check_hcl: python-hcl2 not importable (looked in {PYDEPS}); run .ci/install-tools", file=sys.stderr)
        return 2
    probe = hcl2.loads('x = "y"\n')
    if probe.get("x") != '"y"':
        print("check_hcl: found an hcl2 module that is not python-hcl2 >= 7 (checkov's fork?); run .ci/install-tools", file=sys.stderr)
        return 2
    root = args.root.resolve()
    if args.self_test:
        failures = self_test(root)
        print(f"check_hcl self-test: {failures} failure(s)")
        return 1 if failures else 0
    findings = check(root)
    for rule, where, msg in findings:
        print(f"  {rule} {where}: {msg}")
    vres, ran = ([], 0) if args.skip_terraform else run_validation_cases(root)
    for cid, where, msg in vres:
        print(f"  {cid} {where}: {msg}")
    print(f"check_hcl: {len(findings)} structural finding(s); {ran} validation case(s), {len(vres)} failure(s)")
    return 1 if findings or vres else 0


if __name__ == "__main__":
    sys.exit(main())
