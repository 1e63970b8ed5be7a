//! Lessons and the guided tour: a lesson exported from the workshop store on each backend is a
//! SQLite store in the article's layout that opens with no database, masks what it was told to,
//! and plays its steps in the window (each step opens the right view, stream, version, fold,
//! audit question or SQL preview); the tour's steps all resolve on the workshop store, and the
//! tour is offered once. A projection run's position is bookmarked and run again from the bookmarks.

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, block_on};
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventscope::demo::{BUSY_CUSTOMER, DOUBLE_REFUND_ORDER, STALE_SNAPSHOT_ORDER, account_stream, order_stream};
use eventscope::lesson::{ExportRequest, LessonScript, ScriptKind, Step, StepFilter};
use eventscope::store::audit::AuditFilter;
use eventscope::store::{Store, Target};
use eventscope::ui::lesson::{NEXT_STEP, PREVIOUS_STEP};
use eventscope::ui::settings::Bookmark;
use eventscope::ui::{AppOptions, EventscopeApp, Screen, View};

struct UnderTest {
    start: Option<(Target, AppOptions)>,
    app: Option<EventscopeApp>,
}

fn harness(target: Target, options: AppOptions) -> Harness<'static, UnderTest> {
    Harness::builder().with_size(egui::vec2(1280.0, 800.0)).build_ui_state(
        |ui, s: &mut UnderTest| {
            if let Some((target, options)) = s.start.take() {
                s.app = Some(EventscopeApp::new(ui.ctx(), Some(target), None, options));
            }
            if let Some(app) = s.app.as_mut() {
                app.show(ui);
            }
        },
        UnderTest { start: Some((target, options)), app: None },
    )
}

fn app<'a>(h: &'a Harness<'_, UnderTest>) -> &'a EventscopeApp {
    h.state().app.as_ref().expect("app")
}

fn app_mut<'a>(h: &'a mut Harness<'_, UnderTest>) -> &'a mut EventscopeApp {
    h.state_mut().app.as_mut().expect("app")
}

fn wait_until(h: &mut Harness<'_, UnderTest>, what: &str, done: impl Fn(&Harness<'_, UnderTest>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(h) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.step();
}

fn press(h: &mut Harness<'_, UnderTest>, shortcut: egui::KeyboardShortcut) {
    h.key_press_modifiers(shortcut.modifiers, shortcut.logical_key);
    h.step();
}

/// At this stream and version, with the state folded there.
fn at_version(h: &Harness<'_, UnderTest>, stream: &str, version: i64) -> bool {
    let app = app(h);
    app.view == View::History
        && app.history.stream() == Some(stream)
        && app.history.cursor_version() == Some(version)
        && !app.history.is_settling()
        && app.history.cursor_state().is_some()
}

fn status_of(h: &Harness<'_, UnderTest>) -> Option<String> {
    app(h).history.cursor_state().and_then(|s| s.get("status").and_then(|v| v.as_str()).map(str::to_owned))
}

/// The SQL preview has rows.
fn previewed(h: &Harness<'_, UnderTest>) -> bool {
    app(h).view == View::Sql && app(h).sql.result().is_some_and(|r| r.as_ref().is_ok_and(|set| !set.rows.is_empty()))
}

/// The first event listed in Audit is chosen, and what it caused is read.
fn cause_tree_read(h: &Harness<'_, UnderTest>, event_type: &str) -> bool {
    let audit = &app(h).audit;
    app(h).view == View::Audit
        && audit.selected_event().is_some_and(|e| e.event_type == event_type)
        && audit.correlation().is_some_and(|c| c.tree.count() > 1)
}

fn export_lesson(backend: Backend) {
    let shared = common::workshop(backend);
    let store = shared.db.open();
    let order = order_stream(DOUBLE_REFUND_ORDER);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("double-refund.lesson.sqlite");
    let fold = include_str!("../../assets/folds/order.js");
    let sql = include_str!("../../assets/sql/orders_by_region.sqlite.sql");
    let history = |version: i64, title: &str, note: &str| Step {
        stream: Some(order.clone()),
        version: Some(version),
        fold: Some("order.js".into()),
        ..Step::new(title, note, View::History)
    };
    let steps = vec![
        history(4, "The retried refund", "v4 repeats v3."),
        history(2, "Before it", ""),
        Step {
            audit: Some(StepFilter { types: vec!["TaxRateChanged".into()], select_first: true, ..Default::default() }),
            ..Step::new("The tax change", "What one event caused.", View::Audit)
        },
        Step { script: Some("regions.sql".into()), ..Step::new("The read model", "", View::Sql) },
    ];
    let request = ExportRequest {
        title: "A refund paid twice".into(),
        streams: vec![order.clone(), order.clone()],
        // The tax change and every order it recalculated.
        filter: Some(AuditFilter {
            types: vec!["TaxRateChanged".into(), "OrderTaxRecalculated".into()],
            ..Default::default()
        }),
        scripts: vec![
            // (A fold named like the bundled one: the lesson's own is used.)
            LessonScript { name: "order.js".into(), kind: ScriptKind::Fold, source: fold.into() },
            LessonScript { name: "regions.sql".into(), kind: ScriptKind::Sql, source: sql.into() },
        ],
        steps,
        bookmarks: vec![
            Bookmark::version_of(order.clone(), 4, "the retried command".into()),
            Bookmark::version_of("not-in-the-lesson".into(), 1, "left out".into()),
        ],
        mask: eventscope::fixture::Mask::parse(&["/metadata/actor".into()]).unwrap(),
        source: shared.db.target.clone(),
    };
    let summary = block_on(eventscope::lesson::export(&store, request, &out, false)).expect("export");
    let recalculated = shared.demo.events.iter().filter(|e| e.event_type == "OrderTaxRecalculated").count();
    let in_order = shared.demo.events.iter().filter(|e| e.aggregate_id == order).count();
    let recalculated_in_order =
        shared.demo.events.iter().filter(|e| e.aggregate_id == order && e.event_type == "OrderTaxRecalculated").count();
    assert_eq!(summary.events, in_order + 1 + recalculated - recalculated_in_order, "{backend:?}");
    assert_eq!(summary.steps, 4);
    assert_eq!(summary.bookmarks, 1, "only the bookmarks of the lesson's streams");
    assert_eq!(summary.masked_values, summary.events, "every event's actor");

    // On PostgreSQL a UUID in capitals is the same stream: read once, given its step.
    if backend == Backend::Postgres {
        let shouted = ExportRequest { streams: vec![order.to_uppercase(), order.clone()], ..ExportRequest::default() };
        let summary = block_on(eventscope::lesson::export(&store, shouted, &dir.path().join("shouted.sqlite"), false))
            .expect("export by a UUID in capitals");
        assert_eq!((summary.events, summary.steps), (in_order, 1));
    }
    // A second export to the same file is refused without --force.
    let again = ExportRequest { streams: vec![order.clone()], ..ExportRequest::default() };
    assert!(block_on(eventscope::lesson::export(&store, again, &out, false)).is_err());

    // The file is a store in the article's layout that any tool reads: no database needed.
    let lesson_store = block_on(Store::open(Target::Sqlite(out.clone()), None)).expect("the lesson opens as a store");
    assert_eq!(lesson_store.layout.name, "events");
    let page = block_on(lesson_store.read_stream(&order, eventscope::store::EventCursor::from_version(i64::MIN), 100))
        .unwrap();
    assert_eq!(page.events.len(), in_order);
    assert_eq!(page.events[3].event_type, "RefundRequested");
    for event in &page.events {
        let actor = event.metadata.as_ref().and_then(|m| m.as_json()).and_then(|m| m.get("actor")).cloned();
        assert!(actor.as_ref().and_then(|a| a.as_str()).is_some_and(|a| a.starts_with("masked-")), "{actor:?}");
    }
    let lesson = block_on(eventscope::lesson::read(&lesson_store)).unwrap().expect("the lesson tables");
    assert_eq!(lesson.title, "A refund paid twice");
    assert_eq!(lesson.steps.len(), 4);
    assert_eq!(lesson.steps[2].audit.as_ref().unwrap().types, ["TaxRateChanged"]);
    assert_eq!(lesson.script("regions.sql", ScriptKind::Sql).as_deref(), Some(sql));
    // A store that is no lesson holds none.
    assert!(block_on(eventscope::lesson::read(&store)).unwrap().is_none());

    // Played in the window: each step opens what it says.
    let settings = tempfile::tempdir().unwrap();
    let options = AppOptions {
        recent_path: None,
        settings_path: Some(settings.path().join("views.json")),
        ..AppOptions::default()
    };
    let mut h = harness(Target::Sqlite(out.clone()), options);
    wait_until(&mut h, "the lesson file to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the first step", |h| at_version(h, &order, 4));
    assert_eq!(app(&h).lesson.position(), Some((0, 4)));
    assert!(h.query_by_label("The retried refund").is_some(), "the step's title is on screen");
    assert!(h.query_by_label("v4 repeats v3.").is_some(), "and its note");
    assert_eq!(status_of(&h).as_deref(), Some("refund_requested"), "folded with the lesson's order.js");
    assert!(app(&h).look.bookmarks.iter().any(|b| b.stream == order && b.version == 4), "the lesson's bookmark");
    press(&mut h, NEXT_STEP);
    wait_until(&mut h, "the second step", |h| at_version(h, &order, 2));
    assert_eq!(status_of(&h).as_deref(), Some("paid"));
    press(&mut h, NEXT_STEP);
    wait_until(&mut h, "the tax change's tree", |h| cause_tree_read(h, "TaxRateChanged"));
    press(&mut h, NEXT_STEP);
    wait_until(&mut h, "the lesson's SQL previewed", previewed);
    assert_eq!(app(&h).sql.text, sql);
    // The last step has no next; the previous one is the audit question again.
    press(&mut h, NEXT_STEP);
    assert_eq!(app(&h).lesson.position(), Some((3, 4)));
    press(&mut h, PREVIOUS_STEP);
    wait_until(&mut h, "the audit step again", |h| cause_tree_read(h, "TaxRateChanged"));
    // Ended, it is played again from Help.
    h.get_by_label("× End").click();
    h.step();
    assert!(app(&h).lesson.lesson().is_none());
    h.get_by_label("Help").click();
    h.step();
    h.step();
    h.get_by_label("📖 Play the lesson again: A refund paid twice").click();
    h.step();
    wait_until(&mut h, "the first step again", |h| at_version(h, &order, 4));
    drop(h);
    block_on(lesson_store.close());
}

crate::on_each_backend!(export_lesson);

#[test]
fn the_tour_is_offered_once_and_every_step_resolves_on_the_workshop_store() {
    let workshop = common::workshop(Backend::Sqlite);
    let settings = tempfile::tempdir().unwrap();
    let options = || AppOptions {
        recent_path: None,
        settings_path: Some(settings.path().join("views.json")),
        workshop_path: Some(workshop.db.path()),
    };
    let mut h = harness(Target::Sqlite(workshop.db.path()), options());
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(&mut h, "the tour to be offered", |h| h.query_by_label("🎓 Take the tour").is_some());
    h.get_by_label("🎓 Take the tour").click();
    h.step();
    let order = order_stream(DOUBLE_REFUND_ORDER);
    wait_until(&mut h, "ORD-1042 at v4", |h| at_version(h, &order, 4));
    assert!(app(&h).lesson.is_tour());
    assert_eq!(status_of(&h).as_deref(), Some("refund_requested"));
    assert!(h.query_by_label("A refund paid twice").is_some());
    press(&mut h, NEXT_STEP);
    wait_until(&mut h, "ORD-1013", |h| at_version(h, &order_stream(STALE_SNAPSHOT_ORDER), 1));
    press(&mut h, NEXT_STEP);
    wait_until(&mut h, "what the tax change caused", |h| cause_tree_read(h, "TaxRateChanged"));
    let caused = app(&h).audit.correlation().unwrap().tree.count() - 1;
    let recalculated = workshop.demo.events.iter().filter(|e| e.event_type == "OrderTaxRecalculated").count();
    assert!(caused >= recalculated, "{caused} events below the tax change, {recalculated} recalculations");
    press(&mut h, NEXT_STEP);
    let busy = account_stream(BUSY_CUSTOMER);
    wait_until(&mut h, "the reseller's account", |h| at_version(h, &busy, 1));
    assert!(app(&h).history.history().is_some());
    press(&mut h, NEXT_STEP);
    wait_until(&mut h, "orders_by_region previewed", previewed);
    // The steps list goes back to any step.
    assert_eq!(app(&h).lesson.position(), Some((4, 5)));
    h.key_press(Key::Escape);
    app_mut(&mut h).save_settings();
    drop(h);
    // Opened again: not offered a second time; Help plays it.
    let mut h = harness(Target::Sqlite(workshop.db.path()), options());
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    for _ in 0..5 {
        h.step();
    }
    assert!(h.query_by_label("🎓 Take the tour").is_none());
    assert!(!app(&h).lesson.offering_tour);
    h.get_by_label("Help").click();
    h.step();
    h.step();
    h.get_by_label("🎓 Guided tour of the workshop store").click();
    h.step();
    wait_until(&mut h, "the tour's first step", |h| at_version(h, &order, 4));
}

#[test]
fn a_projection_run_position_is_bookmarked_and_run_again_from_the_bookmarks() {
    let workshop = common::workshop(Backend::Sqlite);
    let mut h = harness(Target::Sqlite(workshop.db.path()), AppOptions::default());
    wait_until(&mut h, "the store to open", |h| app(h).screen == Screen::Explorer);
    h.get_by_label("Projections").click();
    h.step();
    h.get_by_label("script").click();
    h.step();
    h.step();
    h.get_by_label("refunds_per_customer.js (example)").click();
    h.step();
    wait_until(&mut h, "the run", |h| !app(h).projections.is_running());
    h.key_press(Key::End);
    h.step();
    h.key_press(Key::PageUp);
    h.step();
    let position = app(&h).projections.view().and_then(|v| v.cursor_version()).expect("a position");
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::D);
    h.step();
    h.step();
    let mark = app(&h).look.bookmarks.last().cloned().expect("a bookmark");
    assert_eq!((mark.stream.as_str(), mark.version), ("refunds_per_customer.js", position));
    assert!(mark.projection.is_some());
    assert!(app(&h).bookmarks.open);
    // Another script runs; the bookmark runs this one again and goes there.
    app_mut(&mut h).bookmarks.open = false;
    h.step();
    h.get_by_label("script").click();
    h.step();
    h.step();
    h.get_by_label("orders_by_region.js (example)").click();
    h.step();
    wait_until(&mut h, "the other run", |h| !app(h).projections.is_running());
    h.get_by_label("View").click();
    h.step();
    h.step();
    h.get_by_label("🔖 Bookmarks").click();
    h.step();
    h.step();
    h.get_by_label(&format!("📽 refunds_per_customer.js #{position}")).click();
    h.step();
    wait_until(&mut h, "the bookmarked position", |h| {
        let view = app(h).projections.view();
        app(h).projections.script().is_some_and(|s| s.name() == "refunds_per_customer.js")
            && view.is_some_and(|v| v.cursor_version() == Some(position) && !v.is_loading())
    });
    assert_eq!(app(&h).view, View::Projections);
}
