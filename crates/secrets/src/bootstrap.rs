//! `platctl secrets bootstrap`: day 0 of the secret store.
//!
//! `infra/openbao/sources.yaml` says, for every OpenBao field the tree
//! reads (the sync mapping's sources and every `SecretProviderClass` object
//! under `deploy/`), where its value comes from:
//!
//! - `generate: {bytes: N}`: N random bytes, base64url without padding;
//! - `literal: TEXT`: a fixed, non-secret value (a user name);
//! - `terraform: {root: R, output: O}`: a Terraform output, read from
//!   `terraform output -json` of root R (`--terraform-outputs R=FILE`);
//! - `person: {what: ..., where: ...}`: a value only a person can supply;
//! - `htpasswd: {user: F, password: F}`: the htpasswd line `<user>:<bcrypt>`
//!   of two other fields of the same path (nginx's `auth_basic_user_file`),
//!   written once both exist.
//!
//! Bootstrap writes the fields that are missing and can be produced (never
//! overwriting one that exists, with check-and-set), creates each key-owning
//! environment's first sealing key, and names every value a person still
//! has to supply with the exact command. It never prints a value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bao::{BaoClient, BaoError};
use crate::keys::{self, KeyOptions, KeyReport};
use crate::openbao::Sensitive;
use crate::sync::Mapping;
use crate::{Result, SecretsError};

/// Where one field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    Generate {
        bytes: usize,
    },
    Literal(String),
    Terraform {
        root: String,
        output: String,
    },
    Person {
        what: String,
        #[serde(rename = "where")]
        where_: String,
    },
    /// Derived: `<value of user>:<bcrypt of the value of password>`, two fields of the same path.
    Htpasswd {
        user: String,
        password: String,
    },
}

/// `infra/openbao/sources.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// The KV v2 mount every path is under.
    pub mount: String,
    /// Path -> field -> source.
    pub secrets: BTreeMap<String, BTreeMap<String, Source>>,
}

impl Sources {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::io_err(path))?;
        let bad = |detail: String| SecretsError::Sources { path: path.to_owned(), detail };
        let s: Sources = serde_saphyr::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for (p, fields) in &s.secrets {
            if p.trim_matches('/').is_empty() || p.starts_with(keys::KV_FOLDER) {
                return Err(bad(format!(
                    "path {p:?}: must be set, and {}/ belongs to `platctl secrets key`",
                    keys::KV_FOLDER
                )));
            }
            for (f, src) in fields {
                if let Source::Generate { bytes } = src
                    && !(16..=512).contains(bytes)
                {
                    return Err(bad(format!(
                        "{p}#{f}: generate between 16 and 512 bytes, not {bytes}"
                    )));
                }
                if let Source::Htpasswd { user, password } = src {
                    for from in [user, password] {
                        match fields.get(from) {
                            None | Some(Source::Htpasswd { .. }) => {
                                return Err(bad(format!(
                                    "{p}#{f}: htpasswd reads field {from:?}, which must be another (non-htpasswd) field of {p}"
                                )));
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        Ok(s)
    }
}

/// One OpenBao field something in the tree reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Reference {
    pub mount: String,
    pub path: String,
    pub field: String,
    /// Who reads it: `mapping <env> <ns>/<name>` or `<file> (SecretProviderClass <ns>/<name>)`.
    pub by: String,
}

/// Every field the mapping and the `SecretProviderClass`es under `tree` read.
/// The sealing keys' class is left out: its paths belong to `platctl secrets key`.
pub fn references(mapping: &Mapping, tree: &Path) -> Result<Vec<Reference>> {
    let mut out = Vec::new();
    for (env, em) in &mapping.environments {
        for s in &em.secrets {
            for src in s.keys.values() {
                out.push(Reference {
                    mount: src.mount.trim_matches('/').to_owned(),
                    path: src.path.trim_matches('/').to_owned(),
                    field: src.field.clone(),
                    by: format!("mapping {env} {}/{}", s.namespace, s.name),
                });
            }
        }
    }
    let mut files = Vec::new();
    yaml_files(tree, &mut files)?;
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(crate::io_err(&file))?;
        if !text.contains("SecretProviderClass") {
            continue;
        }
        for doc in split_documents(&text) {
            let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(doc) else { continue };
            if v.get("kind").and_then(|k| k.as_str()) != Some("SecretProviderClass") {
                continue;
            }
            let ns = v.pointer("/metadata/namespace").and_then(|x| x.as_str()).unwrap_or("");
            let name = v.pointer("/metadata/name").and_then(|x| x.as_str()).unwrap_or("");
            let objects =
                v.pointer("/spec/parameters/objects").and_then(|x| x.as_str()).unwrap_or("");
            let parsed: Vec<serde_json::Value> =
                serde_saphyr::from_str(objects).map_err(|e| SecretsError::Sources {
                    path: file.clone(),
                    detail: format!(
                        "SecretProviderClass {ns}/{name}: `objects` is not a YAML list: {e}"
                    ),
                })?;
            for o in parsed {
                let path = o.get("secretPath").and_then(|x| x.as_str()).unwrap_or("");
                let field = o.get("secretKey").and_then(|x| x.as_str()).unwrap_or("");
                // KV v2 through the API: <mount>/data/<path>.
                let Some((mount, rest)) = path.trim_matches('/').split_once("/data/") else {
                    return Err(SecretsError::Sources {
                        path: file.clone(),
                        detail: format!(
                            "SecretProviderClass {ns}/{name}: secretPath {path:?} is not a KV v2 path (<mount>/data/<path>)"
                        ),
                    });
                };
                if rest.starts_with(&format!("{}/", keys::KV_FOLDER)) {
                    continue;
                }
                out.push(Reference {
                    mount: mount.to_owned(),
                    path: rest.to_owned(),
                    field: field.to_owned(),
                    by: format!("{} (SecretProviderClass {ns}/{name})", file.display()),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(crate::io_err(dir))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs
}

/// Terraform outputs of one root, from `terraform output -json`. Values are
/// kept as [`Sensitive`].
pub fn parse_terraform_outputs(root: &str, json: &[u8]) -> Result<BTreeMap<String, Sensitive>> {
    let bad = |detail: String| SecretsError::Sources {
        path: PathBuf::from(format!("terraform outputs of {root}")),
        detail,
    };
    let v: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| bad(format!("not the JSON of `terraform output -json` ({e})")))?;
    let obj = v.as_object().ok_or_else(|| bad("expected a JSON object of outputs".into()))?;
    let mut out = BTreeMap::new();
    for (name, o) in obj {
        match o.get("value") {
            Some(serde_json::Value::String(s)) => {
                out.insert(name.clone(), Sensitive::new(s.clone()));
            }
            Some(_) => {} // non-string outputs are never a secret field here
            None => {
                return Err(bad(format!(
                    "output {name} has no `value`: pass `terraform output -json`, not another format"
                )));
            }
        }
    }
    Ok(out)
}

/// Inputs of one bootstrap run.
#[derive(Debug)]
pub struct BootstrapOptions {
    pub sources_path: PathBuf,
    pub mapping_path: PathBuf,
    /// Folder searched for `SecretProviderClass`es (the repository's `deploy/`).
    pub tree: PathBuf,
    /// Root name -> its outputs.
    pub terraform_outputs: BTreeMap<String, BTreeMap<String, Sensitive>>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Seeded {
    pub path: String,
    pub field: String,
    /// `generated`, `literal` or `terraform <root>.<output>`.
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub path: String,
    pub field: String,
    pub what: String,
    #[serde(rename = "where")]
    pub where_: String,
    /// The command that writes it (reads the value from stdin: no shell history).
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BootstrapReport {
    pub dry_run: bool,
    pub mount: String,
    /// Fields written by this run (or that would be, with --dry-run).
    pub seeded: Vec<Seeded>,
    /// Fields that were already there (never changed).
    pub present: usize,
    /// Fields only a person can supply, still missing.
    pub missing: Vec<Missing>,
    /// Sealing keys of the key-owning environments.
    pub keys: Vec<KeyReport>,
    /// Declared in sources.yaml but read by nothing in the tree.
    pub unused: Vec<String>,
}

/// Run the bootstrap. Every check that can fail without writing comes first:
/// the sources cover every reference, and every Terraform output asked for
/// exists; then OpenBao is written path by path with check-and-set.
pub async fn bootstrap(bao: &BaoClient, opts: &BootstrapOptions) -> Result<BootstrapReport> {
    let sources = Sources::load(&opts.sources_path)?;
    let mapping = Mapping::load(&opts.mapping_path)?;
    let mount = sources.mount.trim_matches('/').to_owned();
    let refs = references(&mapping, &opts.tree)?;
    let mut undeclared = Vec::new();
    let mut referenced = BTreeSet::new();
    for r in &refs {
        let declared = r.mount == mount
            && sources.secrets.get(&r.path).is_some_and(|f| f.contains_key(&r.field));
        if declared {
            referenced.insert((r.path.clone(), r.field.clone()));
        } else {
            undeclared.push(format!("{}/{}#{} (read by {})", r.mount, r.path, r.field, r.by));
        }
    }
    if !undeclared.is_empty() {
        return Err(SecretsError::Sources {
            path: opts.sources_path.clone(),
            detail: format!(
                "{} field(s) are read by the tree but have no source; add each under `secrets:` \
                 (generate, literal, terraform or person):\n  - {}",
                undeclared.len(),
                undeclared.join("\n  - ")
            ),
        });
    }
    // Terraform outputs that were passed must have what is asked of them.
    for fields in sources.secrets.values() {
        for src in fields.values() {
            if let Source::Terraform { root, output } = src
                && let Some(outputs) = opts.terraform_outputs.get(root)
                && !outputs.contains_key(output)
            {
                return Err(SecretsError::Sources {
                    path: opts.sources_path.clone(),
                    detail: format!(
                        "the outputs given for root {root} have no {output:?} (present: {}); \
                         apply the root first, or fix the source",
                        outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
    }

    let mut seeded = Vec::new();
    let mut missing = Vec::new();
    let mut present = 0;
    for (path, fields) in &sources.secrets {
        let current = read_current(bao, &mount, path).await?;
        let mut data = existing_fields(current.as_ref());
        let mut new_fields = Vec::new();
        let mut person = Vec::new();
        for (field, src) in fields {
            if data.contains_key(field) {
                present += 1;
                continue;
            }
            let value = match src {
                Source::Generate { bytes } => Some((generate(*bytes)?, "generated".to_owned())),
                Source::Literal(v) => Some((Sensitive::new(v.clone()), "literal".to_owned())),
                Source::Terraform { root, output } => {
                    match opts.terraform_outputs.get(root).and_then(|o| o.get(output)) {
                        Some(v) => Some((v.clone(), format!("terraform {root}.{output}"))),
                        None => {
                            person.push(Missing {
                                path: path.clone(),
                                field: field.clone(),
                                what: format!("Terraform output {output} of root {root}"),
                                where_: format!(
                                    "`platctl tf --env {root} -- output -json`, after that root is applied"
                                ),
                                command: format!(
                                    "platctl secrets bootstrap --terraform-outputs {root}=<(platctl tf --env {root} -- output -json)"
                                ),
                            });
                            None
                        }
                    }
                }
                Source::Person { what, where_ } => {
                    person.push(Missing {
                        path: path.clone(),
                        field: field.clone(),
                        what: what.clone(),
                        where_: where_.clone(),
                        command: String::new(),
                    });
                    None
                }
                // Derived from other fields: below, once they all have values.
                Source::Htpasswd { .. } => None,
            };
            if let Some((v, from)) = value {
                data.insert(field.clone(), v);
                new_fields.push(field.clone());
                seeded.push(Seeded { path: path.clone(), field: field.clone(), from });
            }
        }
        for (field, src) in fields {
            let Source::Htpasswd { user, password } = src else { continue };
            if data.contains_key(field) {
                continue;
            }
            // A person-supplied user or password not there yet: the next run derives it.
            let (Some(u), Some(pw)) = (data.get(user), data.get(password)) else { continue };
            let line = htpasswd_line(u.expose(), pw.expose())?;
            data.insert(field.clone(), line);
            new_fields.push(field.clone());
            seeded.push(Seeded {
                path: path.clone(),
                field: field.clone(),
                from: format!("htpasswd of {user}, {password}"),
            });
        }
        if !new_fields.is_empty() && !opts.dry_run {
            let cas = current.as_ref().map_or(0, |kv| kv.version);
            bao.kv_write(&mount, path, &data, Some(cas)).await?;
        }
        // One command per path writes all its person-supplied fields in one
        // version (a pinned version then has them all), from a prompt or stdin.
        for mut m in person {
            if m.command.is_empty() {
                m.command = format!("platctl secrets bootstrap --supply {path}");
            }
            missing.push(m);
        }
    }

    let mut key_reports = Vec::new();
    let key_opts = KeyOptions {
        mapping_path: opts.mapping_path.clone(),
        mount: mount.clone(),
        dry_run: opts.dry_run,
    };
    for env in keys::key_envs(&mapping) {
        match keys::ensure_key(bao, &key_opts, &env).await {
            Ok(r) => key_reports.push(r),
            // A dry run before the first key: report it as to be created.
            Err(SecretsError::NoSealingKey { .. }) if opts.dry_run => seeded.push(Seeded {
                path: keys::kv_path(&env, 1),
                field: "tls.crt, tls.key".into(),
                from: "generated (sealing key)".into(),
            }),
            Err(e) => return Err(e),
        }
    }

    // The fields an htpasswd line is derived from are read through it.
    for (path, fields) in &sources.secrets {
        for (field, src) in fields {
            if let Source::Htpasswd { user, password } = src
                && referenced.contains(&(path.clone(), field.clone()))
            {
                referenced.insert((path.clone(), user.clone()));
                referenced.insert((path.clone(), password.clone()));
            }
        }
    }
    let unused = sources
        .secrets
        .iter()
        .flat_map(|(p, f)| f.keys().map(move |k| (p.clone(), k.clone())))
        .filter(|pf| !referenced.contains(pf))
        .map(|(p, f)| format!("{mount}/{p}#{f}"))
        .collect();
    Ok(BootstrapReport {
        dry_run: opts.dry_run,
        mount,
        seeded,
        present,
        missing,
        keys: key_reports,
        unused,
    })
}

/// The person-supplied fields of `path` (declared in the sources) that OpenBao
/// does not have yet, with what each is, in field order.
pub async fn person_fields_missing(
    bao: &BaoClient,
    sources: &Sources,
    path: &str,
) -> Result<Vec<(String, String)>> {
    let mount = sources.mount.trim_matches('/');
    let fields = sources.secrets.get(path).ok_or_else(|| SecretsError::Sources {
        path: PathBuf::from("sources.yaml"),
        detail: format!("no path {path:?} under `secrets:`"),
    })?;
    let present: BTreeSet<String> = read_current(bao, mount, path)
        .await?
        .map(|kv| kv.fields.keys().cloned().collect())
        .unwrap_or_default();
    Ok(fields
        .iter()
        .filter_map(|(f, src)| match src {
            Source::Person { what, .. } if !present.contains(f) => Some((f.clone(), what.clone())),
            _ => None,
        })
        .collect())
}

/// Write person-supplied `values` into `path`, all in one new version, keeping
/// every existing field (check-and-set: refused if the path changed meanwhile).
/// Only fields declared `person` and still missing are accepted.
pub async fn supply(
    bao: &BaoClient,
    sources: &Sources,
    path: &str,
    values: BTreeMap<String, Sensitive>,
) -> Result<u64> {
    let mount = sources.mount.trim_matches('/');
    let allowed: BTreeSet<String> =
        person_fields_missing(bao, sources, path).await?.into_iter().map(|(f, _)| f).collect();
    if let Some(f) = values.keys().find(|f| !allowed.contains(*f)) {
        return Err(SecretsError::Sources {
            path: PathBuf::from("sources.yaml"),
            detail: format!(
                "{path}#{f} is not a missing person-supplied field; it is never overwritten here"
            ),
        });
    }
    if values.values().any(|v| v.expose().is_empty()) {
        return Err(SecretsError::Sources {
            path: PathBuf::from("sources.yaml"),
            detail: format!("an empty value for {path}; nothing was written"),
        });
    }
    let current = read_current(bao, mount, path).await?;
    let mut data = existing_fields(current.as_ref());
    data.extend(values);
    Ok(bao.kv_write(mount, path, &data, Some(current.map_or(0, |kv| kv.version))).await?)
}

/// The current version of `path`, or `None` when it does not exist yet.
async fn read_current(
    bao: &BaoClient,
    mount: &str,
    path: &str,
) -> Result<Option<crate::bao::KvVersion>> {
    match bao.kv_read(mount, path, None).await {
        Ok(kv) => Ok(Some(kv)),
        Err(BaoError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The fields a KV version already has: a new version is written with all of
/// them (KV v2 replaces the whole secret), so nothing existing is lost.
fn existing_fields(current: Option<&crate::bao::KvVersion>) -> BTreeMap<String, Sensitive> {
    let Some(kv) = current else { return BTreeMap::new() };
    kv.fields
        .keys()
        .filter_map(|k| {
            kv.field_bytes(k)
                .map(|b| (k.clone(), Sensitive::new(String::from_utf8_lossy(&b).into_owned())))
        })
        .collect()
}

/// `bytes` random bytes, base64url without padding.
pub fn generate(bytes: usize) -> Result<Sensitive> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| SecretsError::Crypto(format!("no system randomness: {e}")))?;
    let s = URL_SAFE_NO_PAD.encode(&buf);
    buf.fill(0);
    Ok(Sensitive::new(s))
}

/// One htpasswd line, `user:$2y$...`: bcrypt (cost 12, random salt), the
/// format `htpasswd -B` writes and nginx's `auth_basic_user_file` reads.
pub fn htpasswd_line(user: &str, password: &str) -> Result<Sensitive> {
    if user.is_empty() || user.contains([':', '\n']) {
        return Err(SecretsError::Crypto(
            "htpasswd: the user name must be non-empty, without ':' or a newline".into(),
        ));
    }
    let hash = bcrypt::hash_with_result(password, 12)
        .map_err(|e| SecretsError::Crypto(format!("bcrypt: {e}")))?
        .format_for_version(bcrypt::Version::TwoY);
    Ok(Sensitive::new(format!("{user}:{hash}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_lines_are_bcrypt_and_verify() {
        let line = htpasswd_line("ci", "s3cret-pass").expect("line");
        let (user, hash) = line.expose().split_once(':').expect("user:hash");
        assert_eq!(user, "ci");
        assert!(hash.starts_with("$2y$12$") && hash.len() == 60, "{hash}");
        assert!(bcrypt::verify("s3cret-pass", hash).expect("verify"));
        assert!(!bcrypt::verify("wrong", hash).expect("verify"));
        // Salted: the same password hashes differently each time.
        assert_ne!(htpasswd_line("ci", "s3cret-pass").expect("again").expose(), line.expose());
        assert!(htpasswd_line("a:b", "x").is_err() && htpasswd_line("", "x").is_err());
    }

    #[test]
    fn htpasswd_sources_must_read_sibling_fields() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s.yaml");
        std::fs::write(
            &p,
            "mount: secret\nsecrets:\n  a/b:\n    user: {literal: ci}\n    password: {generate: {bytes: 32}}\n    line: {htpasswd: {user: user, password: password}}\n",
        )
        .expect("w");
        let s = Sources::load(&p).expect("valid");
        assert_eq!(
            s.secrets["a/b"]["line"],
            Source::Htpasswd { user: "user".into(), password: "password".into() }
        );
        std::fs::write(
            &p,
            "mount: secret\nsecrets:\n  a/b:\n    user: {literal: ci}\n    line: {htpasswd: {user: user, password: nope}}\n",
        )
        .expect("w");
        let err = Sources::load(&p).expect_err("missing sibling").to_string();
        assert!(err.contains("\"nope\""), "{err}");
    }

    #[test]
    fn generated_values_are_32_random_bytes_base64url() {
        let a = generate(32).expect("a");
        let b = generate(32).expect("b");
        assert_eq!(a.expose().len(), 43, "32 bytes in unpadded base64url");
        assert_ne!(a, b);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn terraform_outputs_are_read_from_their_json_and_never_shown() {
        let json = br#"{"loki_access_key":{"sensitive":true,"type":"string","value":"AKLOKI"},"n":{"sensitive":false,"type":"number","value":3}}"#;
        let o = parse_terraform_outputs("global", json).expect("outputs");
        assert_eq!(o["loki_access_key"].expose(), "AKLOKI");
        assert!(!o.contains_key("n"));
        assert!(!format!("{o:?}").contains("AKLOKI"));
        let err = parse_terraform_outputs("global", br#"{"x":{"v":1}}"#)
            .expect_err("wrong format")
            .to_string();
        assert!(err.contains("terraform output -json"), "{err}");
    }

    #[test]
    fn sources_reject_unknown_kinds_and_the_key_folder() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, "mount: secret\nsecrets:\n  a/b:\n    f: {magic: 1}\n").expect("w");
        assert!(Sources::load(&p).is_err());
        std::fs::write(&p, "mount: secret\nsecrets:\n  sealed-secrets/x:\n    f: {literal: a}\n")
            .expect("w");
        assert!(
            Sources::load(&p).expect_err("key folder").to_string().contains("platctl secrets key")
        );
        std::fs::write(
            &p,
            "mount: secret\nsecrets:\n  a/b:\n    g: {generate: {bytes: 32}}\n    l: {literal: admin}\n    t: {terraform: {root: global, output: o}}\n    p: {person: {what: W, where: X}}\n",
        )
        .expect("w");
        let s = Sources::load(&p).expect("valid");
        assert_eq!(s.secrets["a/b"]["g"], Source::Generate { bytes: 32 });
        assert_eq!(s.secrets["a/b"]["p"], Source::Person { what: "W".into(), where_: "X".into() });
    }

    #[test]
    fn documents_split_on_separator_lines_only() {
        assert_eq!(split_documents("a: 1\n---\nb: 2\n"), vec!["a: 1\n", "b: 2\n"]);
        assert_eq!(split_documents("a: '---'\n"), vec!["a: '---'\n"]);
    }
}
