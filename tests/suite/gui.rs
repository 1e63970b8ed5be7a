//! The real window, driven headlessly with egui_kittest on a real workshop store: open a stream
//! by clicking it, step with the keyboard, read the shown version, state and diff; blame;
//! compare two versions; search; the error shown for a bad URL; undecodable payloads and gaps.

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, TestDb};
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use eventscope::demo::{DOUBLE_REFUND_ORDER, order_stream};
use eventscope::fold::Blame;
use eventscope::store::Target;
use eventscope::ui::{AppOptions, EventscopeApp, Screen};
use serde_json::json;

struct UnderTest {
    target: Option<Target>,
    app: Option<EventscopeApp>,
}

fn harness(target: Target) -> Harness<'static, UnderTest> {
    Harness::builder().with_size(egui::vec2(1400.0, 900.0)).build_ui_state(
        |ui, s: &mut UnderTest| {
            let target = s.target.take();
            let app = s.app.get_or_insert_with(|| EventscopeApp::new(ui.ctx(), target, None, AppOptions::default()));
            app.show(ui);
        },
        UnderTest { target: Some(target), app: None },
    )
}

fn app<'a>(h: &'a Harness<'_, UnderTest>) -> &'a EventscopeApp {
    h.state().app.as_ref().expect("app")
}

fn app_mut<'a>(h: &'a mut Harness<'_, UnderTest>) -> &'a mut EventscopeApp {
    h.state_mut().app.as_mut().expect("app")
}

/// Steps frames until `done` holds (the worker answers on its own thread).
fn wait_until(h: &mut Harness<'_, UnderTest>, what: &str, done: impl Fn(&Harness<'_, UnderTest>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(h) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.step();
}

/// Opens the SQL view, picks a bundled example and waits for its preview.
fn run_sql_example(h: &mut Harness<'_, UnderTest>, example: &str) {
    wait_until(h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("SQL preview").click();
    h.step();
    h.get_by_label("example").click();
    h.step();
    h.step();
    h.get_by_label(example).click();
    h.step();
    wait_until(h, "the preview", |h| !app(h).sql.is_running() && app(h).sql.result().is_some());
}

fn workshop() -> &'static TestDb {
    &common::workshop(Backend::Sqlite).db
}

fn open_order_1042(h: &mut Harness<'_, UnderTest>) {
    wait_until(h, "the store to open", |h| app(h).screen == Screen::Explorer);
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    wait_until(h, "the streams list", |h| h.query_by_label("73 streams").is_some());
    h.get_by_role(egui::Role::TextInput).focus();
    h.step();
    h.get_by_role(egui::Role::TextInput).type_text("1042");
    h.step();
    wait_until(h, "the search", |h| h.query_by_label("1 match").is_some() && h.query_by_label(&stream).is_some());
    h.key_press(Key::Escape);
    h.step();
    h.get_by_label(&stream).click();
    h.step();
    wait_until(h, "the stream to load", |h| {
        app(h).history.history().is_some_and(|x| x.len() == 4) && !app(h).history.is_loading()
    });
}

#[test]
fn click_a_stream_and_step_through_it_with_the_keyboard() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    // A stream opens at its newest event; Home goes to the first.
    assert!(h.query_by_label("version 4 of 4").is_some());
    h.key_press(Key::Home);
    h.step();
    h.step();
    assert!(h.query_by_label("version 1 of 4").is_some());
    assert_eq!(app(&h).history.cursor_state().unwrap()["status"], json!("placed"));
    assert!(h.query_by_label("v1 · OrderPlaced").is_some());

    h.key_press(Key::ArrowRight);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(2));
    assert!(h.query_by_label("version 2 of 4").is_some());
    assert!(h.query_by_label("v2 · PaymentConfirmed").is_some());
    let state = app(&h).history.cursor_state().unwrap();
    assert_eq!(state["status"], json!("paid"));
    assert_eq!(state["payment_id"], json!("PAY-70533"));
    // The diff from v1: status changed, payment fields added.
    assert!(h.query_by_label("~ changed").is_some());
    assert!(h.query_by_label("/status").is_some());
    assert!(h.query_by_label("\"placed\"").is_some());
    assert!(h.query_by_label("/payment_id").is_some());
    assert!(h.query_by_label("1 changed").is_none());
    assert!(h.query_by_label("4 added · 0 removed · 1 changed").is_some());

    h.key_press(Key::End);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(4));
    assert_eq!(app(&h).history.cursor_state().unwrap()["refund"]["requested_at"], json!("2026-03-23T21:52:00.000Z"));
    assert!(h.query_by_label("1 added · 0 removed · 1 changed").is_none());
    h.key_press(Key::Home);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(1));
    h.key_press(Key::PageDown);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(4), "PgDn moves ten, clamped to the end");
    h.key_press(Key::ArrowLeft);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(3));
    h.key_press(Key::PageUp);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(1));

    // Clicking a timeline row moves the cursor too.
    h.get_by_label("v3 RefundRequested").click();
    h.step();
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(3));
}

#[test]
fn blame_names_the_version_that_last_changed_a_field_and_goes_there() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    h.key_press(Key::End);
    h.step();
    h.get_by_label("Blame").click();
    h.step();
    h.step();
    // v3 set the status to refund_requested; v4 repeated it without changing it.
    assert_eq!(app(&h).history.blame_of("/status"), Some(Blame::Event(2)));
    assert_eq!(app(&h).history.blame_of("/payment_id"), Some(Blame::Event(1)));
    assert_eq!(app(&h).history.blame_of("/refund/requested_at"), Some(Blame::Event(3)));
    // The badges are on screen; the first "v2" badge goes to version 2.
    assert!(h.query_all_by_label("v3").count() >= 1);
    h.query_all_by_label("v2").next().expect("a v2 blame badge").click_accesskit();
    h.step();
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(2));
}

#[test]
fn compare_two_versions() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    h.get_by_label("Compare two versions").click();
    h.step();
    // A from the cursor at v1, B from the cursor at v4, as a person picks them.
    h.key_press(Key::Home);
    h.step();
    h.get_by_label("A = cursor").click();
    h.step();
    h.key_press(Key::End);
    h.step();
    h.get_by_label("B = cursor").click();
    h.step();
    h.step();
    // From v1 to v4: status placed → refund_requested; payment and refund fields added. (The
    // list draws only the rows in view: the first ones.)
    assert!(h.query_by_label("/status").is_some());
    assert!(h.query_all_by_label("\"refund_requested\"").count() >= 2, "in the comparison and in the state at v4");
    assert!(h.query_by_label("/payment_id").is_some());
    assert!(h.query_by_label("5 added · 0 removed · 1 changed").is_some());
    h.key_press(Key::ArrowLeft);
    h.step();
    h.get_by_label("A = cursor").click();
    h.step();
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(3));
    assert!(h.query_by_label("0 added · 0 removed · 1 changed").is_some());
    assert!(h.query_by_label("/refund/requested_at").is_some());
}

#[test]
fn search_narrows_the_streams_list() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the count", |h| h.query_by_label("73 streams").is_some());
    h.get_by_role(egui::Role::TextInput).focus();
    h.step();
    h.get_by_role(egui::Role::TextInput).type_text("acc0010");
    h.step();
    // (The count and the first page are two queries: either may be answered first.)
    wait_until(&mut h, "the search to be answered", |h| {
        h.query_by_label("9 matches").is_some() && app(h).streams.rows().len() == 9
    });
    assert!(app(&h).streams.rows().iter().all(|r| r.stream.0.starts_with("acc0010")));
    // Typing arrows into the search box does not move the history cursor.
    assert!(app(&h).history.stream().is_none());
}

#[test]
fn a_bad_url_shows_an_error_in_words_without_the_password() {
    let mut h = harness(Target::Postgres("postgres://alice:s3cret@127.0.0.1:1/shop".into()));
    wait_until(&mut h, "the connection to fail", |h| !app(h).is_opening());
    assert_eq!(app(&h).screen, Screen::Connect);
    assert!(h.query_by_label("Could not open the store").is_some());
    assert!(h.query_all_by_label_contains("cannot reach the PostgreSQL server at 127.0.0.1:1").count() >= 1);
    assert_eq!(h.query_all_by_label_contains("s3cret").count(), 0);
    // The URL is back in its field to be corrected; the field draws its password as dots.
    assert_eq!(app(&h).connect.url, "postgres://alice:s3cret@127.0.0.1:1/shop");
    assert_eq!(eventscope::store::dot_passwords(&app(&h).connect.url), "postgres://alice:••••••@127.0.0.1:1/shop");
    // The window stays usable: the workshop button is there, and a typed path opens a store.
    assert!(h.query_by_label("Open the workshop store").is_some());
    let db = workshop();
    app_mut(&mut h).connect.path = db.target.clone();
    h.get_by_label("Open file").click();
    h.step();
    wait_until(&mut h, "the typed path to open", |h| app(h).screen == Screen::Explorer);
}

#[test]
fn an_undecodable_payload_shows_its_bytes_and_reason_and_gaps_are_marked() {
    let db = TestDb::new(Backend::Sqlite, "gui_messy");
    db.exec(
        "CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload BLOB);
         INSERT INTO events VALUES ('s-1', 1, 'Opened', CAST('{\"open\": true}' AS BLOB));
         INSERT INTO events VALUES ('s-1', 3, 'Broken', X'7B22612231FF');",
    );
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the streams list", |h| h.query_by_label("s-1").is_some());
    h.get_by_label("s-1").click();
    h.step();
    wait_until(&mut h, "the stream", |h| app(h).history.history().is_some_and(|x| x.len() == 2));
    assert!(h.query_by_label("⚠ version 2 is missing").is_some());
    h.key_press(Key::ArrowRight);
    h.step();
    assert!(h.query_by_label_contains("Could not decode: not UTF-8 text").is_some());
    assert!(h.query_by_label_contains("7b 22 61 22 31 ff").is_some());
}

#[test]
fn the_order_fold_from_the_picker_shows_the_double_refund() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    h.get_by_label("fold").click();
    h.step();
    h.step();
    h.get_by_label("order.js (example)").click();
    h.step();
    h.step();
    h.key_press(Key::End);
    h.step();
    let state = app(&h).history.cursor_state().expect("state");
    assert_eq!(state["refunded"], json!(3699));
    assert_eq!(state["warnings"], json!(["v4: refunds (3699) exceed the payment (1849.5)"]));
    assert!(h.query_by_label("every Order stream").is_some(), "the scope choice is offered");
    // The merge fold again.
    h.get_by_label("fold").click();
    h.step();
    h.step();
    h.get_by_label("merge (generic)").click();
    h.step();
    h.step();
    assert!(app(&h).history.cursor_state().unwrap().get("refunded").is_none());
}

#[test]
fn a_watched_fold_file_refolds_when_saved_and_a_failing_fold_keeps_earlier_versions() {
    let db = workshop();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.js");
    std::fs::write(&file, "({ $init: () => ({ n: 0 }), $any: (s, e) => { s.n += 1; return s; } })").unwrap();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    app_mut(&mut h).history.choose_fold(Some(eventscope::ui::scripts::WatchedScript::new(
        eventscope::ui::scripts::ScriptSource::File(file.clone()),
    )));
    h.step();
    h.key_press(Key::End);
    h.step();
    assert_eq!(app(&h).history.cursor_state().unwrap(), std::sync::Arc::new(json!({"n": 4})));
    // Saved again in an editor: the state follows within a second.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(
        &file,
        "({ $init: () => ({ n: 0 }),\n  PaymentConfirmed: (s, e) => { throw new Error('payments are broken'); },\n  $any: (s, e) => { s.n += 10; return s; } })",
    )
    .unwrap();
    wait_until(&mut h, "the refold", |h| app(h).history.history().is_some_and(|x| x.failure().is_some()));
    assert!(h.query_all_by_label_contains("the fold failed at version 2 (PaymentConfirmed)").count() >= 1);
    assert!(h.query_all_by_label_contains("mine.js:2:").count() >= 1);
    // The last good state is shown beside the error, and one click away.
    assert!(h.query_by_label("The last good state, after v1").is_some());
    h.get_by_label("Go there").click();
    h.step();
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(1));
    assert_eq!(app(&h).history.cursor_state().unwrap(), std::sync::Arc::new(json!({"n": 10})));
    // A fold that fails at the very first event still shows where it started from.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&file, "({ $init: () => ({ n: 0 }),\n  $any: (s, e) => { throw new Error('nothing works'); } })")
        .unwrap();
    wait_until(&mut h, "the second refold", |h| {
        app(h).history.history().and_then(|x| x.failure()).is_some_and(|f| f.index == Some(0))
    });
    h.step();
    assert!(h.query_by_label_contains("The initial state").is_some());
    assert!(h.query_all_by_label_contains("nothing works").count() >= 1);
}

#[test]
fn a_projection_run_is_stepped_through_like_a_stream() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("Projections").click();
    h.step();
    h.get_by_label("script").click();
    h.step();
    h.step();
    h.get_by_label("refunds_per_customer.js (example)").click();
    h.step();
    wait_until(&mut h, "the run", |h| !app(h).projections.is_running());
    // The database hands over the 160 events of the Order category, not the 2,679 of the log.
    assert_eq!(app(&h).projections.events_read(), 160);
    h.key_press(Key::End);
    h.step();
    let view = app(&h).projections.view().expect("a run");
    let state = view.cursor_state().expect("state");
    assert_eq!(state["partitions"]["C-112"]["requests"], json!(2));
    assert!(state["would_emit"]["count"].as_u64().unwrap() > 0);
    // Only Order events are in the run, in global order.
    let history = view.history().unwrap();
    let events: Vec<_> = (0..history.len()).map(|i| history.event(i).expect("a run keeps its events")).collect();
    assert!(events.iter().all(|e| e.aggregate_type.as_deref() == Some("Order")));
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
    assert!(h.query_by_label_contains("position ").is_some());
    // Every event of the run opens in its stream's history.
    let last = events.last().map(|e| (e.stream.0.clone(), e.version)).unwrap();
    h.get_by_label(&format!("Open v{} of {} in the history", last.1, last.0)).click();
    wait_until(&mut h, "the event in its stream", |h| {
        app(h).history.stream() == Some(last.0.as_str()) && app(h).history.cursor_version() == Some(last.1)
    });
    assert_eq!(app(&h).view, eventscope::ui::View::History);
}

#[test]
fn a_sql_example_runs_into_a_table_and_a_plot() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    run_sql_example(&mut h, "revenue_per_day.sqlite.sql");
    assert!(h.query_by_label("28 rows").is_some());
    assert!(h.query_by_label("2026-03-02").is_some(), "the first day is in the table");
    // Sorting by revenue puts the most negative day first.
    h.get_by_label("revenue").click();
    h.step();
    h.step();
    assert!(h.query_by_label("-2449.2").is_some());
    // The plot: day across, revenue up (and payments, the other numeric columns, too).
    h.get_by_label("Plot").click();
    h.step();
    h.step();
    assert_eq!(app(&h).sql.plot_columns(), (0, vec![1, 2, 3, 4]));
    // The column check boxes sit above the plot, whose legend repeats the names.
    let topmost = |h: &Harness<'static, UnderTest>, name: &str| {
        h.query_all_by_role_and_label(egui::Role::CheckBox, name)
            .min_by(|a, b| a.rect().min.y.total_cmp(&b.rect().min.y))
            .expect("a check box")
            .click()
    };
    topmost(&h, "payments");
    h.step();
    topmost(&h, "paid");
    h.step();
    assert_eq!(app(&h).sql.plot_columns(), (0, vec![2, 3]));
}

#[test]
fn the_deployed_read_model_comparison_in_the_window() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    run_sql_example(&mut h, "orders_by_region.sqlite.sql");
    h.get_by_label("Compare with deployed orders_by_region").click();
    h.step();
    h.step();
    assert!(h.query_by_label("2 added").is_some());
    assert!(h.query_by_label("1 removed").is_some());
    assert!(h.query_by_label("2 changed").is_some());
    // One line per differing row; a changed one shows its line diff when picked.
    let changed: Vec<String> = h
        .query_all_by_label_contains("~ ")
        .filter_map(|n| n.accesskit_node().label())
        .filter(|l| l.starts_with("~ "))
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    h.get_by_label(&changed[1]).click();
    h.step();
    h.step();
    let diff_lines: Vec<String> = h
        .query_all_by_label_contains("\"total\"")
        .filter_map(|n| n.accesskit_node().value())
        .filter(|line| line.contains(" - ") || line.contains(" + "))
        .collect();
    assert!(diff_lines.len() >= 2, "the removed and the added lines: {diff_lines:?}");
    // A write typed into the editor is refused in words.
    app_mut(&mut h).sql.text = "DELETE FROM events".to_owned();
    h.get_by_label("▶ Run").click();
    h.step();
    wait_until(&mut h, "the refusal", |h| !app(h).sql.is_running());
    assert!(h.query_by_label_contains("refused: DELETE writes to events").is_some());
}

#[test]
fn audit_a_person_then_follow_an_event_into_its_history() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("Audit").click();
    h.step();
    wait_until(&mut h, "the newest page", |h| !app(h).audit.rows().is_empty() && app(h).audit.count.is_some());
    assert!(h.query_by_label("2679 events").is_some());
    // "last hour" is the hour up to the store's newest event, which it includes.
    let newest = app(&h).audit.rows()[0].clone();
    h.get_by_label("last hour").click();
    h.step();
    wait_until(&mut h, "the last hour", |h| !app(h).audit.is_busy() && app(h).audit.count.is_some_and(|c| c < 2679));
    let hour = app(&h).audit.rows();
    assert_eq!(hour.first(), Some(&newest), "the newest event is in the last hour");
    let start = newest.recorded_at.unwrap() - chrono::Duration::hours(1);
    assert!(hour.iter().all(|e| e.recorded_at.unwrap() >= start));
    h.get_by_label("all time").click();
    h.step();
    wait_until(&mut h, "all time", |h| !app(h).audit.is_busy() && app(h).audit.count == Some(2679));
    // The metadata keys come from the store: filter by actor through the form.
    h.get_by_label("metadata key").click();
    h.step();
    h.step();
    h.get_by_label("actor").click();
    h.step();
    h.get_by_role_and_label(egui::Role::TextInput, "metadata value").focus();
    h.step();
    h.get_by_role_and_label(egui::Role::TextInput, "metadata value").type_text("staff:grace");
    h.step();
    h.get_by_label("add").click();
    h.step();
    wait_until(&mut h, "the filtered log", |h| !app(h).audit.is_busy() && app(h).audit.count.is_some());
    let rows = app(&h).audit.rows();
    assert!(!rows.is_empty() && rows.iter().all(|e| e.actor() == Some("staff:grace")));
    assert!(rows.iter().any(|e| e.event_type == "RefundRequested"), "grace's refund");
    h.query_all(egui_kittest::kittest::By::new().role(egui::Role::Button).label_contains("RefundRequested"))
        .next()
        .expect("the refund's row")
        .click();
    h.step();
    wait_until(&mut h, "the correlation", |h| app(h).audit.correlation().is_some());
    let correlation = app(&h).audit.correlation().unwrap();
    assert_eq!(correlation.caused_by.as_ref().map(|e| e.version), Some(3), "the first refund caused the second");
    assert!(h.query_by_label_contains("Same correlation id").is_some());
    h.get_by_label_contains("in the history").click();
    h.step();
    wait_until(&mut h, "the stream", |h| app(h).history.cursor_version() == Some(4));
    assert_eq!(app(&h).view, eventscope::ui::View::History);
    assert_eq!(app(&h).history.stream(), Some(order_stream(DOUBLE_REFUND_ORDER).as_str()));
}

#[test]
fn a_stale_snapshot_shows_its_drift() {
    let db = workshop();
    let stream = eventscope::demo::order_stream(eventscope::demo::STALE_SNAPSHOT_ORDER);
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    app_mut(&mut h).open_event(&stream, 3);
    h.step();
    wait_until(&mut h, "the stream and its snapshots", |h| {
        app(h).history.cursor_version() == Some(3) && !app(h).history.snapshots().is_empty()
    });
    h.step();
    assert!(h.query_by_label_contains("Stored snapshot at v3").is_some());
    assert!(h.query_by_label_contains("snapshot drift: 3 differences").is_some(), "status, payment id and amount paid");
}

/// A SQLite store with two layouts (the article's table and a Python eventsourcing app) and
/// one encrypted event.
fn two_layouts_with_a_secret() -> TestDb {
    let db = TestDb::new(Backend::Sqlite, "gui_layouts");
    db.write_workshop();
    let secret = eventscope::store::decode::encrypt(
        br#"{"timestamp": "2026-03-02T08:00:00+00:00", "pin": 1234}"#,
        &[5u8; 32],
        [1; 12],
    )
    .unwrap();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    db.exec(&format!(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version));
         INSERT INTO stored_events VALUES ('vault', 1, 'bank:Vault.Opened', CAST('{{\"timestamp\": \"2026-03-01T00:00:00+00:00\"}}' AS BLOB));
         INSERT INTO stored_events VALUES ('vault', 2, 'bank:Vault.PinSet', X'{hex}');"
    ));
    db
}

#[test]
fn choose_among_layouts_and_give_a_cipher_key() {
    use base64::Engine as _;
    let db = two_layouts_with_a_secret();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("layout").click();
    h.step();
    h.step();
    h.get_by_label("stored_events").click();
    h.step();
    wait_until(&mut h, "the other layout", |h| {
        !app(h).is_opening() && app(h).streams.rows().iter().any(|r| r.stream.0 == "vault")
    });
    app_mut(&mut h).open_event("vault", 2);
    h.step();
    wait_until(&mut h, "the vault", |h| app(h).history.cursor_version() == Some(2));
    h.step();
    assert!(h.query_all_by_label_contains("give the cipher key").next().is_some());
    let key = base64::engine::general_purpose::STANDARD.encode([5u8; 32]);
    h.get_by_role(egui::Role::PasswordInput).focus();
    h.step();
    h.get_by_role(egui::Role::PasswordInput).type_text(&key);
    h.step();
    h.get_by_label("use key").click();
    h.step();
    wait_until(&mut h, "the decrypted event", |h| {
        app(h).history.cursor_version() == Some(2)
            && app(h).history.cursor_state().is_some_and(|s| s.get("Vault.PinSet").is_none() && s["pin"] == 1234)
    });
    assert!(h.query_all_by_label_contains(&key).next().is_none(), "the key is not shown anywhere");
}

#[test]
fn map_a_database_no_library_wrote() {
    let db = TestDb::new(Backend::Sqlite, "gui_mapping");
    db.exec(
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, entity TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, at TEXT);
         INSERT INTO audit_log VALUES (1, 'door-1', 1, 'Opened', '{\"by\": \"ada\"}', '2026-03-02T08:00:00Z');
         INSERT INTO audit_log VALUES (2, 'door-1', 2, 'Closed', '{\"by\": \"bob\"}', '2026-03-02T08:01:00Z');",
    );
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the failure", |h| !app(h).is_opening());
    assert!(h.query_all_by_label_contains("audit_log").count() >= 1, "the error lists the tables");
    h.get_by_label_contains("Map the tables of").click();
    h.step();
    wait_until(&mut h, "the catalog", |h| app(h).mapping.as_ref().is_some_and(|m| m.catalog().is_some()));
    h.step();
    // The columns' roles are guessed from their names.
    let layout = app(&h).mapping.as_ref().unwrap().layout().expect("a complete mapping");
    assert_eq!(layout.columns.version.name, "seq");
    assert_eq!(layout.columns.payload.name, "body");
    assert_eq!(layout.columns.position.as_ref().map(|c| c.name.as_str()), Some("id"));
    h.get_by_label("Check with the first events").click();
    h.step();
    wait_until(&mut h, "the sample", |h| app(h).mapping.as_ref().is_some_and(|m| m.sample().is_some()));
    h.step();
    assert!(h.query_by_label("The first 2 events read with this mapping:").is_some());
    h.get_by_label("Open with this layout").click();
    h.step();
    wait_until(&mut h, "the store with the mapping", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the streams", |h| app(h).streams.rows().len() == 1);
    assert_eq!(app(&h).streams.rows()[0].stream.0, "door-1");
}

#[test]
fn a_slow_fold_over_a_long_stream_folds_behind_a_progress_bar() {
    let db = workshop();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.js");
    std::fs::write(
        &file,
        "({ $init: () => ({ n: 0 }), $any: (s, e) => { let x = 0; for (let i = 0; i < 20000; i++) { x += i; } s.n += 1; return s; } })",
    )
    .unwrap();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    let stream = eventscope::demo::account_stream("C-107");
    app_mut(&mut h).open_event(&stream, 1);
    h.step();
    wait_until(&mut h, "the stream to load", |h| {
        app(h).history.history().is_some_and(|x| x.len() == 2405) && !app(h).history.is_loading()
    });
    app_mut(&mut h).history.choose_fold(Some(eventscope::ui::scripts::WatchedScript::new(
        eventscope::ui::scripts::ScriptSource::File(file),
    )));
    h.step();
    // Straight to the end while the fold is still on its way: no state is passed off as this one.
    h.key_press(Key::End);
    h.step();
    // (20,000 loop turns an event: far more than one frame's 12 ms slice for 2,405 events.)
    assert!(app(&h).history.history().is_some_and(|x| x.is_folding()));
    assert!(app(&h).history.cursor_state().is_none());
    assert!(h.query_by_label_contains("folding with slow.js").is_some(), "the progress bar");
    assert!(h.query_by_label_contains("Folding: the state appears").is_some());
    assert!(h.query_by_label_contains("slow.js applies to").is_some(), "the fold can be changed meanwhile");
    wait_until(&mut h, "the fold to get there", |h| app(h).history.cursor_state().is_some());
    assert_eq!(app(&h).history.cursor_state().unwrap(), std::sync::Arc::new(json!({"n": 2405})));
    // A jump back replays from the checkpoint at 2,176 events: 127 slow steps, spread over
    // frames rather than done in the one frame that asked.
    app_mut(&mut h).history.set_cursor(2302);
    h.step();
    assert!(app(&h).history.cursor_state().is_none());
    assert!(h.query_by_label_contains("Replaying from the nearest checkpoint").is_some());
    wait_until(&mut h, "the replay to get there", |h| app(h).history.cursor_state().is_some());
    assert_eq!(app(&h).history.cursor_state().unwrap(), std::sync::Arc::new(json!({"n": 2303})));
}

/// The line diff of two large states is worked out off the UI thread and then shown.
#[test]
fn a_large_state_gets_its_line_diff_from_a_background_thread() {
    let db = TestDb::new(Backend::Sqlite, "gui_large_state");
    db.write_workshop();
    let wide: serde_json::Map<String, serde_json::Value> = (0..6_000).map(|i| (format!("k{i:05}"), json!(i))).collect();
    let first = serde_json::Value::Object(wide).to_string();
    db.exec(&format!(
        "INSERT INTO events VALUES (100001, 'wide-1', 'Wide', 1, 'Filled', '{first}', '{{}}', '2026-03-01T00:00:00Z');
         INSERT INTO events VALUES (100002, 'wide-1', 'Wide', 2, 'Touched', '{{\"k03000\": -1}}', '{{}}', '2026-03-01T00:01:00Z');"
    ));
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    app_mut(&mut h).open_event("wide-1", 2);
    wait_until(&mut h, "the line diff", |h| h.query_by_label_contains("\"k03000\": -1").is_some());
    assert!(h.query_by_label_contains("\"k03000\": 3000").is_some(), "the removed line");
    assert!(h.query_by_label("0 added · 0 removed · 1 changed").is_some());
}

/// Connected as a PostgreSQL superuser, the SQL panel says so and runs nothing until the tick
/// box; a function that is not built in is refused until the user allows it with one click.
#[test]
fn a_privileged_role_waits_for_the_tick_box_and_a_function_for_allow() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "guirole");
    db.write_workshop();
    db.exec("CREATE FUNCTION shout(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT upper($1)'");
    let mut h = harness(Target::parse(&db.as_superuser()).unwrap());
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("SQL preview").click();
    h.step();
    assert!(h.query_by_label_contains("Connected as privileged role eventscope_super: is a superuser").is_some());
    let run = |h: &mut Harness<'_, UnderTest>| {
        h.get_by_label("▶ Run").click();
        h.step();
        wait_until(h, "the preview", |h| !app(h).sql.is_running());
    };
    app_mut(&mut h).sql.text = "SELECT shout('hi') AS x".to_owned();
    run(&mut h);
    assert!(h.query_by_label_contains("previews are refused under this privileged role").is_some());
    h.get_by_label("I understand: run previews as this privileged role for this session").click();
    h.step();
    run(&mut h);
    assert!(h.query_by_label_contains("--allow-function shout").is_some());
    h.get_by_label("Allow shout() for this session and run again").click();
    h.step();
    wait_until(&mut h, "the preview", |h| !app(h).sql.is_running());
    match app(&h).sql.result() {
        Some(Ok(rows)) => assert_eq!(rows.rows[0][0].as_text().as_deref(), Some("HI")),
        other => panic!("{other:?}"),
    }
    assert!(h.query_by_label("shout ✖").is_some(), "the allowed function is listed");
}

/// A big store opens with the database's estimates, marked ≈; "Count exactly" counts it.
#[test]
fn a_big_store_shows_estimated_counts_until_counted_exactly() {
    let db = TestDb::new(Backend::Sqlite, "gui_estimates");
    db.exec(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, \
         payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));
         WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 209999)
         INSERT INTO events SELECT 's-' || (n / 10), n % 10 + 1, 'E', '{}' FROM g;",
    );
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    assert!(h.query_by_label("≈ 210000 events").is_some(), "no stream estimate without statistics");
    // The streams list does not count the whole store either: its first page is all it reads.
    wait_until(&mut h, "the first page", |h| !app(h).streams.rows().is_empty());
    assert_eq!(app(&h).streams.match_count(), None);
    h.get_by_label("Count exactly").click();
    h.step();
    wait_until(&mut h, "the count", |h| h.query_by_label("21000 streams · 210000 events").is_some());
    assert!(h.query_by_label("Count exactly").is_none());
    assert_eq!(app(&h).streams.match_count(), Some(21_000));
    assert!(h.query_by_label("21000 streams").is_some(), "the list's heading");
}

#[test]
fn a_long_stream_is_held_a_window_at_a_time_and_any_version_still_opens() {
    use eventscope::ui::history::{LOAD_PAGE, WINDOW_EVENTS};
    let events = WINDOW_EVENTS + 4 * LOAD_PAGE + 123;
    let db = TestDb::new(Backend::Sqlite, "gui_long_stream");
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL,
                              payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));
         WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < {events})
         INSERT INTO events SELECT 'acc-1', v, CASE WHEN v % 2 = 0 THEN 'Withdrawn' ELSE 'Deposited' END,
                                   json_object('n', v, 'slot' || (v % 7), v) FROM n;"
    ));
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the streams list", |h| h.query_by_label("acc-1").is_some());
    h.get_by_label("acc-1").click();
    h.step();
    wait_until(&mut h, "the stream to load and fold", |h| {
        let view = &app(h).history;
        view.history().is_some_and(|x| x.len() == events && !x.is_folding()) && !view.is_loading()
    });
    let history = app(&h).history.history().unwrap();
    assert!(history.resident() <= WINDOW_EVENTS + 2 * LOAD_PAGE, "{} events in memory", history.resident());
    // The stream opened at its newest event, whose page stays; the first pages were let go.
    assert_eq!(app(&h).history.cursor_version(), Some(events as i64));
    assert!(history.is_page_resident(history.page_of(events - 1).unwrap()));
    assert!(!history.is_page_resident(0) && !history.is_page_resident(1), "the first pages were let go");
    assert_eq!(history.summary(LOAD_PAGE).unwrap().version, LOAD_PAGE as i64 + 1, "their summaries stay");
    h.get_by_label_contains(&format!("v{events:<5} Deposited"));
    h.key_press(Key::Home);
    h.step();
    wait_until(&mut h, "the first version's state", |h| app(h).history.cursor_state().is_some());
    assert_eq!(*app(&h).history.cursor_state().unwrap(), json!({"n": 1, "slot1": 1}));
    wait_until(&mut h, "the first event's details", |h| h.query_by_label("v1 · Deposited").is_some());

    // A version of the second page: read again, its state replayed from the nearest checkpoint.
    let version = LOAD_PAGE as i64 + 5;
    app_mut(&mut h).history.jump_to_version(version).unwrap();
    wait_until(&mut h, "the state of a page let go", |h| app(h).history.cursor_state().is_some());
    assert_eq!(app(&h).history.cursor_state().unwrap()["n"], json!(version));
    wait_until(&mut h, "its event's details", |h| h.query_by_label(&format!("v{version} · Deposited")).is_some());
    // A version in the middle, then the last one.
    app_mut(&mut h).history.jump_to_version(9_999).unwrap();
    wait_until(&mut h, "a middle version's state", |h| app(h).history.cursor_state().is_some());
    assert_eq!(app(&h).history.cursor_state().unwrap()["n"], json!(9_999));
    // 9,999 % 7 == 3: slot3 was just set, slot4 six versions before.
    assert_eq!(app(&h).history.cursor_state().unwrap()["slot3"], json!(9_999));
    assert_eq!(app(&h).history.cursor_state().unwrap()["slot4"], json!(9_993));
    h.key_press(Key::End);
    h.step();
    wait_until(&mut h, "the last version's state", |h| app(h).history.cursor_state().is_some());
    assert_eq!(app(&h).history.cursor_state().unwrap()["n"], json!(events));
    let history = app(&h).history.history().unwrap();
    assert!(history.resident() <= WINDOW_EVENTS + 2 * LOAD_PAGE, "{} events in memory", history.resident());

    // The stream changes while it is open: a page read again says so, and it can be opened again
    // at the same version.
    let history = app(&h).history.history().unwrap();
    let page = (0..events / LOAD_PAGE).find(|&p| !history.is_page_resident(p)).expect("a page let go");
    let first = (page * LOAD_PAGE) as i64 + 1;
    db.exec(&format!(
        "DELETE FROM events WHERE aggregate_id = 'acc-1' AND version BETWEEN {} AND {};",
        first + 100,
        first + 110
    ));
    app_mut(&mut h).history.jump_to_version(first + 2).unwrap();
    wait_until(&mut h, "the changed page", |h| app(h).history.load_error().is_some());
    assert!(app(&h).history.load_error().unwrap().contains("changed while it was open"));
    assert!(h.query_all_by_label_contains("cannot be read again").next().is_some(), "no endless spinner");
    h.get_by_label("Open it again").click();
    h.step();
    wait_until(&mut h, "the stream read again", |h| {
        let view = &app(h).history;
        !view.is_loading() && view.load_error().is_none() && view.cursor_state().is_some()
    });
    assert_eq!(app(&h).history.cursor_version(), Some(first + 2), "at the same version");
    assert_eq!(app(&h).history.history().unwrap().len(), events - 11);
}

#[test]
fn a_move_by_the_user_cancels_a_deep_links_pending_version() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    app_mut(&mut h).history.go_to_version_when_loaded(Some(2));
    h.key_press(Key::Home);
    h.step();
    h.step();
    app_mut(&mut h).history.push_events(Vec::new(), true);
    assert_eq!(app(&h).history.cursor_version(), Some(1), "Home stays where the user went");
}

/// The streams panel of a big store (its counts are estimates) on the workshop store, with its
/// own worker: the panel alone, as the window shows it.
struct StreamsUnderTest {
    panel: eventscope::ui::streams::StreamsPanel,
    worker: eventscope::worker::Worker,
}

#[test]
fn on_a_big_store_an_order_no_index_gives_is_sorted_in_the_background() {
    use eventscope::store::StoreCounts;
    use eventscope::ui::streams::StreamsPanel;
    use eventscope::worker::{Reply, Request, Worker};
    let mut worker = Worker::spawn(|| {});
    let open = worker.send(Request::Open { target: Target::Sqlite(workshop().path()), layout: None });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the store did not open");
        match worker.try_recv() {
            Some((id, Reply::Opened { .. })) if id == open => break,
            Some((id, reply)) if id == open => panic!("{reply:?}"),
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let counts = StoreCounts { streams: Some(73), events: 2_679, estimated: true };
    let state = StreamsUnderTest { panel: StreamsPanel::new(true, false, counts), worker };
    let mut h = Harness::builder().with_size(egui::vec2(400.0, 900.0)).build_ui_state(
        |ui, s: &mut StreamsUnderTest| {
            while let Some((id, reply)) = s.worker.try_recv() {
                s.panel.on_reply(id, reply);
            }
            s.panel.ui(ui, &mut s.worker);
        },
        state,
    );
    let wait = |h: &mut Harness<'_, StreamsUnderTest>, what: &str, done: &dyn Fn(&StreamsPanel) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&h.state().panel) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            h.step();
            std::thread::sleep(Duration::from_millis(5));
        }
        h.step();
    };
    wait(&mut h, "the first page", &|p| p.rows().len() == 73);
    let by_id: Vec<String> = h.state().panel.rows().iter().map(|r| r.stream.0.clone()).collect();
    h.get_by_label("Sort").click();
    h.step();
    h.step();
    h.get_by_label("most recent").click();
    h.step();
    // The list by id stays, usable, while the whole store is sorted.
    assert!(h.state().panel.is_sorting());
    assert_eq!(h.state().panel.rows().iter().map(|r| r.stream.0.clone()).collect::<Vec<_>>(), by_id);
    assert!(h.query_by_label_contains("Sorting every stream").is_some());
    wait(&mut h, "the sort", &|p| !p.is_sorting());
    let rows = h.state().panel.rows();
    assert_eq!(rows.len(), 73);
    assert!(rows.windows(2).all(|w| w[0].last_recorded_at >= w[1].last_recorded_at), "most recent first");
    assert_ne!(rows.iter().map(|r| r.stream.0.clone()).collect::<Vec<_>>(), by_id);
    assert!(h.query_by_label_contains("Sorting every stream").is_none());
}

/// A stream longer than the count's cap is listed at once from the index, "10000+ events"
/// with its last version; a short one is counted exactly.
#[test]
fn a_long_streams_count_in_the_list_is_said_to_be_a_lower_bound() {
    let long = eventscope::store::query::STREAM_COUNT_CAP + 50;
    let db = TestDb::new(Backend::Sqlite, "long_in_list");
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL,
                              payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));
         WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < {long})
         INSERT INTO events SELECT 'long', v, 'E', '{{}}' FROM n;
         INSERT INTO events VALUES ('short', 1, 'E', '{{}}'), ('short', 2, 'E', '{{}}'), ('short', 3, 'E', '{{}}');"
    ));
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the streams", |h| app(h).streams.rows().len() == 2);
    let capped = format!("{}+ events · v{long}", eventscope::store::query::STREAM_COUNT_CAP);
    assert!(h.query_by_label_contains(&capped).is_some(), "{capped}");
    assert!(h.query_by_label_contains("3 events · v3").is_some());
    assert!(h.query_by_label_contains("3+ events").is_none());
}

/// The newest page of a long stream is shown before the pages from the start arrive: the
/// replies to the panel's reads are handed over with the first page held back.
#[test]
fn a_long_streams_newest_page_is_shown_before_its_first() {
    use eventscope::ui::history::{HistoryPanel, LOAD_PAGE};
    use eventscope::worker::{Reply, Request, Worker};
    let events = 3 * LOAD_PAGE + 7;
    let db = TestDb::new(Backend::Sqlite, "newest_first");
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL,
                              payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));
         WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < {events})
         INSERT INTO events SELECT 'long', v, 'E', json_object('n', v) FROM n;"
    ));
    let mut worker = Worker::spawn(|| {});
    let open = worker.send(Request::Open { target: Target::Sqlite(db.path()), layout: None });
    let mut held = Vec::new();
    let mut panel = HistoryPanel::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut opened = false;
    while !panel.showing_newest_page() {
        assert!(Instant::now() < deadline, "the newest page was not shown");
        panel.pump(&mut worker);
        let Some((id, reply)) = worker.try_recv() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        match reply {
            Reply::Opened { .. } if id == open => {
                opened = true;
                panel.open_stream("long", &mut worker);
            }
            // The first page is held back.
            Reply::StreamPage { ref events, .. } if events.first().is_some_and(|e| e.version == 1) => {
                held.push((id, reply))
            }
            reply => assert!(panel.on_reply(id, reply).is_none() || !opened),
        }
    }
    assert_eq!(panel.cursor_version(), Some(events as i64), "the cursor on the newest event");
    assert!(panel.history().is_none_or(|h| h.is_empty()), "nothing from the start yet");
    // Then the pages from the start: the newest page is placed exactly, the cursor stays on it.
    for (id, reply) in held {
        panel.on_reply(id, reply);
    }
    // (Frames fold what was read; reading waits for the fold.)
    let window = egui::Context::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while panel.is_loading() || panel.history().is_some_and(|h| h.is_folding()) {
        assert!(Instant::now() < deadline, "the stream did not load");
        let mut output = window.run_ui(egui::RawInput::default(), |ui| panel.ui(ui));
        output.textures_delta.clear();
        panel.pump(&mut worker);
        match worker.try_recv() {
            Some((id, reply)) => assert!(panel.on_reply(id, reply).is_none()),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!(panel.history().unwrap().len(), events);
    assert_eq!(panel.cursor_version(), Some(events as i64));
    assert_eq!(panel.cursor(), events - 1);
}

/// A JSON text of `value` with its keys in reverse order and every whole number written with
/// a `.0` (and every `x.0` without): the same values, spelled differently.
fn respelled(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!("{}: {}", serde_json::to_string(k).unwrap(), respelled(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        serde_json::Value::Array(items) => format!("[{}]", items.iter().map(respelled).collect::<Vec<_>>().join(", ")),
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            match text.strip_suffix(".0") {
                Some(whole) => whole.to_owned(),
                None if !text.contains(['.', 'e', 'E']) => format!("{text}.0"),
                None => text,
            }
        }
        other => other.to_string(),
    }
}

#[test]
fn snapshot_drift_compares_values_not_spellings_and_names_a_foreign_shape() {
    let db = TestDb::new(Backend::Sqlite, "gui_drift_spelling");
    let store = db.write_workshop();
    let stale = eventscope::demo::order_stream(eventscope::demo::STALE_SNAPSHOT_ORDER);
    let mut fresh = store.snapshots.iter().filter(|s| s.aggregate_id != stale && s.aggregate_id.starts_with("0000"));
    let respelt = fresh.next().expect("a snapshot that is not stale");
    let foreign = fresh.find(|s| s.aggregate_id != respelt.aggregate_id).expect("another");
    let text = respelled(&respelt.state);
    assert_ne!(text, respelt.state.to_string(), "the spelling differs");
    db.exec(&format!(
        "UPDATE snapshots SET state = '{}' WHERE aggregate_id = '{}' AND version = {}",
        text.replace('\'', "''"),
        respelt.aggregate_id,
        respelt.version
    ));
    db.exec(&format!(
        "UPDATE snapshots SET state = '{{\"balance\": 10, \"owner\": \"x\", \"opened\": true, \"limits\": [], \"tier\": 2}}' \
         WHERE aggregate_id = '{}' AND version = {}",
        foreign.aggregate_id, foreign.version
    ));

    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    app_mut(&mut h).open_event(&respelt.aggregate_id, respelt.version);
    wait_until(&mut h, "the respelt snapshot", |h| {
        app(h).history.cursor_version() == Some(respelt.version) && !app(h).history.snapshots().is_empty()
    });
    h.step();
    assert!(h.query_by_label_contains("matches the state recomputed from the events").is_some());
    assert!(h.query_by_label_contains("snapshot drift").is_none());

    app_mut(&mut h).open_event(&foreign.aggregate_id, foreign.version);
    wait_until(&mut h, "the foreign snapshot", |h| {
        app(h).history.stream() == Some(foreign.aggregate_id.as_str())
            && app(h).history.cursor_version() == Some(foreign.version)
            && !app(h).history.snapshots().is_empty()
    });
    h.step();
    assert!(h.query_by_label_contains("does not have the shape of the state this fold computes").is_some());
    assert!(h.query_by_label_contains("snapshot drift").is_none(), "not a list of every field");
}

#[test]
fn a_stream_is_found_by_its_business_label_and_nothing_found_offers_audit() {
    let db = workshop();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the streams and their labels", |h| {
        h.query_by_label("73 streams").is_some() && app(h).streams.label(&stream).is_some()
    });
    // Each stream shows its category and label (the order id of its first event).
    let label = app(&h).streams.label(&stream).unwrap().clone();
    assert_eq!((label.category.as_deref(), label.label.as_deref()), (Some("Order"), Some("ORD-1042")));

    h.get_by_role(egui::Role::TextInput).focus();
    h.step();
    h.get_by_role(egui::Role::TextInput).type_text("ord-1042");
    wait_until(&mut h, "the search", |h| h.query_by_label("(1 by label)").is_some());
    assert_eq!(app(&h).streams.rows().first().map(|r| r.stream.0.as_str()), Some(stream.as_str()));
    h.key_press(Key::Escape);
    h.step();
    h.get_by_label(&stream).click();
    wait_until(&mut h, "the stream", |h| app(h).history.history().is_some_and(|x| x.len() == 4));
    // The header names it by its label too.
    h.step();
    let header = app(&h).history.layout.label.clone().and_then(|l| l.label);
    assert_eq!(header.as_deref(), Some("ORD-1042"));

    // Nothing by id or label: say so, and offer the payloads in Audit.
    // (The streams search is the first text field; the history has its own.)
    h.get_all_by_role(egui::Role::TextInput).next().expect("the search field").focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    h.step();
    h.get_all_by_role(egui::Role::TextInput).next().unwrap().type_text("PAY-70533");
    wait_until(&mut h, "no match", |h| h.query_by_label_contains("nor the label of a stream").is_some());
    h.get_by_label_contains("Search the payloads for “PAY-70533” in Audit").click();
    h.step();
    assert_eq!(app(&h).view, eventscope::ui::View::Audit);
    wait_until(&mut h, "the audit rows", |h| !app(h).audit.rows().is_empty() && !app(h).audit.is_busy());
    assert!(app(&h).audit.rows().iter().all(|e| e.stream.0 == stream), "PAY-70533 is ORD-1042's payment");
}

#[test]
fn the_streams_list_filters_by_category() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "every stream's label", |h| {
        let streams = &app(h).streams;
        streams.rows().len() == 73 && streams.rows().iter().all(|r| streams.label(&r.stream.0).is_some())
    });
    let first_order = app(&h).streams.rows().iter().find_map(|r| app(&h).streams.label(&r.stream.0)?.label.clone());
    let first_order = first_order.expect("a labelled stream");
    assert!(h.query_by_label(&first_order).is_some(), "{first_order} is in view before");
    h.get_by_label("category").click();
    h.step();
    h.step();
    h.get_all_by_label("CustomerAccount").last().expect("the category in the list").click();
    h.step();
    h.step();
    // Only account streams are listed: no order label is left.
    assert!(h.query_by_label(&first_order).is_none() && h.query_by_label("ORD-1042").is_none());
    assert!(h.query_all_by_label("CustomerAccount").count() > 1, "the rows say their category");
}

#[test]
fn check_snapshots_marks_and_lists_the_streams_with_drift() {
    let db = workshop();
    let stale = order_stream(eventscope::demo::STALE_SNAPSHOT_ORDER);
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the streams list", |h| h.query_by_label("73 streams").is_some());
    h.get_by_label("📷 Check snapshots").click();
    h.step();
    wait_until(&mut h, "the check", |h| !app(h).streams.drift.is_running());
    assert!(h.query_by_label("⚠ 1 of 43 drift").is_some(), "the totals are said");
    // The stale order is marked in the list, and is the one stream the filter keeps.
    assert_eq!(app(&h).streams.drift.drifting().map(|c| c.stream.clone()).collect::<Vec<_>>(), vec![stale.clone()]);
    h.get_by_label("only streams with drift (1)").click();
    h.step();
    assert!(h.query_by_label("73 streams").is_some() && h.query_by_label(&order_stream(DOUBLE_REFUND_ORDER)).is_none());
    h.get_by_label(&format!("⚠ {stale}")).click();
    h.step();
    wait_until(&mut h, "the stale order at its first drifting snapshot", |h| {
        app(h).history.stream() == Some(stale.as_str()) && app(h).history.cursor_version() == Some(3)
    });
    wait_until(&mut h, "the drift", |h| h.query_by_label_contains("snapshot drift: 3 differences").is_some());
}

#[test]
fn bisect_goes_to_the_first_version_where_a_condition_holds() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    h.get_by_label("🔎 Bisect").click();
    h.step();
    // Typed into the field next to "First version where", then Enter.
    fn bisect_field<'h>(h: &'h Harness<'_, UnderTest>) -> egui_kittest::Node<'h> {
        let label = h.get_by_label("First version where").rect();
        h.get_all_by_role(egui::Role::TextInput)
            .find(|n| n.rect().top() >= label.bottom() && n.rect().top() < label.bottom() + 20.0)
            .expect("the condition field")
    }
    bisect_field(&h).focus();
    h.step();
    bisect_field(&h).type_text("state.status === 'refund_requested'");
    h.step();
    h.key_press(Key::Enter);
    h.step();
    wait_until(&mut h, "the search", |h| !app(h).history.bisect_outcome().0);
    assert_eq!(app(&h).history.cursor_version(), Some(3));
    assert!(h.query_by_label_contains("first holds after v3").is_some());
    // A condition that throws says where; one that never holds says so.
    app_mut(&mut h).history.bisect("state.nothing.here");
    wait_until(&mut h, "the search", |h| !app(h).history.bisect_outcome().0);
    assert!(h.query_by_label_contains("TypeError").is_some());
    app_mut(&mut h).history.bisect("state.status === 'shipped'");
    wait_until(&mut h, "the search", |h| !app(h).history.bisect_outcome().0);
    assert!(h.query_by_label_contains("does not hold at the states asked").is_some());
    h.get_by_label("Ask every state").click();
    h.step();
    wait_until(&mut h, "every state asked", |h| !app(h).history.bisect_outcome().0);
    assert!(h.query_by_label_contains("never holds in the 4 events (asked of 5 of its 5 states)").is_some());
    assert_eq!(app(&h).history.cursor_version(), Some(3), "the cursor stays");

    // In every order: the streams where it holds, listed; one click opens another at its version.
    app_mut(&mut h).history.bisect("state.status === 'refund_requested'");
    wait_until(&mut h, "the search", |h| !app(h).history.bisect_outcome().0);
    h.get_by_label("🔎 In every Order stream").click();
    h.step();
    wait_until(&mut h, "every order", |h| {
        app(h).history.category_bisection().is_some_and(|(_, total, _)| total.is_some())
    });
    let (checked, total, holding) = app(&h).history.category_bisection().unwrap();
    assert_eq!((checked, total), (60, Some(60)));
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    assert!(holding.iter().any(|b| b.stream == stream && b.version == Some(3)), "{holding:?}");
    let other = holding.iter().find(|b| b.stream != stream).expect("another refunded order").clone();
    assert!(h.query_by_label_contains(&format!("holds in {} of the 60 Order streams", holding.len())).is_some());
    h.get_by_label(&format!("{} · v{} {}", other.stream, other.version.unwrap(), other.event_type.clone().unwrap()))
        .click();
    h.step();
    wait_until(&mut h, "the other order at its version", |h| {
        app(h).history.stream() == Some(other.stream.as_str()) && app(h).history.cursor_version() == other.version
    });
    assert!(app(&h).history.category_bisection().is_some(), "the list stays while its streams are opened");
}

#[test]
fn a_test_fixture_is_cut_from_a_timeline_row() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    h.get_by_label("v4 RefundRequested").click_secondary();
    h.step();
    h.step();
    h.get_by_label("✂ Test fixture of v4 (given the events before it)").click();
    // (A window is measured in its first frame, and shown from the next.)
    for _ in 0..4 {
        h.step();
    }
    // Mask the actor, then cut: given v1..v3, then v4.
    fn mask_field<'h>(h: &'h Harness<'_, UnderTest>) -> egui_kittest::Node<'h> {
        let label = h.get_by_label_contains("Mask personal data").rect();
        h.get_all_by_role(egui::Role::MultilineTextInput)
            .find(|n| n.rect().top() >= label.bottom() && n.rect().top() < label.bottom() + 20.0)
            .expect("the mask paths field")
    }
    mask_field(&h).focus();
    h.step();
    mask_field(&h).type_text("/metadata/actor");
    h.step();
    h.get_by_label("✂ Cut").click();
    h.step();
    wait_until(&mut h, "the fixture", |h| {
        let (running, outcome) = app(h).history.fixture_outcome();
        !running && outcome.is_some()
    });
    let text = app(&h).history.fixture_outcome().1.unwrap().expect("a fixture").to_owned();
    let fixture: serde_json::Value = serde_json::from_str(&text).expect("JSON by default");
    assert_eq!(fixture["given"].as_array().unwrap().len(), 3);
    assert_eq!(fixture["then"][0]["version"], json!(4));
    assert!(!text.contains("staff:grace"), "the actor is masked");
    assert!(h.query_by_label_contains("3 events given, 1 event then").is_some());
    assert!(h.query_by_label("📋 Copy").is_some() && h.query_by_label("💾 Save…").is_some());
}

#[test]
fn the_types_view_infers_schemas_and_opens_an_event_that_does_not_fit() {
    let db = TestDb::new(Backend::Sqlite, "types_view");
    db.write_workshop();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    db.exec(&format!(
        "UPDATE events SET payload = '{{\"lines\": []}}' WHERE aggregate_id = '{stream}' AND version = 1"
    ));
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("Types").click();
    h.step();
    assert!(h.query_by_label("Event contracts").is_some(), "an empty state, nothing read on opening");
    h.get_by_label("🔎 Infer schemas").click();
    h.step();
    wait_until(&mut h, "the survey", |h| !app(h).types.is_running() && !app(h).types.inferred().is_empty());
    let inferred = app(&h).types.inferred();
    let placed = inferred.iter().find(|(label, _, _)| label == "OrderPlaced").expect("OrderPlaced");
    assert_eq!(placed.2, 1, "{inferred:?}");
    h.get_by_label_contains("OrderPlaced ").click();
    h.step();
    assert!(h.query_by_label_contains("/customer_id").is_some());
    h.get_by_label_contains(&format!("{stream} v1 — ")).click();
    h.step();
    wait_until(&mut h, "the event in its history", |h| {
        app(h).history.stream() == Some(stream.as_str()) && app(h).history.cursor_version() == Some(1)
    });
    assert_eq!(app(&h).view, eventscope::ui::View::History);
    // The outliers as an Audit filter: exactly the broken event.
    h.get_by_label("Types").click();
    h.step();
    h.get_by_label("📜 Outliers in Audit").click();
    h.step();
    assert_eq!(app(&h).view, eventscope::ui::View::Audit);
    wait_until(&mut h, "the audit rows", |h| app(h).audit.count.is_some() && !app(h).audit.is_busy());
    assert_eq!(app(&h).audit.count, Some(1));
    let row = &app(&h).audit.rows()[0];
    assert_eq!((row.stream.0.as_str(), row.version), (stream.as_str(), 1));
    assert!(h.query_by_label_contains("📜 contract outliers: 1 event").is_some());
}

#[test]
fn a_what_if_run_lists_the_streams_it_would_change_and_opens_one() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("What-if").click();
    h.step();
    assert!(h.query_by_label("What if…").is_some(), "an empty state first");
    h.get_by_label("what-if script").click();
    h.step();
    h.step();
    h.get_by_label("no_retried_refunds.js").click();
    h.step();
    h.step();
    h.get_by_label("▶ Run").click();

    h.step();
    wait_until(&mut h, "the run", |h| !app(h).whatif.is_running() && app(h).whatif.outcome().is_some());
    let outcome = app(&h).whatif.outcome().unwrap().clone();
    assert_eq!((outcome.streams_seen, outcome.streams_touched, outcome.events_skipped), (60, 1, 1));
    assert!(h.query_by_label_contains("1 of 60 streams touched").is_some());
    assert!(h.query_by_label("Would skip v4").is_some());
    assert!(h.query_by_label("State if the script ran").is_some());
    h.get_by_label("Open in the history").click();
    h.step();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    wait_until(&mut h, "the stream in its history", |h| {
        app(h).history.stream() == Some(stream.as_str()) && !app(h).history.is_loading()
    });
}

#[test]
fn a_what_if_compares_a_read_model_as_it_is_and_as_it_would_be() {
    let db = workshop();
    let mut h = harness(Target::Sqlite(db.path()));
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("What-if").click();
    h.step();
    h.get_by_label("what-if script").click();
    h.step();
    h.step();
    h.get_by_label("tax_one_more_week.js").click();
    h.step();
    h.step();
    h.get_by_label("▶ Run").click();
    h.step();
    wait_until(&mut h, "the run", |h| !app(h).whatif.is_running() && app(h).whatif.outcome().is_some());
    let touched = app(&h).whatif.outcome().unwrap().streams_touched;
    h.get_by_label("Read model (SQL)").click();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("Choose a projection").is_some(), "an empty state first");
    h.get_by_label("projection").click();
    h.step();
    h.step();
    h.get_by_label("order_totals.sqlite.sql").click();
    h.step();
    h.step();
    h.get_by_label("▶ Compare read model").click();
    h.step();
    wait_until(&mut h, "the comparison", |h| {
        !app(h).whatif.is_running() && app(h).whatif.read_model.change().is_some()
    });
    let change = app(&h).whatif.read_model.change().unwrap().clone();
    assert_eq!(change.comparison.changed.len(), touched);
    assert_eq!((change.comparison.added.len(), change.comparison.removed.len()), (0, 0));
    assert!(h.query_by_label_contains(&format!("{touched} rows would change")).is_some());
    assert!(h.query_by_label("if the script ran").is_some());
    // The first changed order's tax, now and if the job ran, side by side.
    let (key, _, if_run) = &change.comparison.changed[0];
    assert!(h.query_all_by_label(key).count() >= 1);
    assert!(h.query_by_label(&if_run["tax"].to_string()).is_some());
}

#[test]
fn a_followed_stream_grows_as_a_writer_appends() {
    use sqlx::{ConnectOptions, Executor};
    let db = TestDb::new(Backend::Sqlite, "follow_view");
    let demo = db.write_workshop();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    // The application that owns the store: WAL mode, its connection open all along (its first
    // write comes after eventscope opened the file, which then had no WAL to read).
    let mut writer = common::block_on(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db.path())
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .connect(),
    )
    .unwrap();
    let mut position = demo.events.len() as i64;
    let mut append = |version: i64| {
        position += 1;
        let sql = format!(
            "INSERT INTO events VALUES ({position}, '{stream}', 'Order', {version}, 'OrderNoteAdded', \
             '{{\"note\": \"v{version}\"}}', '{{\"actor\": \"staff:ann\"}}', '2026-04-01T10:00:0{version}.000Z')"
        );
        common::block_on(writer.execute(sqlx::AssertSqlSafe(sql))).unwrap();
    };
    let mut h = harness(Target::Sqlite(db.path()));
    open_order_1042(&mut h);
    wait_until(&mut h, "the stream read", |h| !app(h).history.is_loading());
    assert_eq!(app(&h).history.cursor_version(), Some(4));
    assert!(app(&h).status.store.as_deref().is_some_and(|s| s.contains("immutable")), "{:?}", app(&h).status.store);
    h.get_by_label("📡 Follow").click();
    h.step();
    assert!(app(&h).history.is_following());
    append(5);
    append(6);
    wait_until(&mut h, "the appended events", |h| app(h).history.cursor_version() == Some(6));
    assert!(h.query_by_label("version 6 of 6").is_some(), "the cursor stays on the newest event");
    // Opened again to follow the writer, the status bar says how it is open now.
    assert!(app(&h).status.store.as_deref().is_some_and(|s| !s.contains("immutable")), "{:?}", app(&h).status.store);
    assert_eq!(app(&h).history.unseen_from(), None);
    // Elsewhere in the stream, what arrives is marked until the user goes to it.
    h.key_press(Key::Home);
    h.step();
    append(7);
    wait_until(&mut h, "the event appended meanwhile", |h| app(h).history.unseen_from() == Some(6));
    assert_eq!(app(&h).history.cursor_version(), Some(1), "the cursor stays where the user put it");
    h.get_by_label("🆕 1 new event ⏭").click();
    h.step();
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(7));
    assert_eq!(app(&h).history.unseen_from(), None);
    assert!(h.query_by_label_contains("7 events · v7").is_some(), "the streams list counts them");
    // Audit follows the log under its filter: new events at the top, marked until seen.
    h.get_by_label("Audit").click();
    h.step();
    wait_until(&mut h, "the audit rows", |h| app(h).audit.count.is_some() && !app(h).audit.is_busy());
    let before = app(&h).audit.count.unwrap();
    h.get_by_label("📡 Follow").click();
    h.step();
    assert!(app(&h).audit.is_following());
    // (The first look starts the follower at the newest event.)
    wait_until(&mut h, "the first look", |h| app(h).audit.follows_from_now());
    append(8);
    append(9);
    wait_until(&mut h, "the appended events in Audit", |h| app(h).audit.arrived() == 2);
    let rows = app(&h).audit.rows();
    assert_eq!((rows[0].version, rows[1].version), (9, 8), "newest first");
    assert_eq!(app(&h).audit.count, Some(before + 2));
    assert!(h.query_by_label_contains("🆕 2 new events").is_some());
}
