#!/usr/bin/env python3
"""Checks for charts/sample-service, its Argo CD Applications and its Dockerfiles.

No helm binary is available, so this script carries a small Go-template renderer
for exactly the subset the chart uses (define/include, if/else/end, pipes, and
the Sprig functions listed in FUNCS); anything else is an error, never a silent
mis-render. Then, on real renders:

  schema     values.schema.json is a valid Draft-07 schema, accepts values.yaml
             and the values of every Argo CD Application, and rejects bad values
  yaml       every template is valid YAML once the template directives are stripped
  render     the chart renders with default and per-environment values; objects
             validate strictly against the Kubernetes/CRD schemas in $PLATCTL_SCHEMAS
             (default ../shared/schemas); drain, probes and hardening are wired
  checkov    checkov --framework kubernetes passes on the rendered manifests
  yamllint   Chart.yaml, values.yaml and the Applications are lint-clean
  argocd     Applications: right AppProject, sync wave, repoURL, chart path,
             automated sync in staging only
  docker     Dockerfiles are multi-stage, pinned, and run as a non-root user; the
             binaries they copy need only the libraries distroless/cc provides

Exit 0 when every check passes, 1 otherwise. Last line: "N passed, M failed".
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback

import jsonschema
import referencing
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # scripts/..
CHART = os.path.join(ROOT, "charts", "sample-service")
APPS = {env: os.path.join(ROOT, "deploy", "apps", env, "sample-service.yaml") for env in ("staging", "production")}
SCHEMAS = os.environ.get("PLATCTL_SCHEMAS", os.path.join(ROOT, "..", "shared", "schemas"))

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        detail = fn()
        passed += 1
        print(f"ok    {name}" + (f": {detail}" if detail else ""))
    except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
        failed += 1
        why = str(e) or f"{type(e).__name__} at: {traceback.extract_tb(e.__traceback__)[-1].line}"
        print(f"FAIL  {name}: {why}")


# ---------------------------------------------------------------- renderer

class TemplateError(Exception):
    pass


ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)


def tokenize(src):
    out, pos = [], 0
    for m in ACTION.finditer(src):
        text = src[pos:m.start()]
        if m.group(1) == "-":
            text = text.rstrip()
        out.append(("text", text))
        out.append(("action", m.group(2).strip()))
        pos = m.end()
        if m.group(3) == "-":
            while pos < len(src) and src[pos] in " \t\r\n":
                pos += 1
    out.append(("text", src[pos:]))
    return out


def parse(tokens, i=0, stop=("end",)):
    """Returns (nodes, index, stopper)."""
    nodes = []
    while i < len(tokens):
        kind, val = tokens[i]
        i += 1
        if kind == "text":
            if val:
                nodes.append(("text", val))
            continue
        if val.startswith("/*"):
            continue
        word = val.split(None, 1)[0] if val else ""
        if word in ("end", "else"):
            if word not in stop:
                raise TemplateError(f"unexpected {{{{ {val} }}}}")
            return nodes, i, word
        if word == "if":
            body, i, stopper = parse(tokens, i, ("end", "else"))
            other = []
            if stopper == "else":
                other, i, _ = parse(tokens, i, ("end",))
            nodes.append(("if", val[2:].strip(), body, other))
        elif word == "define":
            name = json.loads(val.split(None, 1)[1])
            body, i, _ = parse(tokens, i, ("end",))
            nodes.append(("define", name, body))
        elif word in ("range", "with", "block", "template"):
            raise TemplateError(f"{word} is not supported by this renderer: {{{{ {val} }}}}")
        else:
            nodes.append(("action", val))
    return nodes, i, None


def truthy(v):
    return not (v is None or v is False or v == 0 or v == "" or v == {} or v == [])


def to_text(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        raise TemplateError("a value is missing (nil)")
    return str(v)


def go_quote(v):
    return json.dumps(to_text(v))


def to_yaml(v):
    if v in ({}, []):
        return json.dumps(v)
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


def nindent(n, s):
    return "\n" + "\n".join((" " * n + line) if line else line for line in to_text(s).split("\n"))


def go_printf(fmt, *args):
    return fmt.replace("%s", "{}").replace("%d", "{}").format(*[to_text(a) for a in args])


def go_fail(msg):
    raise TemplateError(f"fail: {msg}")


FUNCS = {
    "quote": go_quote,
    "toYaml": to_yaml,
    "nindent": nindent,
    "add": lambda *xs: sum(int(x) for x in xs),
    "printf": go_printf,
    "trunc": lambda n, s: to_text(s)[:n],
    "trimSuffix": lambda suf, s: to_text(s)[: -len(suf)] if suf and to_text(s).endswith(suf) else to_text(s),
    "contains": lambda sub, s: sub in to_text(s),
    "not": lambda x: not truthy(x),
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "default": lambda d, v=None: v if truthy(v) else d,
    "fail": go_fail,
}

TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|\||[^\s()|]+)')


class Renderer:
    def __init__(self, defines):
        self.defines = defines

    def lex(self, expr):
        toks, pos = [], 0
        while pos < len(expr):
            m = TOKEN.match(expr, pos)
            if not m:
                if expr[pos:].strip() == "":
                    break
                raise TemplateError(f"cannot lex {expr!r}")
            toks.append(m.group(1))
            pos = m.end()
        return toks

    def eval(self, expr, ctx):
        toks = self.lex(expr)
        val, i = self.pipeline(toks, 0, ctx)
        if i != len(toks):
            raise TemplateError(f"trailing tokens in {expr!r}")
        return val

    def pipeline(self, toks, i, ctx):
        val, i = self.command(toks, i, ctx, None)
        while i < len(toks) and toks[i] == "|":
            val, i = self.command(toks, i + 1, ctx, val)
        return val, i

    def command(self, toks, i, ctx, piped):
        args = []
        while i < len(toks) and toks[i] not in ("|", ")"):
            if toks[i] == "(":
                v, i = self.pipeline(toks, i + 1, ctx)
                if i >= len(toks) or toks[i] != ")":
                    raise TemplateError("unbalanced parenthesis")
                args.append(("val", v))
                i += 1
            else:
                args.append(("tok", toks[i]))
                i += 1
        if not args:
            raise TemplateError("empty command")
        head = args[0]
        if head[0] == "tok" and head[1] in FUNCS or head == ("tok", "include"):
            fn = head[1]
            vals = [self.term(a, ctx) for a in args[1:]]
            if piped is not None:
                vals.append(piped)
            if fn == "include":
                return self.include(vals[0], vals[1]), i
            return FUNCS[fn](*vals), i
        if len(args) != 1 or piped is not None:
            raise TemplateError(f"unknown function {head[1] if head[0] == 'tok' else head!r}")
        return self.term(head, ctx), i

    def term(self, a, ctx):
        kind, t = a
        if kind == "val":
            return t
        if t.startswith('"'):
            return json.loads(t)
        if t == ".":
            return ctx
        if t in ("true", "false"):
            return t == "true"
        if re.fullmatch(r"-?\d+", t):
            return int(t)
        if t.startswith("."):
            cur = ctx
            for part in t[1:].split("."):
                if not isinstance(cur, dict) or part not in cur:
                    raise TemplateError(f"{t}: no such value")
                cur = cur[part]
            return cur
        raise TemplateError(f"unknown function or value {t!r}")

    def include(self, name, ctx):
        if name not in self.defines:
            raise TemplateError(f"include of undefined template {name!r}")
        return self.run(self.defines[name], ctx)

    def run(self, nodes, ctx):
        out = []
        for n in nodes:
            if n[0] == "text":
                out.append(n[1])
            elif n[0] == "action":
                v = self.eval(n[1], ctx)
                out.append(to_text(v))
            elif n[0] == "if":
                out.append(self.run(n[2] if truthy(self.eval(n[1], ctx)) else n[3], ctx))
        return "".join(out)


def load_chart_templates():
    defines, files = {}, {}
    tdir = os.path.join(CHART, "templates")
    for dirpath, _, names in os.walk(tdir):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            nodes, _, _ = parse(tokenize(open(path).read()), 0, ())
            for n in nodes:
                if n[0] == "define":
                    defines[n[1]] = n[2]
            if name.endswith((".yaml", ".yml")):
                files[os.path.relpath(path, CHART)] = [n for n in nodes if n[0] != "define"]
    return defines, files


def render(values, release="sample-service", namespace="staging"):
    chart = yaml.safe_load(open(os.path.join(CHART, "Chart.yaml")))
    ctx = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    }
    defines, files = load_chart_templates()
    r = Renderer(defines)
    docs = []
    for path, nodes in sorted(files.items()):
        text = r.run(nodes, ctx)
        try:
            for d in yaml.safe_load_all(text):
                if d is not None:
                    docs.append((path, d))
        except yaml.YAMLError as e:
            raise TemplateError(f"{path} renders to invalid YAML: {e}\n{text}")
    return docs


DELETE = object()  # a patch value that removes the key


def merge(base, patch):
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if v is DELETE:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------- inputs

DEFAULTS = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
SCHEMA = json.load(open(os.path.join(CHART, "values.schema.json")))


def app_doc(env):
    return yaml.safe_load(open(APPS[env]))


def app_values(env):
    helm = app_doc(env)["spec"]["source"].get("helm", {})
    return merge(DEFAULTS, helm.get("valuesObject", {}))


# ---------------------------------------------------------------- checks

def schema_valid():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(DEFAULTS)
    for env in APPS:
        jsonschema.Draft7Validator(SCHEMA).validate(app_values(env))
    return "values.yaml and both Applications' values validate"


BAD_VALUES = [
    ("unknown top-level key", {"replicas": 3}),
    ("latest tag", {"image": {"tag": "latest"}}),
    ("digest not sha256", {"image": {"digest": "md5:abc"}}),
    ("pull policy Never", {"image": {"pullPolicy": "Never"}}),
    ("environment with capitals", {"environment": "Production"}),
    ("limits missing", {"resources": {"limits": DELETE}}),
    ("shutdown settings missing", {"shutdown": DELETE}),
    ("memory without unit", {"resources": {"requests": {"cpu": "50m", "memory": "32"}, "limits": {"cpu": "1", "memory": "1Gi"}}}),
    ("grace period zero", {"shutdown": {"preStopSeconds": 5, "graceSeconds": 0}}),
    ("negative preStop", {"shutdown": {"preStopSeconds": -1, "graceSeconds": 20}}),
    ("OTLP endpoint not a URL", {"otel": {"endpoint": "alloy:4318"}}),
    ("service port out of range", {"service": {"port": 70000}}),
    ("hostname with a scheme", {"route": {"hostname": "https://staging.platform.example.com"}}),
    ("path prefix without slash", {"route": {"pathPrefix": "sample"}}),
    ("unknown key in route", {"route": {"tls": True}}),
    ("single replica under HPA", {"autoscaling": {"minReplicas": 1}}),
    ("PDB of zero", {"podDisruptionBudget": {"minAvailable": 0}}),
    ("smoke URL over http", {"smokeTest": {"url": "http://staging.platform.example.com/"}}),
    ("string where a number is due", {"smokeTest": {"retries": "5"}}),
    ("unknown trace sampler", {"otel": {"sampler": "sometimes"}}),
    ("sampler ratio above 1", {"otel": {"samplerArg": "1.5"}}),
    ("CIDR that is a hostname", {"networkPolicy": {"smokeEgressCidr": "gateway.example.com"}}),
]


def schema_rejects(label, patch):
    def run():
        errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(merge(DEFAULTS, patch)))
        if not errors:
            raise AssertionError(f"values.schema.json accepted bad values: {patch}")
        return errors[0].message[:90]
    return run


def templates_are_yaml_when_stripped():
    count = 0
    for dirpath, _, names in os.walk(os.path.join(CHART, "templates")):
        for name in names:
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(dirpath, name)
            stripped = ACTION.sub("", open(path).read())
            try:
                list(yaml.safe_load_all(stripped))
            except yaml.YAMLError as e:
                raise AssertionError(f"{os.path.relpath(path, ROOT)} is not YAML once directives are stripped: {e}")
            count += 1
    return f"{count} templates"


def schema_path(doc):
    api, kind = doc["apiVersion"], doc["kind"]
    group, _, version = api.rpartition("/")
    if group and "." in group and not group.endswith(".k8s.io"):
        return os.path.join(SCHEMAS, "crds", group, f"{kind.lower()}_{version}.json")
    if group.endswith(".k8s.io") and group.startswith("gateway.networking"):
        return os.path.join(SCHEMAS, "crds", group, f"{kind.lower()}_{version}.json")
    short = group.split(".")[0] if group else ""
    name = f"{kind.lower()}-{short}-{version}.json" if short else f"{kind.lower()}-{version}.json"
    return os.path.join(SCHEMAS, "kubernetes", "v1.34.0-local-strict", name)


def validate_k8s(doc):
    path = schema_path(doc)
    if not os.path.exists(path):
        raise AssertionError(f"no schema for {doc['apiVersion']} {doc['kind']} at {path} (set PLATCTL_SCHEMAS)")
    schema = json.load(open(path))
    defs_path = os.path.join(os.path.dirname(path), "_definitions.json")

    def retrieve(uri):
        if uri.endswith("_definitions.json"):
            return referencing.Resource.from_contents(json.load(open(defs_path)), default_specification=referencing.jsonschema.DRAFT202012)
        raise referencing.exceptions.NoSuchResource(ref=uri)

    registry = referencing.Registry(retrieve=retrieve)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    errors = sorted(cls(schema, registry=registry).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message[:200]}")


def by_kind(docs, kind, test=False):
    out = [d for p, d in docs if d["kind"] == kind and ("tests/" in p) == test]
    if len(out) != 1:
        raise AssertionError(f"expected one {kind}, rendered {len(out)}")
    return out[0]


def render_checks(values, namespace, label):
    def run():
        if not os.path.isdir(SCHEMAS):
            raise AssertionError(f"schemas not found at {SCHEMAS}: set PLATCTL_SCHEMAS (scripts/test passes ../shared/schemas)")
        docs = render(values, namespace=namespace)
        for _, d in docs:
            if d["metadata"].get("namespace") != namespace:
                raise AssertionError(f"{d['kind']}/{d['metadata']['name']} is not in namespace {namespace}")
            validate_k8s(d)
        dep = by_kind(docs, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        env = {e["name"]: e["value"] for e in c["env"]}
        pre, grace = values["shutdown"]["preStopSeconds"], values["shutdown"]["graceSeconds"]
        assert pod["terminationGracePeriodSeconds"] == pre + grace + 5, "termination grace != preStop + drain + 5"
        assert c["lifecycle"]["preStop"]["sleep"]["seconds"] == pre, "preStop sleep not wired"
        assert env["SHUTDOWN_GRACE_SECONDS"] == str(grace), "SHUTDOWN_GRACE_SECONDS not wired"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert c["resources"]["limits"] and c["resources"]["requests"], "requests and limits"
        assert ":latest" not in c["image"], "latest image"
        assert ("replicas" in dep["spec"]) != values["autoscaling"]["enabled"], "replicas must be left to the HPA"
        route = by_kind(docs, "HTTPRoute")
        parent = route["spec"]["parentRefs"][0]
        gw = values["route"]["gateway"]
        assert (parent["name"], parent["namespace"], parent["sectionName"]) == (gw["name"], gw["namespace"], gw["sectionName"])
        assert route["spec"]["hostnames"] == [values["route"]["hostname"]]
        mon = by_kind(docs, "ServiceMonitor")
        assert mon["spec"]["endpoints"][0]["path"] == "/metrics"
        by_kind(docs, "PodDisruptionBudget")
        by_kind(docs, "HorizontalPodAutoscaler")
        hook = by_kind(docs, "Pod", test=True)
        assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"
        args = hook["spec"]["containers"][0]["args"]
        want = f"https://{values['route']['hostname']}{values['route']['pathPrefix'].rstrip('/')}/"
        assert args[:3] == ["smoke", "--url", want], f"helm test runs {args[:3]}, expected smoke --url {want}"
        pols = [d for _, d in docs if d["kind"] == "NetworkPolicy"]
        assert bool(pols) == values["networkPolicy"]["enabled"], "NetworkPolicy presence follows networkPolicy.enabled"
        return f"{len(docs)} objects valid ({label})"
    return run


def render_rejects_inverted_hpa():
    try:
        render(merge(DEFAULTS, {"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}))
    except TemplateError as e:
        if "maxReplicas must be >= autoscaling.minReplicas" in str(e):
            return "fails with the template's message"
        raise
    raise AssertionError("maxReplicas < minReplicas rendered")


def checkov():
    with tempfile.TemporaryDirectory() as d:
        # Rendered as released: the pipeline pins both images by digest (CKV_K8S_43).
        digest = "sha256:" + "0" * 64
        pinned = merge(DEFAULTS, {"image": {"digest": digest}, "smokeTest": {"image": {"digest": digest}}})
        docs = render(pinned, namespace="staging")
        images = [c["image"] for _, doc in docs if doc["kind"] in ("Deployment", "Pod")
                  for c in (doc["spec"].get("template", {}).get("spec", doc["spec"]))["containers"]]
        assert images and all(i.endswith("@" + digest) for i in images), f"digest not applied: {images}"
        with open(os.path.join(d, "rendered.yaml"), "w") as f:
            yaml.safe_dump_all([doc for _, doc in docs], f, sort_keys=False)
        p = subprocess.run(
            ["checkov", "--framework", "kubernetes", "-d", d, "--compact", "--quiet", "--skip-download", "--output", "cli"],
            capture_output=True, text=True,
        )
        if p.returncode != 0:
            raise AssertionError(f"checkov failed:\n{p.stdout[-4000:]}{p.stderr[-1000:]}")
        return "no failed checks on the default render (images pinned by digest)"


def yamllint():
    files = [os.path.join(CHART, "Chart.yaml"), os.path.join(CHART, "values.yaml"), *APPS.values()]
    cfg = "{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false}}}"
    p = subprocess.run(["yamllint", "-s", "-d", cfg, *files], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(p.stdout + p.stderr)
    return f"{len(files)} files"


def argocd(env):
    def run():
        app = app_doc(env)
        assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
        validate_k8s(app)
        md, spec = app["metadata"], app["spec"]
        assert md["namespace"] == "argocd"
        assert spec["project"] == f"apps-{env}", f"project must be apps-{env}"
        wave = md.get("annotations", {}).get("argocd.argoproj.io/sync-wave")
        assert wave is not None and int(wave) >= 10, f"apps wave: sync-wave must be set and >= 10 (got {wave})"
        src = spec["source"]
        project = yaml.safe_load(open(os.path.join(ROOT, "deploy", "platform", "argocd", "projects", f"apps-{env}.yaml")))
        assert src["repoURL"] in project["spec"]["sourceRepos"], "repoURL not allowed by the AppProject"
        assert src["path"] == "charts/sample-service"
        assert spec["destination"]["namespace"] == env
        automated = "automated" in spec.get("syncPolicy", {})
        if env == "production":
            assert not automated, "production apps must not sync automatically: a manual sync is the approval"
        else:
            assert automated, "staging syncs automatically"
        vals = app_values(env)
        assert vals["environment"] == env
        return f"project apps-{env}, wave {wave}, automated={automated}"
    return run


def dockerfile(path, targets):
    def run():
        text = open(os.path.join(ROOT, path)).read()
        stages, cur = {}, None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            if m:
                cur = m.group(2) or f"stage{len(stages)}"
                stages[cur] = {"from": m.group(1), "lines": []}
            elif cur:
                stages[cur]["lines"].append(line)
        assert len(stages) >= 2, "multi-stage: at least a build stage and a runtime stage"
        for name, st in stages.items():
            base = st["from"]
            if base in stages:
                continue
            assert ":" in base or "@" in base, f"stage {name}: unpinned base image {base}"
            assert not base.endswith(":latest"), f"stage {name}: latest base image {base}"
        for target in targets:
            assert target in stages, f"no stage named {target}"
            st = stages[target]
            assert st["from"] not in stages and "distroless" in st["from"], f"{target}: runtime must be a minimal distroless image"
            users = [l.split()[1] for l in st["lines"] if l.upper().startswith("USER ")]
            assert users, f"{target}: sets no USER"
            uid = users[-1].split(":")[0]
            assert uid not in ("root", "0") and (not uid.isdigit() or int(uid) >= 10000), f"{target}: USER {users[-1]} is root or a low uid"
            copies = [l for l in st["lines"] if l.upper().startswith("COPY")]
            assert copies and all("--from=" in l for l in copies), f"{target}: copies only built artefacts from a build stage"
            assert any(re.match(r"ENTRYPOINT\s+\[", l) for l in st["lines"]), f"{target}: exec-form ENTRYPOINT"
            assert not any(l.upper().startswith("RUN") for l in st["lines"]), f"{target}: no RUN in the runtime stage"
        return f"{len(stages)} stages; runtime targets {', '.join(targets)} run as non-root on distroless"
    return run


# What gcr.io/distroless/cc-debian12 provides (glibc and libgcc): the only
# shared libraries the binaries copied into the runtime stages may need.
DISTROLESS_CC_LIBS = {"linux-vdso.so.1", "libgcc_s.so.1", "libm.so.6", "libc.so.6", "ld-linux-x86-64.so.2",
                      "libpthread.so.0", "libdl.so.2", "librt.so.1"}


def runtime_libraries(binaries, allowed=DISTROLESS_CC_LIBS):
    """The Dockerfile copies these binaries into distroless/cc: each must need
    no shared library that image lacks (no libssl: TLS is rustls + aws-lc-rs,
    linked in). Checked with ldd on the binaries scripts/test just built."""
    def run():
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
        found = []
        for name in binaries:
            path = next((p for p in (os.path.join(target, prof, name) for prof in ("fast-build", "release", "debug")) if os.path.exists(p)), None)
            assert path, f"{name} is not built under {target} (run cargo build first)"
            out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
            libs = {os.path.basename(line.split()[0]) for line in out.splitlines() if line.strip()}
            extra = sorted(libs - allowed)
            assert not extra, f"{name} needs {', '.join(extra)}, which distroless/cc does not have"
            found.append(f"{name}: {len(libs)} libraries")
        return "; ".join(found)
    return run


def runtime_libraries_self_test():
    # The same check with glibc left out of the allowed set must fail.
    try:
        runtime_libraries(["sample-service"], DISTROLESS_CC_LIBS - {"libc.so.6"})()
    except AssertionError as e:
        assert "libc.so.6" in str(e), e
        return "a binary needing a library outside the set is reported"
    raise AssertionError("the library check passed with libc.so.6 not allowed")


def main():
    check("schema: values.schema.json is Draft-07 and accepts the defaults and the Applications' values", schema_valid)
    for label, patch in BAD_VALUES:
        check(f"schema rejects: {label}", schema_rejects(label, patch))
    check("yaml: every template is valid YAML with directives stripped", templates_are_yaml_when_stripped)
    check("render: default values", render_checks(DEFAULTS, "staging", "defaults"))
    for env in APPS:
        check(f"render: {env} Application values", render_checks(app_values(env), env, env))
    check("render: maxReplicas < minReplicas fails", render_rejects_inverted_hpa)
    check("checkov --framework kubernetes on the render", checkov)
    check("yamllint", yamllint)
    for env in APPS:
        check(f"argocd: {env} Application", argocd(env))
    check("docker: Dockerfile", dockerfile("Dockerfile", ["sample-service", "platctl"]))
    check("docker: the images' binaries need only distroless/cc's libraries", runtime_libraries(["sample-service", "platctl"]))
    check("docker: the library check can fail", runtime_libraries_self_test)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
