#!/usr/bin/env python3
"""Strict schema validation of every Kubernetes object under deploy/.

Schemas come from a kubeconform-style folder (default ../shared/schemas
relative to the repository root, or $PLATCTL_SCHEMAS, or --schemas DIR):

  kubernetes/<version>-local-strict/{kind}-{group}-{version}.json   core kinds
  crds/{group}/{kind}_{version}.json                                custom resources

Core schemas are already strict. CRD schemas are made strict here: every
object schema that declares properties and neither additionalProperties nor
x-kubernetes-preserve-unknown-fields gets additionalProperties: false, and
metadata is validated against the (strict) Kubernetes ObjectMeta. An object
whose schema is missing is an error, never a pass.

Kustomize files are not cluster objects: their listed resources must exist,
and their configMapGenerator output is built and validated as ConfigMaps.

Usage:
  scripts/validate_k8s.py [--schemas DIR] [--k8s-version v1.34.0] [PATH ...]
  scripts/validate_k8s.py --self-test     prove the validator rejects bad objects

Exit codes: 0 all valid, 1 invalid objects, 2 usage or schema-folder error.
"""
import argparse
import copy
import json
import os
import pathlib
import sys

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_PATHS = [ROOT / "deploy"]

# Files under deploy/ that are data, not Kubernetes objects.
DATA_FILES = {"deploy/platform/rbac/teams.yaml", "deploy/secrets/mapping.yaml"}

# crd.projectcalico.org/v1 is the CRD storage group Calico reads when there is
# no Calico API server (LKE). Its spec is the projectcalico.org/v3 spec.
GROUP_ALIASES = {("crd.projectcalico.org", "v1"): ("projectcalico.org", "v3")}


class SchemaStore:
    def __init__(self, root: pathlib.Path, k8s_version: str):
        self.root = root
        self.core_dir = root / "kubernetes" / f"{k8s_version}-local-strict"
        self.crd_dir = root / "crds"
        if not self.core_dir.is_dir():
            raise FileNotFoundError(
                f"core schema folder {self.core_dir} not found; pass --schemas DIR or set PLATCTL_SCHEMAS"
            )
        defs_path = self.core_dir / "_definitions.json"
        defs = json.loads(defs_path.read_text())
        self.defs = defs
        self.registry = Registry().with_resource(
            defs.get("$id", "https://kubernetes.io/api/_definitions.json"),
            Resource.from_contents(defs, default_specification=DRAFT202012),
        )
        self.object_meta = {
            "$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        }
        self.cache = {}

    def locate(self, api_version: str, kind: str):
        if "/" in api_version:
            group, version = api_version.split("/", 1)
        else:
            group, version = "", api_version
        k = kind.lower()
        cgroup, cversion = GROUP_ALIASES.get((group, version), (group, version))
        crd_path = self.crd_dir / cgroup / f"{k}_{cversion}.json"
        if crd_path.exists() or (group and "." in group and not group.endswith(".k8s.io")):
            return "crd", crd_path
        short = group.split(".")[0]
        return "core", self.core_dir / (f"{k}-{version}.json" if not group else f"{k}-{short}-{version}.json")

    def validator(self, api_version: str, kind: str):
        key = (api_version, kind)
        if key in self.cache:
            return self.cache[key]
        flavour, path = self.locate(api_version, kind)
        if not path.exists():
            self.cache[key] = (None, path)
            return self.cache[key]
        schema = json.loads(path.read_text())
        if flavour == "crd":
            schema = strictify(copy.deepcopy(schema))
            schema.setdefault("properties", {})["metadata"] = self.object_meta
            # apiVersion/kind are checked by the lookup itself.
        v = Draft202012Validator(schema, registry=self.registry)
        self.cache[key] = (v, path)
        return self.cache[key]


def strictify(node):
    """additionalProperties: false on every closed object schema."""
    if isinstance(node, dict):
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for key, value in node.items():
            if key in ("properties", "patternProperties", "$defs", "definitions"):
                for sub in value.values():
                    strictify(sub)
            elif isinstance(value, (dict, list)):
                strictify(value)
    elif isinstance(node, list):
        for item in node:
            strictify(item)
    return node


def error_path(err):
    return "/".join(str(p) for p in err.absolute_path) or "(root)"


def validate_object(store, obj, where):
    """Return a list of error strings for one object."""
    if not isinstance(obj, dict):
        return [f"{where}: document is a {type(obj).__name__}, not a mapping"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{where}: missing apiVersion/kind; every document under deploy/ must be a Kubernetes object"]
    name = (obj.get("metadata") or {}).get("name", "?")
    label = f"{where} {kind}/{name}"
    validator, path = store.validator(api_version, kind)
    if validator is None:
        return [f"{label}: no schema for {api_version} {kind} (looked for {path}); add the schema or fix apiVersion/kind"]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{label}: {error_path(e)}: {e.message[:300]}" for e in errors]


def kustomize_objects(path: pathlib.Path, doc):
    """Check a Kustomization's references; yield the ConfigMaps it generates."""
    errors, objects = [], []
    base = path.parent
    for res in doc.get("resources", []) or []:
        if not (base / res).exists():
            errors.append(f"{path}: resource {res} does not exist")
    ns = doc.get("namespace")
    opts = doc.get("generatorOptions", {}) or {}
    for gen in doc.get("configMapGenerator", []) or []:
        data = {}
        for f in gen.get("files", []) or []:
            key, _, rel = f.partition("=") if "=" in f else (pathlib.Path(f).name, "", f)
            fp = base / (rel or f)
            if not fp.exists():
                errors.append(f"{path}: configMapGenerator {gen.get('name')}: file {fp} does not exist")
                continue
            text = fp.read_text()
            if fp.suffix == ".json":
                try:
                    json.loads(text)
                except json.JSONDecodeError as exc:
                    errors.append(f"{fp}: invalid JSON: {exc}")
            data[key] = text
        meta = {"name": gen.get("name"), "labels": opts.get("labels", {}), "annotations": opts.get("annotations", {})}
        if ns:
            meta["namespace"] = ns
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return errors, objects


def iter_yaml_files(paths):
    for p in paths:
        if p.is_file():
            yield p
        else:
            for f in sorted(p.rglob("*")):
                if f.suffix in (".yaml", ".yml") and f.is_file():
                    yield f


def validate_paths(store, paths):
    errors, count = [], 0
    for f in iter_yaml_files(paths):
        rel = f.relative_to(ROOT).as_posix() if f.is_relative_to(ROOT) else f.as_posix()
        if rel in DATA_FILES:
            continue
        try:
            docs = list(yaml.safe_load_all(f.read_text()))
        except yaml.YAMLError as exc:
            errors.append(f"{rel}: YAML error: {exc}")
            continue
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            where = f"{rel}#{i}"
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("kustomize.config.k8s.io/"):
                kerr, generated = kustomize_objects(f, doc)
                errors += kerr
                for obj in generated:
                    count += 1
                    errors += validate_object(store, obj, f"{where} (generated)")
                continue
            count += 1
            errors += validate_object(store, doc, where)
    return count, errors


SELF_TEST_BAD = [
    ("unknown field in a core kind", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {"bogus": True}}),
    ("wrong type in a core kind", {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x"}, "spec": {"podSelector": {}, "policyTypes": "Ingress"}}),
    ("unknown field in a CRD spec", {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"},
                                     "spec": {"project": "p", "destination": {}, "source": {"repoURL": "r", "path": "p", "bogus": 1}}}),
    ("unknown field in CRD metadata", {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "x", "labelz": {}},
                                       "spec": {"selfSigned": {}}}),
    ("unknown field in a Calico CRD-group policy", {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": {"name": "x"},
                                                    "spec": {"selector": "all()", "bogus": 1}}),
    ("missing schema", {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}),
    ("not a Kubernetes object", {"teams": []}),
]
SELF_TEST_GOOD = [
    ("valid NetworkPolicy", {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "y"},
                             "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
    ("valid Application", {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x", "namespace": "argocd"},
                           "spec": {"project": "p", "destination": {"server": "https://kubernetes.default.svc"},
                                    "source": {"repoURL": "r", "path": "p", "helm": {"valuesObject": {"anything": {"goes": 1}}}}}}),
    ("valid Calico policy", {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": {"name": "x"},
                             "spec": {"selector": "all()", "types": ["Ingress"]}}),
]


def self_test(store):
    failures = 0
    for name, obj in SELF_TEST_BAD:
        errs = validate_object(store, obj, "self-test")
        ok = bool(errs)
        failures += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} rejects {name}" + ("" if ok else " (accepted!)"))
    for name, obj in SELF_TEST_GOOD:
        errs = validate_object(store, obj, "self-test")
        ok = not errs
        failures += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} accepts {name}" + ("" if ok else f": {errs[0]}"))
    return failures


def main():
    ap = argparse.ArgumentParser(description="Strictly validate Kubernetes objects against JSON schemas.")
    ap.add_argument("paths", nargs="*", type=pathlib.Path, help="files or folders (default: deploy/)")
    ap.add_argument("--schemas", type=pathlib.Path,
                    default=pathlib.Path(os.environ.get("PLATCTL_SCHEMAS", ROOT.parent / "shared" / "schemas")),
                    help="schema folder (default: $PLATCTL_SCHEMAS or ../shared/schemas)")
    ap.add_argument("--k8s-version", default="v1.34.0", help="core schema version folder (default v1.34.0)")
    ap.add_argument("--self-test", action="store_true", help="check that the validator rejects bad objects")
    args = ap.parse_args()
    try:
        store = SchemaStore(args.schemas.resolve(), args.k8s_version)
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        print(f"validate_k8s: {exc}", file=sys.stderr)
        return 2
    if args.self_test:
        failures = self_test(store)
        print(f"validate_k8s self-test: {failures} failure(s)")
        return 1 if failures else 0
    paths = [p.resolve() for p in args.paths] or DEFAULT_PATHS
    count, errors = validate_paths(store, paths)
    for e in errors:
        print(f"  {e}")
    print(f"validate_k8s: {count} objects, {len(errors)} error(s) (schemas: {args.schemas})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
