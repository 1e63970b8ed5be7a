//! The command line on both backends: the JSON it prints, and one clear line with a non-zero exit
//! for each mistake (wrong path, bad or unreachable URL, not an event store, unknown stream,
//! version past the end). No panic, no backtrace, no password.

use crate::common;

use common::{Backend, TestDb, eventscope, eventscope_status};
use eventscope::demo::{DOUBLE_REFUND_ORDER, order_stream};
use serde_json::{Value, json};

fn assert_one_line_error(args: &[&str], expected: &str) {
    let (ok, out, err) = eventscope(args);
    assert!(!ok, "{args:?} should fail");
    assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(expected), "{args:?}: expected `{expected}` in: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    assert!(!err.contains("s3cret"), "password leaked: {err}");
}

fn streams_events_and_state_print_json(backend: Backend) {
    let db = &common::workshop(backend).db;
    let stream = order_stream(DOUBLE_REFUND_ORDER);

    let (ok, out, err) = eventscope(&["streams", &db.target, "--search", "1042"]);
    assert!(ok, "{err}");
    let streams: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(streams[0]["stream"], json!(stream), "{backend:?}");
    assert_eq!(streams[0]["events"], json!(4));
    assert_eq!(streams[0]["first_version"], json!(1));
    assert_eq!(streams[0]["last_version"], json!(4));
    assert_eq!(streams[0]["last_recorded_at"], json!("2026-03-23T21:52:00.000Z"));

    let (ok, out, _) = eventscope(&["streams", &db.target, "--limit", "5", "--sort", "events"]);
    assert!(ok);
    let streams: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(streams.as_array().unwrap().len(), 5);
    assert_eq!(streams[0]["events"], json!(2405));

    let (ok, out, err) = eventscope(&["events", &db.target, &stream, "--from", "3", "--limit", "1"]);
    assert!(ok, "{err}");
    let events: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["version"], json!(3));
    assert_eq!(events[0]["event_type"], json!("RefundRequested"));
    assert_eq!(events[0]["metadata"]["actor"], json!("user:C-112"));
    assert_eq!(events[0]["recorded_at"], json!("2026-03-23T21:48:00.000Z"));
    assert!(events[0]["position"].is_i64());

    let (ok, out, err) = eventscope(&["state", &db.target, &stream]);
    assert!(ok, "{err}");
    let state: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(state["version"], json!(4));
    assert_eq!(state["state"]["status"], json!("refund_requested"));
    assert_eq!(state["state"]["order_id"], json!("ORD-1042"));
    assert_eq!(state["state"]["refund"]["requested_at"], json!("2026-03-23T21:52:00.000Z"));
    let (ok, out, _) = eventscope(&["state", &db.target, &stream, "--at", "1"]);
    assert!(ok);
    let state: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(state["state"]["status"], json!("placed"));
    assert!(state["state"].get("payment_id").is_none());

    assert_one_line_error(&["state", &db.target, &stream, "--at", "9"], "--at 9 is past the end; give --at 1 to 4");
    assert_one_line_error(&["state", &db.target, "no-such-stream"], "there is no stream `no-such-stream`");
    assert_one_line_error(&["events", &db.target, "no-such-stream"], "there is no stream `no-such-stream`");
    assert_one_line_error(&["state", &db.target, &stream, "--layout", "other"], "no layout named `other`");
}

#[test]
fn each_mistake_is_one_clear_line() {
    assert_one_line_error(&["streams", "/no/such/store.sqlite"], "there is no file at /no/such/store.sqlite");
    assert_one_line_error(&["streams", "Cargo.toml"], "is not a SQLite database");
    assert_one_line_error(&["streams", "mysql://u:s3cret@host/db"], "`mysql://` is not a store");
    assert_one_line_error(&["streams", "postgres://u:s3cret@[::1/db"], "is not a valid PostgreSQL URL");
    assert_one_line_error(
        &["streams", "postgres://u:s3cret@127.0.0.1:1/db"],
        "cannot reach the PostgreSQL server at 127.0.0.1:1",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sqlite");
    assert_one_line_error(&["demo", "create"], "give either a SQLite PATH or --url");
    let (ok, _, err) = eventscope(&["demo", "create", path.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_one_line_error(&["demo", "create", path.to_str().unwrap()], "already exists: pass --force to replace it");
    let (ok, _, err) = eventscope(&["demo", "create", path.to_str().unwrap(), "--force"]);
    assert!(ok, "{err}");
    // A SQLite database that is not an event store names the tables it found.
    let db = TestDb::new(common::Backend::Sqlite, "cli_not_a_store");
    db.exec("CREATE TABLE customers (id INTEGER); CREATE TABLE invoices (id INTEGER)");
    assert_one_line_error(
        &["streams", &db.target],
        "not an event store eventscope recognises: found customers, invoices",
    );
    // Passwords given as a URL parameter or with an unencoded `/` never show either.
    assert_one_line_error(&["streams", "postgres://u@127.0.0.1:1/db?password=s3cret"], "cannot reach");
    assert_one_line_error(
        &["streams", "postgres://u:s3cret/x@127.0.0.1:1/db"],
        "postgres://u:***@127.0.0.1:1/db is not",
    );
}

#[test]
fn postgres_mistakes_are_one_clear_line_without_the_password() {
    if !common::postgres_available() {
        return;
    }
    let admin = common::admin_url();
    let wrong_password = {
        let (scheme, rest) = admin.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
        let user = rest.split([':', '@']).next().unwrap();
        format!("{scheme}://{user}:s3cret@{host}")
    };
    assert_one_line_error(&["streams", &wrong_password], "the server refused the user name or password");
    let no_db = common::replace_database(&admin, "no_such_database_here");
    assert_one_line_error(&["streams", &no_db], "does not exist");
    let db = TestDb::new(common::Backend::Postgres, "cli_empty");
    db.exec("CREATE TABLE customers (id INTEGER)");
    assert_one_line_error(&["streams", &db.target], "not an event store eventscope recognises: found public.customers");
}

/// Usage errors exit 2, store errors 3, refused operations 4, anything else 1; each is one line;
/// negative numbers are values, and `-` is a stream id after `--`.
#[test]
fn exit_codes_tell_usage_store_and_refusal_apart() {
    let db = &common::workshop(common::Backend::Sqlite).db;
    let store = db.target.as_str();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let dir = tempfile::tempdir().unwrap();
    let delete = dir.path().join("delete.sql");
    std::fs::write(&delete, "DELETE FROM events").unwrap();
    let missing_fold = dir.path().join("missing.js");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["streams"], 2, "<STORE>"),
        (vec!["streams", store, "--limit", "-1"], 2, "invalid value '-1' for '--limit"),
        (vec!["--at", "-1"], 2, "--stream"),
        (vec!["audit", store, "--frob"], 2, "unexpected argument '--frob'"),
        (vec!["streams", "/no/such/store.sqlite"], 3, "there is no file"),
        (vec!["events", store, "--", "-"], 3, "there is no stream `-`"),
        (vec!["preview", store, "--sql", delete.to_str().unwrap()], 4, "DELETE"),
        (vec!["state", store, &stream, "--fold", missing_fold.to_str().unwrap()], 1, "missing.js"),
        (vec!["demo"], 2, "needs one of: create"),
        (vec!["audit", store, "--until", "-1"], 2, "--until \"-1\" is not a time"),
        (vec!["audit", store, "--meta", "user"], 2, "is not key=value"),
        (vec!["state", store, &stream, "--at", "999"], 2, "past the end"),
        (vec!["demo", "create", store], 4, "already exists"),
    ];
    for (args, code, expected) in cases {
        let (got, out, err) = eventscope_status(&args);
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: expected `{expected}` in {err}");
    }
    // Negative versions are values, not flags.
    let (code, out, err) = eventscope_status(&["events", store, &stream, "--from", "-5", "--limit", "1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap().as_array().map(Vec::len), Some(1));
}

/// A reader that stops early (`| head -1`) ends every command quietly with exit 0: nothing panics
/// on the closed pipe.
#[test]
fn a_closed_standard_output_ends_every_command_quietly() {
    let db = &common::workshop(common::Backend::Sqlite).db;
    let store = db.target.as_str();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.sql");
    std::fs::write(&all, "SELECT * FROM events").unwrap();
    let all = all.to_str().unwrap();
    let projection = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/projections/orders_by_region.js");
    let compare = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sql/orders_by_region.sqlite.sql");
    let cases: Vec<Vec<&str>> = vec![
        vec!["streams", store],
        vec!["events", store, &stream],
        vec!["state", store, &stream],
        vec!["project", store, "--js", projection],
        vec!["preview", store, "--sql", all, "--format", "csv"],
        vec!["preview", store, "--sql", all],
        vec!["preview", store, "--sql", compare, "--compare"],
        vec!["audit", store],
    ];
    for args in cases {
        // Standard output is a pipe whose reading end is closed before the command writes.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

/// Every listing subcommand takes the same `--format` values, and each gives the same records.
#[test]
fn every_listing_takes_json_jsonl_and_csv() {
    let db = &common::workshop(Backend::Sqlite).db;
    let store = db.target.as_str();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let sql = format!("{}/assets/sql/orders_by_region.sqlite.sql", env!("CARGO_MANIFEST_DIR"));
    let listings: Vec<Vec<&str>> = vec![
        vec!["streams", store, "--limit", "5"],
        vec!["events", store, &stream],
        vec!["audit", store, "--type", "RefundRequested"],
        vec!["preview", store, "--sql", &sql],
    ];
    for args in listings {
        let run = |format: &str| {
            let mut all = args.clone();
            all.extend(["--format", format]);
            let (ok, out, err) = eventscope(&all);
            assert!(ok, "{all:?}: {err}");
            out
        };
        let array: Vec<Value> = serde_json::from_str(&run("json")).unwrap();
        let lines: Vec<Value> = run("jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let csv = common::read_csv(&run("csv"));
        assert!(!array.is_empty(), "{args:?}");
        assert_eq!(array, lines, "{args:?}");
        assert_eq!(csv.len(), array.len() + 1, "{args:?}: a header and a record per object");
        // The first CSV column holds what the JSON says under that name.
        let column = &csv[0][0];
        let shown = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        assert_eq!(csv[1][0], shown(&array[0][column]), "{args:?}");
    }
}

/// `RUST_LOG=eventscope=debug` shows each query with its time, and never a password.
fn debug_logging_shows_queries_and_no_password(backend: Backend) {
    let db = &common::workshop(backend).db;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["streams", &db.target, "--limit", "1"])
        .env("RUST_LOG", "eventscope=debug")
        .output()
        .expect("run eventscope");
    assert!(output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("query") && log.contains("ms=") && log.contains("SELECT"), "{backend:?}: {log}");
    if let Some(password) = db
        .target
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, p)| p)
    {
        assert!(!log.contains(&format!(":{password}@")), "password in the log: {log}");
        assert!(log.contains(":***@"), "{log}");
    }
}

#[test]
fn help_has_examples() {
    let (ok, out, _) = eventscope(&["--help"]);
    assert!(ok);
    assert!(out.contains("Examples:") && out.contains("eventscope demo create"), "{out}");
}

fn bisect_prints_the_event_its_changes_and_its_cause(backend: Backend) {
    let db = &common::workshop(backend).db;
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let when = "state.refunded > state.paid";
    let (code, out, err) =
        eventscope_status(&["bisect", &db.target, &stream, "--fold", "assets/folds/order.js", "--when", when]);
    assert_eq!(code, 0, "{backend:?}: {err}");
    let found: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((found["version"].clone(), found["event_type"].clone()), (json!(4), json!("RefundRequested")));
    assert_eq!(found["event"]["metadata"]["actor"], json!("staff:grace"), "{backend:?}");
    assert!(found["changes"].as_array().unwrap().iter().any(|c| c["path"] == json!("/refunded")), "{out}");
    assert_eq!(found["caused_by"], json!({"stream": stream, "version": 3, "event_type": "RefundRequested"}));
    // --scan gives the same answer.
    let (code, out, _) = eventscope_status(&[
        "bisect",
        &db.target,
        &stream,
        "--fold",
        "assets/folds/order.js",
        "--when",
        when,
        "--scan",
    ]);
    assert_eq!((code, serde_json::from_str::<Value>(&out).unwrap()["version"].clone()), (0, json!(4)));
    // Never: exit 1, with the JSON; a condition that does not parse: exit 2, one line.
    let (code, out, err) = eventscope_status(&["bisect", &db.target, &stream, "--when", "state.status == 'lost'"]);
    assert_eq!(code, 5, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["version"], Value::Null);
    assert!(err.contains("does not hold at the states asked") && err.contains("--scan"), "{err}");
    let (code, _, err) =
        eventscope_status(&["bisect", &db.target, &stream, "--when", "state.status == 'lost'", "--scan"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("never holds") && err.contains("all its 5 states"), "{err}");
    assert_one_line_error(&["bisect", &db.target, &stream, "--when", "state."], "--when");
}

fn drift_names_the_stale_snapshot_and_exits_1(backend: Backend) {
    let db = &common::workshop(backend).db;
    let stale = order_stream(eventscope::demo::STALE_SNAPSHOT_ORDER);
    let (code, out, err) = eventscope_status(&["drift", &db.target]);
    assert_eq!(code, 5, "{backend:?}: drift found is exit 5: {err}");
    assert!(err.contains("in 1 stream"), "{backend:?}: {err}");
    let check: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(check["drifting_streams"], json!(1), "{backend:?}");
    let finding = &check["streams_with_findings"][0];
    assert_eq!(finding["stream"], json!(stale), "{backend:?}");
    assert_eq!(finding["fold"], json!("merge"));
    assert_eq!(finding["others"][0]["verdict"], json!("drift"));
    assert!(finding["others"][0]["paths"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains("status")));
    // With the order fold for the Order category, only orders are checked, with that fold: it
    // computes more than the merge fold that wrote the snapshots, so each of them differs.
    let (code, out, err) =
        eventscope_status(&["drift", &db.target, "--category", "Order", "--fold", "assets/folds/order.js"]);
    assert_eq!(code, 5, "{backend:?}: {err}");
    let check: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((check["streams"].as_u64(), check["drifting_streams"].as_u64()), (Some(31), Some(31)), "{backend:?}");
    let findings = check["streams_with_findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["fold"] == json!("order.js")), "{backend:?}");
    // A store without snapshots says so, in one line (exit 2).
    let bare = TestDb::new(backend, "no_snapshots");
    bare.exec("CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload TEXT);");
    let (code, out, err) = eventscope_status(&["drift", &bare.target]);
    assert_eq!(code, 2, "{backend:?}: {err}");
    assert!(out.is_empty() && err.lines().count() == 1 && err.contains("keeps no snapshots"), "{err}");
    // A fold that throws compares nothing: a failure (1), never "no drift"; a category no
    // stream has is a usage error (2); a fold file that is not there, 1.
    let throws = std::env::temp_dir().join(format!("eventscope-throws-{}-{backend:?}.js", std::process::id()));
    std::fs::write(&throws, "({ $any: (s, e) => { throw new Error('boom ' + e.version) } })").unwrap();
    let (code, out, err) = eventscope_status(&["drift", &db.target, "--fold", throws.to_str().unwrap()]);
    assert_eq!(code, 1, "{backend:?}: {err}");
    assert!(err.contains("could not be compared") || err.contains("stopped"), "{err}");
    assert!(serde_json::from_str::<Value>(&out).unwrap()["compared"] == json!(0), "{out}");
    let _ = std::fs::remove_file(&throws);
    assert_eq!(eventscope_status(&["drift", &db.target, "--category", "NoSuch"]).0, 2);
    assert_eq!(eventscope_status(&["drift", &db.target, "--fold", "/no/such/fold.js"]).0, 1);
}

/// Runs a program on a file; `None` when the program is not installed (outside CI only: in CI a
/// missing runtime fails the test).
fn run_with(program: &str, args: &[&str]) -> Option<(bool, String)> {
    match std::process::Command::new(program).args(args).output() {
        Ok(out) => Some((
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !common::in_ci() => {
            eprintln!("SKIPPED: {program} is not installed, so the exported fixture was not run with it");
            None
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

/// Jest's `describe`, `test` and `expect(…).toEqual` for node, so that a Jest fixture runs with
/// node alone.
const JEST_SHIM: &str = r#"
const assert = require("node:assert");
const tests = [];
global.describe = (name, body) => body();
global.test = (name, body) => tests.push([name, body]);
global.expect = (actual) => ({ toEqual: (expected) => assert.deepStrictEqual(actual, expected) });
require(process.argv[2]);
if (tests.length === 0) throw new Error("no test in the fixture");
for (const [name, body] of tests) { body(); console.log("ok -", name); }
"#;

/// Runs a pytest module's `test_` functions with plain Python.
const PYTEST_SHIM: &str = "import runpy, sys\n\
m = runpy.run_path(sys.argv[1])\n\
tests = [f for k, f in m.items() if k.startswith('test_')]\n\
assert tests, 'no test in the module'\n\
for f in tests:\n    f()\n    print('ok -', f.__name__)\n";

fn fixture_reproduces_the_recorded_state(backend: Backend) {
    let db = &common::workshop(backend).db;
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let dir = tempfile::tempdir().unwrap();
    let fold = "assets/folds/order.js";
    // JSON: given v1..v2, then v3..v4; the states are those `state` folds.
    let (code, out, err) =
        eventscope_status(&["fixture", &db.target, &stream, "--from", "3", "--to", "4", "--fold", fold]);
    assert_eq!(code, 0, "{backend:?}: {err}");
    let fixture: Value = serde_json::from_str(&out).unwrap();
    let versions =
        |key: &str| fixture[key].as_array().unwrap().iter().map(|e| e["version"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!((versions("given"), versions("then")), (vec![1, 2], vec![3, 4]), "{backend:?}");
    assert_eq!(fixture["then"][1]["type"], json!("RefundRequested"));
    assert_eq!(fixture["then"][1]["metadata"]["actor"], json!("staff:grace"));
    assert_eq!(fixture["fold"], json!("order.js"));
    let state_at = |v: &str| {
        let (ok, out, err) = eventscope(&["state", &db.target, &stream, "--at", v, "--fold", fold]);
        assert!(ok, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()["state"].clone()
    };
    assert_eq!(fixture["given_state"], state_at("2"), "{backend:?}");
    assert_eq!(fixture["expected_state"], state_at("4"), "{backend:?}");
    // Jest, run by node: the inlined order fold replays given and then to the recorded states.
    let jest = dir.path().join("order.test.js");
    let (code, _, err) = eventscope_status(&[
        "fixture",
        &db.target,
        &stream,
        "--from",
        "3",
        "--to",
        "4",
        "--fold",
        fold,
        "--format",
        "jest",
        "--out",
        jest.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote jest"), "{err}");
    let shim = dir.path().join("jest-shim.js");
    std::fs::write(&shim, JEST_SHIM).unwrap();
    if let Some((ok, said)) = run_with("node", &[shim.to_str().unwrap(), jest.to_str().unwrap()]) {
        assert!(ok && said.matches("ok -").count() == 2, "{backend:?}: the jest fixture fails under node: {said}");
    }
    // pytest (the merge fold, in Python), masked: the actor and the customer never appear, and
    // the masked history still reproduces its own state.
    let (code, out, err) = eventscope_status(&[
        "fixture",
        &db.target,
        &stream,
        "--from",
        "4",
        "--format",
        "pytest",
        "--mask",
        "/metadata/actor",
        "--mask",
        "/data/customer_id",
    ]);
    assert_eq!(code, 0, "{backend:?}: {err}");
    assert!(!out.contains("staff:grace") && !out.contains("C-1"), "{backend:?}: masked values leaked");
    assert!(out.contains("masked-"), "{out}");
    let pytest = dir.path().join("test_order.py");
    std::fs::write(&pytest, &out).unwrap();
    let runner = dir.path().join("run_pytest.py");
    std::fs::write(&runner, PYTEST_SHIM).unwrap();
    if let Some((ok, said)) = run_with("python3", &[runner.to_str().unwrap(), pytest.to_str().unwrap()]) {
        assert!(ok && said.matches("ok -").count() == 2, "{backend:?}: the pytest fixture fails: {said}");
    }
    // cqrs-es: the events as the aggregate's enum serializes them.
    let (code, out, _) = eventscope_status(&["fixture", &db.target, &stream, "--from", "4", "--format", "cqrs-es"]);
    assert_eq!(code, 0);
    assert!(out.contains("TestFramework::<Order>") && out.contains(r#""RefundRequested": {"#), "{out}");
    // Mistakes: one line each, with the exit code of their kind.
    assert_one_line_error(&["fixture", &db.target, &stream, "--from", "99"], "outside");
    assert_one_line_error(&["fixture", &db.target, &stream, "--from", "3", "--to", "2"], "after --to");
    assert_one_line_error(
        &["fixture", &db.target, &stream, "--from", "1", "--format", "pytest", "--fold", fold],
        "jest",
    );
    assert_one_line_error(&["fixture", &db.target, &stream, "--from", "1", "--mask", "customer"], "--mask");
    assert_eq!(eventscope_status(&["fixture", &db.target, &stream, "--from", "99"]).0, 2);
    assert_eq!(eventscope_status(&["fixture", &db.target, "no-such-stream", "--from", "1"]).0, 3);
}

fn schemas_are_inferred_exported_and_checked(backend: Backend) {
    let db = &common::workshop(backend).db;
    let (code, out, err) = eventscope_status(&["schemas", &db.target]);
    assert_eq!(code, 0, "{backend:?}: {err}");
    let survey: Value = serde_json::from_str(&out).unwrap();
    let types = survey["types"].as_array().unwrap();
    let placed = types.iter().find(|t| t["event_type"] == json!("OrderPlaced")).expect("OrderPlaced inferred");
    assert!(placed["events"].as_u64().unwrap() >= 50, "{backend:?}: {placed}");
    assert!(placed["schema"]["required"].as_array().unwrap().contains(&json!("customer_id")), "{placed}");
    let field = placed["fields"].as_array().unwrap().iter().find(|f| f["path"] == json!("/customer_id")).unwrap();
    assert_eq!(field["present"], placed["events"]);
    assert!(!field["examples"].as_array().unwrap().is_empty());
    assert_eq!(survey["outliers"], json!(0), "{backend:?}: the workshop store follows its own schemas");
    // Export, then check: the store fits the schemas it gave.
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas");
    let (code, _, err) = eventscope_status(&["schemas", &db.target, "--export", schemas.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(schemas.join("OrderPlaced.schema.json").exists(), "{err}");
    let (code, out, err) = eventscope_status(&["schemas", &db.target, "--check", schemas.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, ""), "{backend:?}: {err}");
    assert!(err.contains("every one fits"), "{err}");
    // A store with a deliberately broken OrderPlaced: one line, exit 5.
    let broken = TestDb::new(backend, "broken_contract");
    broken.write_workshop();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    // (The customer id becomes a number: a type change a producer might ship by mistake.)
    let set_number = match backend {
        Backend::Sqlite => "json_set(payload, '$.customer_id', 42)",
        Backend::Postgres => "jsonb_set(payload, '{customer_id}', '42')",
    };
    broken.exec(&format!("UPDATE events SET payload = {set_number} WHERE aggregate_id = '{stream}' AND version = 1"));
    let (code, out, err) = eventscope_status(&["schemas", &broken.target, "--check", schemas.to_str().unwrap()]);
    assert_eq!(code, 5, "{backend:?}: {err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{backend:?}: {out}");
    assert_eq!((lines[0]["stream"].clone(), lines[0]["version"].clone()), (json!(stream), json!(1)));
    assert!(lines[0]["line"].as_str().unwrap().contains("/customer_id: 42 is not of type \"string\""), "{out}");
    assert!(err.contains("1 event of"), "{err}");
    // A folder that lacks most types' schemas breaks the check (a line per type), unless
    // --allow-missing.
    let partial = dir.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::copy(schemas.join("OrderPlaced.schema.json"), partial.join("OrderPlaced.schema.json")).unwrap();
    let (code, out, err) = eventscope_status(&["schemas", &db.target, "--check", partial.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(out.lines().any(|l| l.contains("\"event_type\":\"OrderRejected\"")), "{out}");
    assert!(err.contains("have no schema"), "{err}");
    let args = ["schemas", &db.target, "--check", partial.to_str().unwrap(), "--allow-missing"];
    assert_eq!(eventscope_status(&args).0, 0);
    // Never over a store: an export or a fixture refuses to write over a SQLite file.
    let copy = dir.path().join("copy.sqlite");
    if backend == Backend::Sqlite {
        std::fs::copy(&db.target, &copy).unwrap();
        let before = std::fs::read(&copy).unwrap();
        let args = ["fixture", &db.target, &stream, "--from", "1", "--out", copy.to_str().unwrap()];
        let (code, _, err) = eventscope_status(&args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("exists") && err.contains("--force"), "{err}");
        let (code, _, err) = eventscope_status(&[&args[..], &["--force"]].concat());
        assert_ne!(code, 0);
        assert!(err.contains("never writes over"), "{err}");
        assert_eq!(std::fs::read(&copy).unwrap(), before, "the store is untouched");
    }
    // Nor over any file unasked: a fold file named as --out is kept; --force replaces it.
    let named = dir.path().join("order.js");
    std::fs::write(&named, "// a fold").unwrap();
    let args = ["fixture", &db.target, &stream, "--from", "1", "--out", named.to_str().unwrap()];
    let (code, _, err) = eventscope_status(&args);
    assert_eq!((code, std::fs::read_to_string(&named).unwrap().as_str()), (2, "// a fold"), "{err}");
    assert_eq!(eventscope_status(&[&args[..], &["--force"]].concat()).0, 0);
    assert!(std::fs::read_to_string(&named).unwrap().contains("\"given\""));
    // A schema edited by hand is not exported over, unless --force.
    let edited = schemas.join("OrderPlaced.schema.json");
    let original = std::fs::read_to_string(&edited).unwrap();
    std::fs::write(&edited, "{\"title\": \"OrderPlaced\"}").unwrap();
    let export = ["schemas", &db.target, "--export", schemas.to_str().unwrap()];
    let (code, _, err) = eventscope_status(&export);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exist in") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "{\"title\": \"OrderPlaced\"}");
    assert_eq!(eventscope_status(&[&export[..], &["--force"]].concat()).0, 0);
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), original);
    // Mistakes: an empty or missing folder, a schema that is not one.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(eventscope_status(&["schemas", &db.target, "--check", empty.to_str().unwrap()]).0, 2);
    assert_eq!(eventscope_status(&["schemas", &db.target, "--check", "/no/such/dir"]).0, 1);
    std::fs::write(empty.join("bad.json"), r#"{"title": "X", "type": 12}"#).unwrap();
    assert_one_line_error(&["schemas", &db.target, "--check", empty.to_str().unwrap()], "bad.json");
}

fn whatif_shows_what_a_retroactive_rule_would_change(backend: Backend) {
    let db = &common::workshop(backend).db;
    let fold = "assets/folds/order.js";
    // The tax job, extended by one week: the orders placed from 2026-03-16 to 2026-03-23.
    let (code, out, err) =
        eventscope_status(&["whatif", &db.target, "--js", "assets/whatif/tax_one_more_week.js", "--fold", fold]);
    assert_eq!(code, 0, "{backend:?}: {err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["streams_seen"], json!(60), "{backend:?}");
    let touched = outcome["touched"].as_array().unwrap();
    let week = common::workshop(backend)
        .demo
        .events
        .iter()
        .filter(|e| e.event_type == "OrderPlaced")
        .filter(|e| {
            let at = e.payload["at"].as_str().unwrap();
            ("2026-03-16".."2026-03-23").contains(&at)
        })
        .count();
    assert!(week > 0);
    assert_eq!(
        (outcome["streams_touched"].as_u64(), outcome["events_appended"].as_u64()),
        (Some(week as u64), Some(week as u64))
    );
    for t in touched {
        assert_eq!(t["appended"][0]["type"], json!("OrderTaxRecalculated"));
        assert!(t["after"]["total"].as_f64().unwrap() > t["before"]["total"].as_f64().unwrap(), "{t}");
        assert!(t["changes"].as_array().unwrap().iter().any(|c| c["path"] == json!("/tax")), "{t}");
    }
    // Without the retried refund, ORD-1042 is refunded once.
    let (code, out, err) =
        eventscope_status(&["whatif", &db.target, "--js", "assets/whatif/no_retried_refunds.js", "--fold", fold]);
    assert_eq!(code, 0, "{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["touched"].as_array().unwrap().len(), 1, "{backend:?}: {out}");
    let order = &outcome["touched"][0];
    assert_eq!(
        (order["stream"].clone(), order["skipped"].clone()),
        (json!(order_stream(DOUBLE_REFUND_ORDER)), json!([4]))
    );
    assert_eq!(order["after"]["refunded"], order["after"]["paid"], "{order}");
    // Mistakes: a script that is not one (1), a category the store lacks (2).
    let dir = tempfile::tempdir().unwrap();
    whatif_read_model_rows(backend, &db.target, dir.path());
    let bad = dir.path().join("bad.js");
    std::fs::write(&bad, "42").unwrap();
    assert_one_line_error(&["whatif", &db.target, "--js", bad.to_str().unwrap()], "what-if script must evaluate");
    std::fs::write(&bad, "({ category: 'Nope', stream: () => null })").unwrap();
    assert_eq!(eventscope_status(&["whatif", &db.target, "--js", bad.to_str().unwrap()]).0, 2);
    std::fs::write(&bad, "({ stream: () => ({ append: [{ data: 1 }] }) })").unwrap();
    let (code, _, err) = eventscope_status(&["whatif", &db.target, "--js", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("needs a `type`"), "{err}");
}

/// `whatif --sql`: a read model run as the store is and as the script would leave it.
fn whatif_read_model_rows(backend: Backend, target: &str, dir: &std::path::Path) {
    let dialect = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let sql = |name: &str| format!("assets/sql/{name}.{dialect}.sql");
    // The tax job extended by a week: each order it reaches gets its 5 % tax, and no other row
    // changes.
    let totals = sql("order_totals");
    let args = ["whatif", target, "--js", "assets/whatif/tax_one_more_week.js", "--sql", &totals];
    let (code, out, err) = eventscope_status(&args);
    assert_eq!(code, 0, "{backend:?}: {err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    let read_model = &outcome["read_model"];
    let touched = outcome["streams_touched"].as_u64().unwrap();
    let orders = common::workshop(backend).demo.events.iter().filter(|e| e.event_type == "OrderPlaced").count();
    let counts = &read_model["comparison"]["counts"];
    assert_eq!(counts["changed"].as_u64(), Some(touched), "{backend:?}: {read_model}");
    assert_eq!(counts["unchanged"].as_u64(), Some(orders as u64 - touched), "{read_model}");
    assert_eq!((counts["added"].as_u64(), counts["removed"].as_u64()), (Some(0), Some(0)));
    assert!(read_model["warnings"].as_array().unwrap().is_empty(), "{read_model}");
    let number = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap();
    for row in read_model["comparison"]["changed"].as_array().unwrap() {
        let (now, if_run) = (&row["now"], &row["if_run"]);
        assert_eq!(number(&now["tax"]), 0.0, "{row}");
        let expected = (number(&now["amount"]) * 100.0 * 0.05).round() / 100.0;
        assert!((number(&if_run["tax"]) - expected).abs() < 0.006, "{row}");
        assert_eq!(now["amount"], if_run["amount"]);
    }
    // Without the retried refund, the day of ORD-1042's second refund loses one refund.
    let revenue = sql("revenue_per_day");
    let args = ["whatif", target, "--js", "assets/whatif/no_retried_refunds.js", "--sql", &revenue, "--key", "day"];
    let (code, out, err) = eventscope_status(&args);
    assert_eq!(code, 0, "{backend:?}: {err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    let changed = outcome["read_model"]["comparison"]["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{backend:?}: {changed:?}");
    let refunded = |side: &str| number(&changed[0][side]["refunded"]);
    assert!(refunded("if_run") < refunded("now"), "{changed:?}");
    // What the comparison cannot see is said: the table named with its schema.
    let schema = if backend == Backend::Sqlite { "main" } else { "public" };
    let qualified = dir.join("qualified.sql");
    std::fs::write(&qualified, format!("SELECT event_type, count(*) AS n FROM {schema}.events GROUP BY event_type"))
        .unwrap();
    let args = ["whatif", target, "--js", "assets/whatif/tax_one_more_week.js", "--sql", qualified.to_str().unwrap()];
    let (code, out, err) = eventscope_status(&args);
    assert_eq!(code, 0, "{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert!(outcome["read_model"]["warnings"][0].as_str().unwrap().contains("with its schema"), "{out}");
    assert_eq!(outcome["read_model"]["comparison"]["counts"]["changed"], json!(0), "{out}");
    // A write is refused by the store's guard (4), and a query the database rejects says where (3).
    let write = dir.join("write.sql");
    std::fs::write(&write, "DELETE FROM events").unwrap();
    let args = ["whatif", target, "--js", "assets/whatif/tax_one_more_week.js", "--sql", write.to_str().unwrap()];
    assert_eq!(eventscope_status(&args).0, 4, "{backend:?}");
    std::fs::write(&write, "SELECT nope FROM events").unwrap();
    let (code, _, err) = eventscope_status(&args);
    assert_eq!(code, 3, "{backend:?}: {err}");
    assert!(err.contains("line 1, column"), "{err}");
    // Nothing was written: the table holds the workshop's events, no more.
    std::fs::write(&write, "SELECT count(*) AS n FROM events").unwrap();
    let (code, out, err) = eventscope_status(&["preview", target, "--sql", write.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let events = common::workshop(backend).demo.events.len();
    assert!(out.contains(&format!("\"n\": {events}")) || out.contains(&format!("\"n\":{events}")), "{out}");
}

crate::on_each_backend!(
    whatif_shows_what_a_retroactive_rule_would_change,
    schemas_are_inferred_exported_and_checked,
    fixture_reproduces_the_recorded_state,
    streams_events_and_state_print_json,
    drift_names_the_stale_snapshot_and_exits_1,
    bisect_prints_the_event_its_changes_and_its_cause,
    debug_logging_shows_queries_and_no_password
);

#[test]
fn an_eventscope_link_opens_its_store_or_says_what_is_wrong() {
    // (Checked before any window opens: a link to a missing file says so, in one line.)
    let (code, _, err) = eventscope_status(&["eventscope://open?store=/no/such/store.sqlite&stream=x&at=4"]);
    assert_ne!(code, 0);
    assert!(err.contains("there is no file at /no/such/store.sqlite"), "{err}");
    for (link, said) in [
        ("eventscope://open?stream=x", "names no store"),
        ("eventscope://open?store=a.sqlite&at=four", "`at=four` is not a version"),
        ("eventscope://open?store=a.sqlite&view=nope", "is no view"),
        ("EVENTSCOPE://open?stream=x", "names no store"),
    ] {
        let (code, _, err) = eventscope_status(&[link]);
        assert_eq!(code, 2, "{link}: {err}");
        assert!(err.contains(said), "{link}: {err}");
    }
    // A fold that is no file, and --at with no stream anywhere, are said before any window.
    let store = common::workshop(Backend::Sqlite).db.target.clone();
    let link = format!("eventscope://open?store={store}&stream=x&fold=/nope/x.js");
    let (code, _, err) = eventscope_status(&[&link]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no fold file at /nope/x.js") && err.contains("order.js"), "{err}");
    let (code, _, err) = eventscope_status(&[&store, "--at", "3"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--at needs a stream"), "{err}");
}

#[test]
fn lesson_export_writes_a_store_and_says_what_is_wrong() {
    let store = common::workshop(Backend::Sqlite).db.target.clone();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lesson.sqlite");
    let out_arg = out.display().to_string();
    let order = eventscope::demo::order_stream(eventscope::demo::DOUBLE_REFUND_ORDER);
    // Nothing chosen, a stream the store lacks, a bad steps file, a bad mask: exit 2, in words,
    // and no file written.
    let steps = dir.path().join("steps.json");
    std::fs::write(&steps, r#"[{"title": "x", "view": "nowhere"}]"#).unwrap();
    let missing_fold = dir.path().join("fold-steps.json");
    std::fs::write(
        &missing_fold,
        format!(r#"[{{"title": "x", "view": "history", "stream": "{order}", "fold": "mine.js"}}]"#),
    )
    .unwrap();
    let steps_arg = steps.display().to_string();
    let missing_fold_arg = missing_fold.display().to_string();
    for (args, said) in [
        (vec!["lesson", "export", &store, "--out", &out_arg], "give the streams"),
        (
            vec!["lesson", "export", &store, "--streams", "no-such-stream", "--out", &out_arg],
            "no stream `no-such-stream`",
        ),
        (vec!["lesson", "export", &store, "--streams", &order, "--steps", &steps_arg, "--out", &out_arg], "is no view"),
        (
            vec!["lesson", "export", &store, "--streams", &order, "--steps", &missing_fold_arg, "--out", &out_arg],
            "step 1 (x): the fold `mine.js` is neither in the lesson nor bundled",
        ),
        (vec!["lesson", "export", &store, "--streams", &order, "--mask", "actor", "--out", &out_arg], "--mask"),
    ] {
        let (code, _, err) = eventscope_status(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?}");
    }
    let fold = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/folds/order.js");
    let export = [
        "lesson",
        "export",
        &store,
        "--streams",
        &order,
        "--type",
        "TaxRateChanged",
        "--fold",
        fold,
        "--out",
        &out_arg,
    ];
    let (code, printed, err) = eventscope_status(&export);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(summary["events"], 5, "{summary}");
    assert_eq!(summary["steps"], 2, "one for the stream, one for the filter: {summary}");
    // Never over the store (even with --force, even by another name for it), a directory, or a
    // file that is not a lesson.
    let store_bytes = std::fs::read(&store).unwrap();
    let linked = dir.path().join("linked.sqlite");
    std::fs::hard_link(&store, &linked).unwrap();
    let not_a_lesson = dir.path().join("notes.txt");
    std::fs::write(&not_a_lesson, "mine").unwrap();
    let dir_arg = dir.path().display().to_string();
    let wal = format!("{store}-wal");
    for (target, said) in [
        (store.as_str(), "is the store"),
        (linked.to_str().unwrap(), "is the store"),
        (wal.as_str(), "is the store"),
        (dir_arg.as_str(), "is a directory"),
        (not_a_lesson.to_str().unwrap(), "is not a lesson file"),
    ] {
        let (code, _, err) =
            eventscope_status(&["lesson", "export", &store, "--streams", &order, "--out", target, "--force"]);
        assert_eq!(code, 2, "{target}: {err}");
        assert!(err.contains(said), "{target}: {err}");
    }
    assert_eq!(std::fs::read(&store).unwrap(), store_bytes, "the store is untouched");
    assert!(!std::path::Path::new(&wal).exists());
    assert_eq!(std::fs::read_to_string(&not_a_lesson).unwrap(), "mine");
    // Steps are checked against the lesson: a version it does not hold, a stream it lacks.
    let bad_steps = dir.path().join("bad-steps.json");
    for (steps, said) in [
        (
            format!(r#"[{{"title": "x", "view": "history", "stream": "{order}", "version": 9}}]"#),
            "version 9 is not in the lesson",
        ),
        (r#"[{"title": "x", "view": "history", "stream": "ORD-1013"}]"#.to_owned(), "not in the lesson"),
        ("[]".to_owned(), "lists no steps"),
    ] {
        std::fs::write(&bad_steps, steps).unwrap();
        let (code, _, err) = eventscope_status(&[
            "lesson",
            "export",
            &store,
            "--streams",
            &order,
            "--steps",
            bad_steps.to_str().unwrap(),
            "--out",
            &out_arg,
            "--force",
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(said), "{err}");
    }
    // A label names its stream; with the ids masked, the step holds the pseudonym, and no title
    // or note keeps the id.
    let masked = dir.path().join("masked.sqlite");
    let masked_arg = masked.display().to_string();
    std::fs::write(
        &bad_steps,
        format!(r#"[{{"title": "about {order}", "view": "history", "stream": "ORD-1042", "version": 4}}]"#),
    )
    .unwrap();
    let (code, _, err) = eventscope_status(&[
        "lesson",
        "export",
        &store,
        "--streams",
        &order,
        "--steps",
        bad_steps.to_str().unwrap(),
        "--mask",
        "/streamId",
        "--out",
        &masked_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    let lesson =
        common::block_on(eventscope::store::Store::open(eventscope::store::Target::Sqlite(masked), None)).unwrap();
    let read = common::block_on(eventscope::lesson::read(&lesson)).unwrap().unwrap();
    let step_stream = read.steps[0].stream.clone().unwrap();
    assert!(step_stream.starts_with("masked-"), "{step_stream}");
    assert!(!read.steps[0].title.contains(&order), "{}", read.steps[0].title);
    let page =
        common::block_on(lesson.read_stream(&step_stream, eventscope::store::EventCursor::from_version(i64::MIN), 10))
            .unwrap();
    assert_eq!(page.events.len(), 4, "the step's stream is the masked stream");
    common::block_on(lesson.close());
    // The file is a store the other subcommands read, with its fold.
    let (code, printed, err) = eventscope_status(&["state", &out_arg, &order, "--fold", fold]);
    assert_eq!(code, 0, "{err}");
    let state: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(state["state"]["status"], "refund_requested", "{state}");
    // Written again only with --force.
    let (code, _, err) = eventscope_status(&export);
    assert_eq!(code, 2);
    assert!(err.contains("--force"), "{err}");
    let forced: Vec<&str> = export.iter().copied().chain(["--force"]).collect();
    assert_eq!(eventscope_status(&forced).0, 0);
}
