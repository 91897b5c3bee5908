#!/usr/bin/env python3
"""Rules for .github/workflows.

  W001  every workflow has an explicit top-level permissions block, never write-all
  W002  every third-party action is pinned to a 40-hex commit SHA with a "# vX.Y.Z" comment
  W003  production applies run in a job with environment: production; staging applies automatically
  W004  a drift workflow runs hourly ("0 * * * *") and calls `platctl drift --all --output markdown`
  W005  every job that runs terraform plan/apply has a per-environment concurrency group
  W006  secrets are never echoed: no echo/printf of ${{ secrets.* }} and no `set -x`
  W007  the pull-request workflow builds and tests (.ci/run), runs terraform fmt -check,
        plans changed environments with a step summary, lints and renders charts,
        and runs scripts/check-iac

Usage: scripts/check_workflows.py [--dir .github/workflows] [--self-test]
Exit codes: 0 no findings, 1 findings.
"""
import argparse
import pathlib
import re
import shutil
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
USES = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\b")


def load(d: pathlib.Path):
    wfs = {}
    for f in sorted(list(d.glob("*.yml")) + list(d.glob("*.yaml"))):
        text = f.read_text()
        doc = yaml.safe_load(text) or {}
        if True in doc and "on" not in doc:  # YAML 1.1 reads the key "on" as true
            doc["on"] = doc.pop(True)
        wfs[f.name] = (text, doc)
    return wfs


def steps_text(job):
    return "\n".join(str(s.get("run", "")) for s in job.get("steps") or [])


def check(d: pathlib.Path):
    out = []
    wfs = load(d)
    if not wfs:
        return [("W000", str(d), "no workflows found")]
    for name, (text, doc) in wfs.items():
        perms = doc.get("permissions")
        if perms is None or perms == "write-all" or (isinstance(perms, dict) and "write-all" in perms.values()):
            out.append(("W001", name, "needs an explicit, least-privilege top-level permissions block"))
        for job_id, job in (doc.get("jobs") or {}).items():
            if job.get("permissions") == "write-all":
                out.append(("W001", f"{name}:{job_id}", "job permissions must not be write-all"))
        for i, line in enumerate(text.splitlines(), 1):
            m = USES.match(line)
            if not m:
                continue
            ref, rest = m.group(1).strip("'\""), m.group(2)
            if ref.startswith("./") or ref.startswith("docker://"):
                continue
            if not PINNED.match(ref) or not VERSION_COMMENT.search(rest):
                out.append(("W002", f"{name}:{i}", f"{ref} must be pinned to a full commit SHA with a '# vX.Y.Z' comment"))
            if re.search(r"\$\{\{\s*secrets\.", line):
                pass
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"\b(echo|printf)\b[^\n]*\$\{\{\s*secrets\.", line) or re.search(r"^\s*set -[a-z]*x", line):
                out.append(("W006", f"{name}:{i}", "prints a secret or enables shell tracing; pass secrets through env: only"))
        for job_id, job in (doc.get("jobs") or {}).items():
            runs = steps_text(job)
            if re.search(r"--\s+(plan|apply)\b", runs):
                group = str((job.get("concurrency") or {}).get("group", "") if isinstance(job.get("concurrency"), dict) else job.get("concurrency") or "")
                if "terraform" not in group or not ("matrix.env" in group or re.search(r"(staging|production|global)", group)):
                    out.append(("W005", f"{name}:{job_id}", "terraform jobs need a concurrency group per environment (terraform-<env>)"))
            if re.search(r"--env\s+\"?\$\{\{\s*matrix\.env\s*\}\}\"?\s+--\s+apply|--env\s+production\s+--\s+apply", runs):
                envs = (job.get("strategy") or {}).get("matrix", {}).get("env", [])
                if ("production" in envs or "--env production" in runs) and job.get("environment") != "production":
                    out.append(("W003", f"{name}:{job_id}", "production apply must run in a job with environment: production"))
    # W003: staging applies automatically in main
    main = [doc for _, (t, doc) in wfs.items() if "push" in (doc.get("on") or {})]
    if not any("--env staging -- apply" in steps_text(j) and j.get("environment") != "production"
               for doc in main for j in (doc.get("jobs") or {}).values()):
        out.append(("W003", str(d), "no push workflow applies staging automatically"))
    if not any(j.get("environment") == "production" and re.search(r"--\s+apply", steps_text(j))
               for doc in main for j in (doc.get("jobs") or {}).values()):
        out.append(("W003", str(d), "no push workflow applies production in an environment: production job"))
    # W004
    drift = [
        doc for _, (t, doc) in wfs.items()
        if any(s.get("cron") == "0 * * * *" for s in ((doc.get("on") or {}).get("schedule") or []))
    ]
    if not drift or not any("platctl drift --all --output markdown" in steps_text(j)
                            for doc in drift for j in (doc.get("jobs") or {}).values()):
        out.append(("W004", str(d), "no hourly ('0 * * * *') workflow runs `platctl drift --all --output markdown`"))
    # W007
    pr = [(n, t, doc) for n, (t, doc) in wfs.items() if "pull_request" in (doc.get("on") or {})]
    if not pr:
        out.append(("W007", str(d), "no pull_request workflow"))
    else:
        alltext = "\n".join(steps_text(j) for _, _, doc in pr for j in (doc.get("jobs") or {}).values())
        for needle, what in (("bash .ci/run", "build and test via .ci/run"),
                             ("terraform fmt -check", "terraform fmt -check"),
                             ("-- plan", "platctl tf --env X -- plan"),
                             ("GITHUB_STEP_SUMMARY", "a plan summary in the job summary"),
                             ("helm lint", "helm lint"), ("helm template", "helm template"),
                             ("scripts/check-iac", "the repository's policy and schema checks")):
            if needle not in alltext:
                out.append(("W007", pr[0][0], f"pull-request workflow lacks {what}"))
    return out


def self_test(d: pathlib.Path):
    mutations = {
        "W001": ("drift.yml", "permissions:\n  contents: read\n  issues: write\n", ""),
        "W002": ("pull-request.yml", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4"),
        "W003": ("main.yml", "    environment: production\n", "    environment: prod-ish\n"),
        "W004": ("drift.yml", '"0 * * * *"', '"0 */6 * * *"'),
        "W005": ("main.yml", "      group: terraform-staging\n", "      group: deploy\n"),
        "W006": ("drift.yml", "          set +e\n", "          set +e\n          echo ${{ secrets.LINODE_TOKEN_READONLY }}\n"),
        "W007": ("pull-request.yml", "run: bash scripts/check-iac", "run: echo skipped"),
    }
    failures = 0
    for rule, (fname, old, new) in mutations.items():
        with tempfile.TemporaryDirectory(prefix="check-wf-") as tmp:
            copy = pathlib.Path(tmp) / "workflows"
            shutil.copytree(d, copy)
            text = (copy / fname).read_text()
            if old not in text:
                print(f"  FAIL {rule}: anchor not found in {fname}")
                failures += 1
                continue
            (copy / fname).write_text(text.replace(old, new, 1))
            fired = rule in {r for r, _, _ in check(copy)}
            failures += not fired
            print(f"  {'ok  ' if fired else 'FAIL'} {rule} fires on a broken {fname}")
    return failures


def main():
    ap = argparse.ArgumentParser(description="Rules for GitHub workflows.")
    ap.add_argument("--dir", type=pathlib.Path, default=ROOT / ".github/workflows")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        failures = self_test(args.dir)
        print(f"check_workflows self-test: {failures} failure(s)")
        return 1 if failures else 0
    findings = check(args.dir)
    for rule, where, msg in findings:
        print(f"  {rule} {where}: {msg}")
    print(f"check_workflows: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
