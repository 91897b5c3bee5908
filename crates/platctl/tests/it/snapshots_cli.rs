//! Snapshot tests of human output (insta), with filters for what varies
//! between runs: version ids, hashes, lineages, times, sizes and paths.

use crate::support::*;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{10}-[0-9a-f]{12}", "[VERSION-ID]");
    s.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]");
    s.add_filter(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[UUID]");
    s.add_filter(r"[0-9a-f]{64}", "[SHA256]");
    s.add_filter(r"file:///\S+", "[STORE]");
    // Sizes vary with terraform's output; only their own cells are masked:
    // the `bytes:` line of `show`, the BYTES column of `versions` (after the
    // time) and of `list` (after the env and serial).
    s.add_filter(r"bytes:(\s+)\d+", "bytes:$1[BYTES]");
    s.add_filter(r"(\[TIME\]\s+)\d+(\s)", "$1[BYTES]$2");
    s.add_filter(r"(?m)^(snap\s+\d+\s+)\d+(\s)", "$1[BYTES]$2");
    // Column widths follow the filtered values: compare cells, not padding.
    s.add_filter(r" {2,}", "  ");
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn state_versions_list_and_show_tables() {
    let store = TestStore::file();
    let root = TfRoot::demo();
    root.init(&store, "snap");
    ok(run(&mut root.tf(
        &store,
        "snap",
        &["apply", "-auto-approve", "-input=false", "-no-color", "-var=replicas=2"],
    )));
    ok(run(&mut root.tf(&store, "snap", &["apply", "-auto-approve", "-input=false", "-no-color"])));
    let versions = stdout(&ok(run(store.platctl().args(["state", "versions", "--env", "snap"]))));
    let list = stdout(&ok(run(store.platctl().args(["state", "list"]))));
    let show = stdout(&ok(run(store.platctl().args(["state", "show", "--env", "snap"]))));
    settings().bind(|| {
        insta::assert_snapshot!("state_versions_table", versions);
        insta::assert_snapshot!("state_list_table", list);
        insta::assert_snapshot!("state_show_summary", show);
    });
}
