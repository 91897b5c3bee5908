//! Reporters: SARIF validates against the OASIS SARIF 2.1.0 schema; JSON and
//! human output carry the findings, the suppressions and their reasons.

use std::path::{Path, PathBuf};

use platctl_check::{Options, Report, check, report};

mod common;
use common::schemas;

fn fixture(rel: &str) -> PathBuf {
    common::fixtures().join(rel)
}

fn run(root: &Path) -> Report {
    check(&Options { root: root.to_path_buf(), schemas: schemas(), only: vec![], skip: vec![] })
        .expect("check runs")
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json"),
    )
    .expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .expect("SARIF schema compiles")
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let validator = sarif_validator();
    // findings of many kinds, a suppression, and file-level (line 0) findings
    for rel in ["K8S005/bad", "SUPP001/good", "OBS002/bad", "TF004/bad", "GHA002/bad"] {
        let rep = run(&fixture(rel));
        assert!(!rep.findings.is_empty() || !rep.suppressed.is_empty(), "{rel}: nothing to report");
        let sarif = report::sarif(&rep, "0.1.0");
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{rel}: SARIF invalid:\n{}", errors.join("\n"));
        let results = sarif["runs"][0]["results"].as_array().expect("results");
        assert_eq!(results.len(), rep.findings.len() + rep.suppressed.len());
        for r in results {
            let idx = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(sarif["runs"][0]["tool"]["driver"]["rules"][idx]["id"], r["ruleId"]);
        }
    }
    // the validator does reject a broken log (so the test above can fail)
    let mut broken = report::sarif(&run(&fixture("TF004/bad")), "0.1.0");
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn suppressions_are_listed_with_their_reason_in_every_format() {
    let root = fixture("SUPP001/good");
    let rep = run(&root);
    assert_eq!(rep.suppressed.len(), 1, "{:?}", rep.suppressed);
    let s = &rep.suppressed[0];
    assert_eq!(
        (s.finding.rule.code(), s.finding.file.as_str(), s.finding.line),
        ("K8S007", "deploy/apps/shop/secret.yaml", 7)
    );
    assert!(s.reason.starts_with("demo value"), "{s:?}");
    assert!(rep.findings.iter().all(|f| f.rule != "K8S007"));

    let json = report::json(&rep);
    assert_eq!(json["suppressed"][0]["rule"], "K8S007");
    assert_eq!(json["suppressed"][0]["reason"], s.reason.as_str());
    assert_eq!(json["summary"]["suppressed"], 1);

    let sarif = report::sarif(&rep, "0.1.0");
    let sup = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["ruleId"] == "K8S007")
        .expect("suppressed result");
    assert_eq!(sup["suppressions"][0]["kind"], "inSource");
    assert_eq!(sup["suppressions"][0]["justification"], s.reason.as_str());

    let human = report::human(&rep, &root, false);
    assert!(human.contains("suppressed (1):") && human.contains("reason: demo value"), "{human}");
}

#[test]
fn a_suppression_without_reason_silences_nothing() {
    let rep = run(&fixture("SUPP001/bad"));
    let rules: Vec<&str> = rep.findings.iter().map(|f| f.rule.code()).collect();
    assert!(rules.contains(&"SUPP001") && rules.contains(&"K8S007"), "{rules:?}");
    assert!(rep.suppressed.is_empty());
}

#[test]
fn human_output_shows_the_offending_line_in_context() {
    let root = fixture("K8S007/bad");
    let rep = run(&root);
    let human = report::human(&rep, &root, false);
    assert!(human.contains("error[K8S007] deploy/apps/shop/secret.yaml:7:"), "{human}");
    assert!(human.contains(">    7 | stringData: # expect: K8S007"), "{human}");
    assert!(human.contains("    6 | type: Opaque"), "{human}");
    assert!(human.contains("fix: seal it"), "{human}");
    assert!(!human.contains('\x1b'), "no colour when asked for none");
    assert!(report::human(&rep, &root, true).contains("\x1b[1;31m"));
}

#[test]
fn skipping_a_whole_family_does_not_make_its_suppressions_unused() {
    // SUPP001/good suppresses a K8S007 finding. With every rule of that family
    // skipped, the family does not run, and the suppression is not "unused".
    let skip = ["K8S007", "K8S008", "K8S009", "K8S010", "K8S011", "K8S012", "K8S013"];
    let rep = check(&Options {
        root: fixture("SUPP001/good"),
        schemas: schemas(),
        only: vec![],
        skip: skip.iter().map(|s| (*s).to_owned()).collect(),
    })
    .expect("check runs");
    assert!(rep.findings.iter().all(|f| f.rule != "SUPP002"), "{:?}", rep.findings);
    // Skipping only K8S007 still runs the family: the suppression is judged, and used.
    let rep = check(&Options {
        root: fixture("SUPP001/good"),
        schemas: schemas(),
        only: vec!["SUPP002".into()],
        skip: vec![],
    })
    .expect("check runs");
    assert!(rep.findings.is_empty(), "{:?}", rep.findings);
}
