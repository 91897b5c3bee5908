//! Argo CD rules (ARGO001-ARGO012) over Applications, ApplicationSet
//! templates, AppProjects, argocd-cm, argocd-rbac-cm and the teams file.

use std::collections::{BTreeMap, BTreeSet};

use crate::k8s::{Obj, Objects, sources};
use crate::observability::duration_hours;
use crate::walk::SourceFile;
use crate::yaml::{self, Node};
use crate::{Context, Family, Finding, RuleId, finding, is_production, is_staging};

pub const FAMILY: Family = Family {
    name: "argocd",
    rules: &[
        RuleId::Argo001,
        RuleId::Argo002,
        RuleId::Argo003,
        RuleId::Argo004,
        RuleId::Argo005,
        RuleId::Argo006,
        RuleId::Argo007,
        RuleId::Argo008,
        RuleId::Argo009,
        RuleId::Argo010,
        RuleId::Argo011,
        RuleId::Argo012,
    ],
    run: check,
};

/// Where Argo CD runs (Applications whose destination is this namespace are apps-of-apps).
pub const ARGOCD_NAMESPACE: &str = "argocd";
const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
const HEALTH_KEY: &str = "resource.customizations.health.argoproj.io_Application";
/// The single list of teams and their rights that argocd-rbac-cm is derived from.
pub const TEAMS_FILE: &str = "deploy/platform/rbac/teams.yaml";

/// Team rights -> (resource, action) granted on `<project>/*`.
pub const RIGHTS: &[(&str, &[(&str, &str)])] = &[
    ("get", &[("applications", "get")]),
    ("sync", &[("applications", "sync")]),
    ("action", &[("applications", "action/*")]),
    ("override", &[("applications", "override")]),
    ("delete", &[("applications", "delete")]),
    ("logs", &[("logs", "get")]),
];

/// One Application (or an ApplicationSet's template) and what the rules need of it.
struct App<'a> {
    obj: &'a Obj<'a>,
    node: &'a Node,
    name: &'a str,
    spec: &'a Node,
    project: Option<&'a str>,
    dest_ns: &'a str,
    /// Its destination is Argo CD's namespace: it only creates Applications.
    app_of_apps: bool,
}

impl<'a> App<'a> {
    fn new(obj: &'a Obj<'a>, node: &'a Node) -> Self {
        let spec = node.field("spec");
        let dest_ns = spec.at(&["destination", "namespace"]).and_then(Node::as_str).unwrap_or("");
        App {
            obj,
            node,
            name: node.at(&["metadata", "name"]).and_then(Node::as_str).unwrap_or(obj.name()),
            spec,
            project: spec.field("project").as_str(),
            dest_ns,
            app_of_apps: dest_ns == ARGOCD_NAMESPACE,
        }
    }

    fn file(&self) -> &'a str {
        &self.obj.file.rel
    }

    fn what(&self) -> String {
        format!("{} {}", self.obj.kind, self.name)
    }

    /// Whether the Application deploys into environment `env` (judged by `is_env`).
    /// An app-of-apps is judged through the Applications it creates.
    fn in_env(&self, is_env: fn(&str) -> bool) -> bool {
        is_env(self.dest_ns)
            || self.project.is_some_and(is_env)
            || (!self.app_of_apps && (is_env(self.name) || is_env(self.file())))
    }

    /// The line of `spec.<key>`, else of `spec` (where the missing key belongs).
    fn spec_line(&self, key: &str) -> usize {
        if self.spec.get(key).is_some() {
            self.spec.key_line(key)
        } else {
            self.node.key_line("spec")
        }
    }

    fn automated(&self) -> Option<&'a crate::yaml::Entry> {
        self.spec.get("syncPolicy").and_then(|s| s.entry("automated"))
    }
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let objs = &ctx.k8s;
    let apps: Vec<App<'_>> = objs.applications().map(|(o, n)| App::new(o, n)).collect();
    let projects: BTreeMap<&str, &Obj<'_>> =
        objs.of("argoproj.io", "AppProject").map(|p| (p.name(), p)).collect();
    let own = own_repos(ctx, &apps);
    let mut out = Vec::new();
    for app in &apps {
        wave(app, &mut out);
        project(app, &mut out);
        approval(app, &projects, &mut out);
        pinned_sources(app, &own, &mut out);
        paths_exist(ctx, app, &own, &mut out);
        admitted(app, &projects, &mut out);
        staging_automated(app, &mut out);
    }
    for p in projects.values() {
        production_window(p, &mut out);
        explicit_project(p, &mut out);
    }
    let argocd_cm = config_map(objs, "argocd-cm");
    health(&apps, argocd_cm, &mut out);
    if let Some(cm) = argocd_cm {
        dex_secrets(cm, &mut out);
    }
    rbac(ctx, &projects, argocd_cm, &mut out);
    out
}

fn config_map<'s, 'a>(objs: &'s Objects<'a>, name: &str) -> Option<&'s Obj<'a>> {
    objs.of("", "ConfigMap")
        .find(|o| o.name() == name && objs.namespace_of(o).is_none_or(|ns| ns == ARGOCD_NAMESPACE))
}

/// ARGO001: an integer sync wave.
fn wave(app: &App<'_>, out: &mut Vec<Finding>) {
    let meta_line = app.node.get("metadata").map_or(app.obj.line(), |m| m.line);
    match app.node.at(&["metadata", "annotations", SYNC_WAVE]) {
        None => {
            let l = if std::ptr::eq(app.node, app.obj.node) {
                app.node.key_line("metadata")
            } else {
                meta_line
            };
            out.push(finding(
                RuleId::Argo001,
                app.file(),
                l,
                format!("{} has no {SYNC_WAVE} annotation", app.what()),
            ));
        }
        Some(w) => {
            let text = w.scalar_text().unwrap_or_default();
            if text.trim().parse::<i64>().is_err() {
                out.push(finding(
                    RuleId::Argo001,
                    app.file(),
                    w.line,
                    format!("{} sync wave {text:?} is not an integer", app.what()),
                ));
            }
        }
    }
}

/// ARGO002: not the default project.
fn project(app: &App<'_>, out: &mut Vec<Finding>) {
    if matches!(app.project, None | Some("default") | Some("")) {
        let l = app.spec_line("project");
        out.push(finding(
            RuleId::Argo002,
            app.file(),
            l,
            format!("{} uses the default project", app.what()),
        ));
    }
}

/// ARGO003: production needs approval (no automated sync, unless sync windows gate it).
fn approval(app: &App<'_>, projects: &BTreeMap<&str, &Obj<'_>>, out: &mut Vec<Finding>) {
    if !app.in_env(is_production) {
        return;
    }
    let Some(auto) = app.automated() else { return };
    let windows = app
        .project
        .and_then(|p| projects.get(p))
        .is_some_and(|p| !p.spec().field("syncWindows").seq().is_empty());
    if !windows {
        out.push(finding(
            RuleId::Argo003,
            app.file(),
            auto.key_line,
            format!("production {} syncs automatically and its project has no syncWindows: changes skip approval", app.what()),
        ));
    }
}

/// Whether a cron schedule fires every day (minute and hour fixed, the rest `*`).
fn daily(cron: &str) -> bool {
    let f: Vec<&str> = cron.split_whitespace().collect();
    f.len() == 5
        && f[0].parse::<u8>().is_ok()
        && f[1].parse::<u8>().is_ok()
        && f[2..].iter().all(|x| *x == "*")
}

/// ARGO004: a production project denies automated syncs at all times, manual sync allowed.
fn production_window(p: &Obj<'_>, out: &mut Vec<Finding>) {
    if !is_production(p.name()) {
        return;
    }
    let windows = p.spec().field("syncWindows").seq();
    let always_denied = windows.iter().any(|w| {
        let all = |key: &str| w.field(key).seq().iter().any(|x| x.as_str() == Some("*"));
        w.field("kind").as_str() == Some("deny")
            && w.field("manualSync").as_bool() == Some(true)
            && w.field("schedule").as_str().is_some_and(daily)
            && w.field("duration").as_str().and_then(duration_hours).is_some_and(|h| h >= 24.0)
            && (all("applications") || all("namespaces") || all("clusters"))
    });
    if !always_denied {
        let l = if p.spec().get("syncWindows").is_some() {
            p.spec().key_line("syncWindows")
        } else {
            p.name_line()
        };
        out.push(finding(
            RuleId::Argo004,
            &p.file.rel,
            l,
            format!("production AppProject {} has no deny sync window covering every application around the clock (daily schedule, duration 24h, manualSync: true)", p.name()),
        ));
    }
}

/// The repository URLs of this repository: Git sources whose path exists here.
fn own_repos<'a>(ctx: &Context<'_>, apps: &[App<'a>]) -> BTreeSet<&'a str> {
    apps.iter()
        .flat_map(|a| sources(a.node))
        .filter(|s| s.get("chart").is_none())
        .filter_map(|s| {
            let path = s.field("path").as_str()?;
            let url = s.field("repoURL").as_str()?;
            ctx.repo.root.join(path).is_dir().then_some(url)
        })
        .collect()
}

fn is_release(rev: &str) -> bool {
    let core = rev.strip_prefix('v').unwrap_or(rev);
    let (version, pre) = core.split_once('-').map_or((core, None), |(v, p)| (v, Some(p)));
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && pre.is_none_or(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        })
}

fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit())
}

/// ARGO005: charts pinned to a version, external Git to a tag or commit.
fn pinned_sources(app: &App<'_>, own: &BTreeSet<&str>, out: &mut Vec<Finding>) {
    for s in sources(app.node) {
        let rev = s.field("targetRevision").scalar_text().unwrap_or_default();
        let l =
            if s.get("targetRevision").is_some() { s.key_line("targetRevision") } else { s.line };
        if let Some(chart) = s.field("chart").as_str() {
            if !is_release(&rev) {
                out.push(finding(
                    RuleId::Argo005,
                    app.file(),
                    l,
                    format!(
                        "{} chart {chart} is not pinned to an exact version ({rev:?})",
                        app.what()
                    ),
                ));
            }
            continue;
        }
        let url = s.field("repoURL").as_str().unwrap_or("");
        if !own.contains(url) && !is_release(&rev) && !is_commit(&rev) {
            out.push(finding(
                RuleId::Argo005,
                app.file(),
                l,
                format!("{} Git source {url} is outside this repository and not pinned to a release tag ({rev:?})", app.what()),
            ));
        }
    }
}

/// ARGO006: paths into this repository exist.
fn paths_exist(ctx: &Context<'_>, app: &App<'_>, own: &BTreeSet<&str>, out: &mut Vec<Finding>) {
    for s in sources(app.node).filter(|s| s.get("chart").is_none()) {
        let (Some(url), Some(path)) = (s.field("repoURL").as_str(), s.field("path").as_str())
        else {
            continue;
        };
        if own.contains(url) && !ctx.repo.root.join(path).is_dir() {
            out.push(finding(
                RuleId::Argo006,
                app.file(),
                s.key_line("path"),
                format!("{} syncs {path}, which does not exist in this repository", app.what()),
            ));
        }
    }
}

/// ARGO007: explicit destinations and source repositories.
fn explicit_project(p: &Obj<'_>, out: &mut Vec<Finding>) {
    let spec = p.spec();
    let f = &p.file.rel;
    let dests = spec.field("destinations").seq();
    if dests.is_empty() {
        out.push(finding(
            RuleId::Argo007,
            f,
            p.name_line(),
            format!("AppProject {} lists no destinations", p.name()),
        ));
    }
    for d in dests {
        for key in ["namespace", "server", "name"] {
            if d.field(key).as_str() == Some("*") {
                out.push(finding(
                    RuleId::Argo007,
                    f,
                    d.key_line(key),
                    format!("AppProject {} admits any {key} (`*`)", p.name()),
                ));
            }
        }
    }
    let repos = spec.field("sourceRepos").seq();
    if repos.is_empty() {
        out.push(finding(
            RuleId::Argo007,
            f,
            p.name_line(),
            format!("AppProject {} lists no sourceRepos", p.name()),
        ));
    }
    for r in repos.iter().filter(|r| r.as_str() == Some("*")) {
        out.push(finding(
            RuleId::Argo007,
            f,
            r.line,
            format!("AppProject {} admits any source repository (`*`)", p.name()),
        ));
    }
}

/// Argo CD's glob match for project fields: `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else { return pattern == text };
    let Some(mut remaining) = text.strip_prefix(first) else { return false };
    let mut pieces: Vec<&str> = rest.split('*').collect();
    let last = pieces.pop().unwrap_or("");
    for piece in pieces {
        match remaining.find(piece) {
            Some(i) => remaining = &remaining[i + piece.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

/// ARGO011: the project admits the repository and the destination.
fn admitted(app: &App<'_>, projects: &BTreeMap<&str, &Obj<'_>>, out: &mut Vec<Finding>) {
    let Some(pname) = app.project.filter(|p| *p != "default" && !p.is_empty()) else { return };
    if projects.is_empty() || pname.contains("{{") {
        return; // projects are managed elsewhere, or an ApplicationSet template
    }
    let Some(p) = projects.get(pname) else {
        out.push(finding(
            RuleId::Argo011,
            app.file(),
            app.spec.key_line("project"),
            format!("{} uses project {pname}, which this tree does not define", app.what()),
        ));
        return;
    };
    let pspec = p.spec();
    let repos: Vec<&str> =
        pspec.field("sourceRepos").seq().iter().filter_map(Node::as_str).collect();
    for s in sources(app.node) {
        let url = s.field("repoURL").as_str().unwrap_or("");
        if !repos.iter().any(|r| glob(r, url)) {
            out.push(finding(
                RuleId::Argo011,
                app.file(),
                s.key_line("repoURL"),
                format!("{} source {url} is not in the sourceRepos of project {pname}", app.what()),
            ));
        }
    }
    let dest = app.spec.field("destination");
    let server = dest.field("server").as_str();
    let cluster_name = dest.field("name").as_str();
    let ok = pspec.field("destinations").seq().iter().any(|d| {
        let ns_ok = d.field("namespace").as_str().is_none_or(|n| glob(n, app.dest_ns));
        let server_ok = match (d.field("server").as_str(), d.field("name").as_str()) {
            (Some(s), _) if server.is_some() => server.is_some_and(|x| glob(s, x)),
            (_, Some(n)) if cluster_name.is_some() => cluster_name.is_some_and(|x| glob(n, x)),
            (None, None) => true,
            _ => false,
        };
        ns_ok && server_ok
    });
    if !ok {
        let l = app.spec_line("destination");
        out.push(finding(
            RuleId::Argo011,
            app.file(),
            l,
            format!(
                "{} deploys to namespace {:?}, which project {pname} does not admit (spec.destinations)",
                app.what(),
                app.dest_ns
            ),
        ));
    }
}

/// ARGO012: staging syncs automatically.
fn staging_automated(app: &App<'_>, out: &mut Vec<Finding>) {
    if app.in_env(is_staging) && !app.in_env(is_production) && app.automated().is_none() {
        let l = app.spec_line("syncPolicy");
        out.push(finding(
            RuleId::Argo012,
            app.file(),
            l,
            format!("staging {} does not sync automatically (syncPolicy.automated)", app.what()),
        ));
    }
}

/// ARGO008: an app-of-apps needs Application health restored in argocd-cm.
fn health(apps: &[App<'_>], argocd_cm: Option<&Obj<'_>>, out: &mut Vec<Finding>) {
    let Some(parent) = apps.iter().find(|a| a.app_of_apps) else { return };
    match argocd_cm {
        Some(cm) if cm.node.at(&["data", HEALTH_KEY]).is_some() => {}
        Some(cm) => {
            let l = cm.node.get("data").map_or(cm.name_line(), |_| cm.node.key_line("data"));
            out.push(finding(
                RuleId::Argo008,
                &cm.file.rel,
                l,
                format!("argocd-cm lacks {HEALTH_KEY}: sync waves of {} would not wait for its children to be healthy", parent.what()),
            ));
        }
        None => out.push(finding(
            RuleId::Argo008,
            parent.file(),
            parent.obj.name_line(),
            format!("{} is an app-of-apps, but no argocd-cm in this tree restores Application health ({HEALTH_KEY})", parent.what()),
        )),
    }
}

/// The parsed `dex.config` of argocd-cm with the line its text starts after.
fn dex_config(cm: &Obj<'_>) -> Option<(Node, usize)> {
    let data = cm.node.get("data")?;
    let text = data.get("dex.config")?.as_str()?;
    let doc = yaml::parse_documents(text).ok()?.into_iter().next()?;
    Some((doc, data.key_line("dex.config")))
}

/// ARGO009: Dex client secrets are references.
fn dex_secrets(cm: &Obj<'_>, out: &mut Vec<Finding>) {
    let Some((dex, offset)) = dex_config(cm) else { return };
    for c in dex.field("connectors").seq() {
        let Some(secret) = c.at(&["config", "clientSecret"]) else { continue };
        let text = secret.scalar_text().unwrap_or_default();
        if !text.starts_with('$') {
            let id = c.field("id").scalar_text().unwrap_or_default();
            out.push(finding(
                RuleId::Argo009,
                &cm.file.rel,
                offset + secret.line,
                format!("Dex connector {id} has a literal clientSecret in argocd-cm"),
            ));
        }
    }
}

/// A validated teams file: the GitHub organisation and its teams.
struct Team<'a> {
    name: &'a str,
    admin: bool,
    grants: Vec<(&'a str, Vec<&'a str>)>,
}

/// Read the teams file; a problem is a finding at its line.
fn teams<'a>(
    file: &'a SourceFile,
    projects: &BTreeMap<&str, &Obj<'_>>,
    out: &mut Vec<Finding>,
) -> Option<(&'a str, Vec<Team<'a>>)> {
    let f = &file.rel;
    let mut bad = |line: usize, msg: String| {
        out.push(finding(RuleId::Argo010, f, line, msg));
    };
    let Some(doc) = file.docs.first() else {
        bad(0, "the teams file is empty".into());
        return None;
    };
    let slug = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
    };
    let org = match doc.field("org").as_str() {
        Some(o) if slug(&o.to_lowercase()) => o,
        _ => {
            bad(doc.key_line("org"), "`org` must be the GitHub organisation slug".into());
            return None;
        }
    };
    let list = doc.field("teams").seq();
    if list.is_empty() {
        bad(doc.key_line("teams"), "`teams` must be a non-empty list".into());
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut teams = Vec::new();
    let mut ok = true;
    for t in list {
        let Some(name) = t.field("name").as_str() else {
            bad(t.line, "every team needs a `name`".into());
            ok = false;
            continue;
        };
        if !slug(name) {
            bad(
                t.key_line("name"),
                format!("team {name:?} is not a team slug (lowercase, digits, dashes)"),
            );
            ok = false;
        }
        if !seen.insert(name) {
            bad(t.key_line("name"), format!("team {name} is listed twice; merge its grants"));
            ok = false;
        }
        for e in
            t.entries().iter().filter(|e| !matches!(e.key.as_str(), "name" | "admin" | "grants"))
        {
            bad(e.key_line, format!("team {name}: unknown key {:?} (use admin or grants)", e.key));
            ok = false;
        }
        let admin = t.field("admin").as_bool() == Some(true);
        let grants_node = t.field("grants").seq();
        let has_grants = !grants_node.is_empty();
        if admin == has_grants {
            bad(
                t.key_line("name"),
                format!(
                    "team {name}: give either `admin: true` or a list of `grants`, not both or neither"
                ),
            );
            ok = false;
        }
        let mut grants = Vec::new();
        for g in grants_node {
            let project = g.field("project").as_str().unwrap_or("");
            if !projects.is_empty() && !projects.contains_key(project) {
                bad(
                    g.line,
                    format!(
                        "team {name}: unknown project {project:?} (not an AppProject in this tree)"
                    ),
                );
                ok = false;
            }
            let rights: Vec<&str> =
                g.field("rights").seq().iter().filter_map(Node::as_str).collect();
            let unknown: Vec<&str> =
                rights.iter().copied().filter(|r| !RIGHTS.iter().any(|(n, _)| n == r)).collect();
            if rights.is_empty() || !unknown.is_empty() {
                let allowed: Vec<&str> = RIGHTS.iter().map(|(n, _)| *n).collect();
                bad(
                    g.key_line("rights"),
                    format!(
                        "team {name}: unknown or no rights {unknown:?}; allowed: {}",
                        allowed.join(", ")
                    ),
                );
                ok = false;
            }
            grants.push((project, rights));
        }
        teams.push(Team { name, admin, grants });
    }
    ok.then_some((org, teams))
}

/// The policy.csv lines a teams file means, each with why.
fn policy_lines(org: &str, teams: &[Team<'_>]) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for t in teams {
        let group = format!("{org}:{}", t.name);
        if t.admin {
            lines.push((format!("g, {group}, role:admin"), format!("team {} is admin", t.name)));
            continue;
        }
        let role = format!("role:{}", t.name);
        for (project, rights) in &t.grants {
            lines.push((
                format!("p, {role}, projects, get, {project}, allow"),
                format!("team {} has grants on {project}", t.name),
            ));
            for right in rights {
                for (_, pairs) in RIGHTS.iter().filter(|(n, _)| n == right) {
                    for (resource, action) in *pairs {
                        lines.push((
                            format!("p, {role}, {resource}, {action}, {project}/*, allow"),
                            format!("team {} has {right} on {project}", t.name),
                        ));
                    }
                }
            }
        }
        lines.push((format!("g, {group}, {role}"), format!("team {} is a GitHub team", t.name)));
    }
    lines
}

fn normalize_csv(line: &str) -> String {
    line.split(',').map(str::trim).collect::<Vec<_>>().join(", ")
}

/// ARGO010: argocd-rbac-cm agrees with the teams file; teams need the GitHub connector.
fn rbac(
    ctx: &Context<'_>,
    projects: &BTreeMap<&str, &Obj<'_>>,
    argocd_cm: Option<&Obj<'_>>,
    out: &mut Vec<Finding>,
) {
    let Some(file) = ctx.repo.file(TEAMS_FILE) else { return };
    let Some((org, teams)) = teams(file, projects, out) else { return };
    let want = policy_lines(org, &teams);
    let Some(cm) = config_map(&ctx.k8s, "argocd-rbac-cm") else {
        out.push(finding(
            RuleId::Argo010,
            &file.rel,
            0,
            "no argocd-rbac-cm ConfigMap in this tree carries the teams' policy",
        ));
        return;
    };
    let data = cm.node.field("data");
    let f = &cm.file.rel;
    let csv_line = data.key_line("policy.csv");
    let csv = data.field("policy.csv").as_str().unwrap_or("");
    let have: Vec<(usize, String)> = csv
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| (csv_line + 1 + i, normalize_csv(l)))
        .collect();
    let have_set: BTreeSet<&str> = have.iter().map(|(_, l)| l.as_str()).collect();
    let want_set: BTreeSet<&str> = want.iter().map(|(l, _)| l.as_str()).collect();
    for (line, why) in &want {
        if !have_set.contains(line.as_str()) {
            out.push(finding(
                RuleId::Argo010,
                f,
                csv_line,
                format!("policy.csv lacks `{line}` ({why} in {TEAMS_FILE})"),
            ));
        }
    }
    for (n, line) in &have {
        if !want_set.contains(line.as_str()) {
            out.push(finding(
                RuleId::Argo010,
                f,
                *n,
                format!("policy.csv has `{line}`, which {TEAMS_FILE} does not grant"),
            ));
        }
    }
    for (key, expected) in [("policy.default", ""), ("scopes", "[groups]")] {
        let value = data.field(key).scalar_text();
        if value.as_deref() != Some(expected) {
            out.push(finding(
                RuleId::Argo010,
                f,
                if data.get(key).is_some() { data.key_line(key) } else { cm.name_line() },
                format!("argocd-rbac-cm {key} must be {expected:?} (teams are the only grants), found {value:?}"),
            ));
        }
    }
    if let Some(cm) = argocd_cm {
        let github = dex_config(cm).is_some_and(|(dex, _)| {
            dex.field("connectors").seq().iter().any(|c| c.field("type").as_str() == Some("github"))
        });
        if !github {
            out.push(finding(
                RuleId::Argo010,
                &cm.file.rel,
                cm.name_line(),
                format!("the teams in {TEAMS_FILE} are GitHub teams, but argocd-cm has no Dex github connector"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_versions() {
        assert!(glob("*", "anything"));
        assert!(glob("https://github.com/org/*", "https://github.com/org/repo.git"));
        assert!(!glob("https://github.com/org/*", "https://github.com/other/repo.git"));
        assert!(glob("apps-*-ns", "apps-x-ns"));
        assert!(!glob("staging", "production"));
        assert!(is_release("1.2.3") && is_release("v1.2.3") && is_release("1.0.0-rc.1"));
        assert!(!is_release("1.2") && !is_release("6.*") && !is_release("main") && !is_release(""));
        assert!(daily("0 0 * * *") && !daily("0 0 * * 1-5"));
    }
}
