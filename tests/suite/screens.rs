//! The history view on the screens people have (1024x768, 1280x800, 1920x1080), driven with
//! egui_kittest on the workshop store: every part fits, the diff keeps the size the user gives
//! it, presenter mode and the streams panel follow their keys, and the window remembers each
//! store's look and place.

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, TestDb};
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventscope::demo::{DOUBLE_REFUND_ORDER, order_stream};
use eventscope::store::Target;
use eventscope::ui::settings::ThemeChoice;
use eventscope::ui::{AppOptions, EventscopeApp, PRESENTER_SHORTCUT, STREAMS_PANEL_SHORTCUT, Screen, StartAt};

struct UnderTest {
    start: Option<(Target, AppOptions, Option<StartAt>)>,
    app: Option<EventscopeApp>,
}

fn harness(size: egui::Vec2, options: AppOptions, start: Option<StartAt>) -> Harness<'static, UnderTest> {
    let target = Target::Sqlite(workshop().path());
    Harness::builder().with_size(size).build_ui_state(
        |ui, s: &mut UnderTest| {
            if let Some((target, options, start)) = s.start.take() {
                s.app = Some(EventscopeApp::new(ui.ctx(), Some(target), None, options).start_at(start));
            }
            if let Some(app) = s.app.as_mut() {
                app.show(ui);
            }
        },
        UnderTest { start: Some((target, options, start)), app: None },
    )
}

fn workshop() -> &'static TestDb {
    &common::workshop(Backend::Sqlite).db
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

fn at_order_1042() -> Option<StartAt> {
    Some(StartAt { stream: Some(order_stream(DOUBLE_REFUND_ORDER)), ..StartAt::default() })
}

fn wait_for_order_1042(h: &mut Harness<'_, UnderTest>) {
    wait_until(h, "the store to open", |h| app(h).screen == Screen::Explorer);
    wait_until(h, "the stream to load", |h| {
        app(h).history.history().is_some_and(|x| x.len() == 4) && !app(h).history.is_loading()
    });
    // (A few frames for the panels to settle.)
    for _ in 0..3 {
        h.step();
    }
}

/// The rect of the widget with this label (the first, when several have it).
fn rect_of(h: &Harness<'_, UnderTest>, label: &str) -> egui::Rect {
    h.query_all_by_label(label).next().unwrap_or_else(|| panic!("nothing labelled {label:?}")).rect()
}

/// Each of these is drawn whole, inside the window (of `size` pixels: at a zoom, fewer points).
fn assert_inside(h: &Harness<'_, UnderTest>, size: egui::Vec2, labels: &[&str]) {
    let window = h.ctx.content_rect();
    assert_eq!(window.size() * h.ctx.zoom_factor(), size);
    for label in labels {
        let rect = rect_of(h, label);
        assert!(window.contains_rect(rect), "{label:?} at {rect:?} is not inside the {size:?} window at {window:?}");
    }
}

#[test]
fn the_history_fits_each_screen() {
    // (The last: a 1920x1080 projector at 150 % zoom.)
    for (width, height, zoom) in
        [(1024.0, 768.0, 1.0), (1280.0, 800.0, 1.0), (1920.0, 1080.0, 1.0), (1920.0, 1080.0, 1.5)]
    {
        let size = egui::vec2(width, height);
        let mut h = harness(size, AppOptions::default(), at_order_1042());
        wait_for_order_1042(&mut h);
        if zoom != 1.0 {
            app_mut(&mut h).look.set_zoom(zoom);
            for _ in 0..4 {
                h.step();
            }
            assert_eq!(h.ctx.zoom_factor(), zoom);
        }
        let wide = h.query_by_label("Changes at v4").is_some();
        if wide {
            wait_until(&mut h, "the event column", |h| h.query_by_label("v4 · RefundRequested").is_some());
            // Event, state and diff side by side, each with its whole header.
            assert_inside(&h, size, &["v4 · RefundRequested", "Copy event", "State after v4", "Copy state", "Blame"]);
            assert_inside(&h, size, &["Changes at v4", "Compare two versions", "0 added · 0 removed · 1 changed"]);
            // The state column starts right of the event column's header.
            assert!(rect_of(&h, "State after v4").left() >= rect_of(&h, "Copy event").right(), "{width}x{height}");
        } else {
            // Too narrow for three columns: tabs, each with the whole width.
            assert!(
                h.ctx.content_rect().width() < 1280.0,
                "{width}x{height} at {zoom} should have room for the columns"
            );
            assert_inside(&h, size, &["Event", "State", "Changes", "State after v4", "Copy state", "Blame"]);
            // (By its accessibility action: a reply arriving under load may move the layout
            // between the frame a pointer click is aimed on and the one it lands in.)
            h.get_by_label("Changes").click_accesskit();
            wait_until(&mut h, "the changes tab", |h| h.query_by_label("Changes at v4").is_some());
            assert_inside(&h, size, &["Changes at v4", "0 added · 0 removed · 1 changed"]);
            h.get_by_label("Event").click_accesskit();
            wait_until(&mut h, "the event tab", |h| h.query_by_label("v4 · RefundRequested").is_some());
            assert_inside(&h, size, &["v4 · RefundRequested", "Copy event"]);
        }
        // The timeline keeps each row's type whole, and the player its controls.
        assert_inside(&h, size, &["v4 RefundRequested", "▶ Play", "version 4 of 4"]);
        // The Play button keeps its width when it turns into Pause.
        let play = rect_of(&h, "▶ Play").width();
        h.key_press(Key::Space);
        h.step();
        h.step();
        assert_eq!(rect_of(&h, "⏸ Pause").width(), play, "{width}x{height} at {zoom}");
        h.key_press(Key::Space);
        h.step();
    }
}

#[test]
fn the_diff_keeps_the_size_the_user_gives_it_across_a_scrub() {
    let size = egui::vec2(1280.0, 800.0);
    let mut h = harness(size, AppOptions::default(), at_order_1042());
    wait_for_order_1042(&mut h);
    let top = rect_of(&h, "Changes at v4").top();
    // Scrubbing does not move the diff's edge.
    for key in [Key::Home, Key::ArrowRight, Key::ArrowDown, Key::End] {
        h.key_press(key);
        h.step();
        h.step();
        let at = format!("Changes at v{}", app(&h).history.cursor_version().unwrap());
        assert_eq!(rect_of(&h, &at).top(), top, "after {key:?}");
    }
    assert_eq!(app(&h).look.diff_height, None, "no size was given yet");

    // The user drags the edge up by 120 points: that size stays, through a scrub.
    let edge = egui::pos2(900.0, top - 6.0);
    let mut y = edge.y;
    h.hover_at(edge);
    h.step();
    h.drag_at(edge);
    h.step();
    while y > edge.y - 120.0 {
        y -= 20.0;
        h.hover_at(egui::pos2(edge.x, y));
        h.step();
    }
    h.drop_at(egui::pos2(edge.x, y));
    h.step();
    h.step();
    let given = app(&h).look.diff_height.expect("the size the user gave is kept");
    let moved = rect_of(&h, "Changes at v4").top();
    assert!((top - moved - 120.0).abs() < 25.0, "the edge moved from {top} to {moved}");
    for key in [Key::Home, Key::ArrowRight, Key::End] {
        h.key_press(key);
        h.step();
        h.step();
        let at = format!("Changes at v{}", app(&h).history.cursor_version().unwrap());
        assert_eq!(rect_of(&h, &at).top(), moved, "after {key:?}");
    }
    assert_eq!(app(&h).look.diff_height, Some(given));
}

#[test]
fn presenter_mode_and_the_streams_panel_follow_their_keys() {
    let size = egui::vec2(1280.0, 800.0);
    let mut h = harness(size, AppOptions::default(), at_order_1042());
    wait_for_order_1042(&mut h);
    assert!(h.query_by_label("Streams").is_some());
    let stream_font = rect_of(&h, "version 4 of 4").height();

    // The streams panel goes and comes back with its key (and the ☰ button).
    h.key_press_modifiers(STREAMS_PANEL_SHORTCUT.modifiers, STREAMS_PANEL_SHORTCUT.logical_key);
    h.step();
    h.step();
    assert!(h.query_by_label("Streams").is_none(), "the streams panel is hidden");
    h.get_by_label("☰").click();
    h.step();
    h.step();
    assert!(h.query_by_label("Streams").is_some(), "the ☰ button brings it back");

    // Presenter mode: larger type, the streams panel hidden, black on white or white on black,
    // the version and event type large in the header.
    h.key_press(PRESENTER_SHORTCUT.logical_key);
    for _ in 0..3 {
        h.step();
    }
    assert!(app(&h).look.presenter);
    assert!(h.query_by_label("Streams").is_none());
    assert!(h.query_all_by_label("v4 · RefundRequested").next().is_some(), "the header says where we are");
    assert!(h.ctx.zoom_factor() > 1.3, "the type is larger: zoom {}", h.ctx.zoom_factor());
    let visuals = h.ctx.global_style().visuals.clone();
    assert!([egui::Color32::BLACK, egui::Color32::WHITE].contains(&visuals.panel_fill), "{:?}", visuals.panel_fill);
    // And back: the panel returns as it was.
    h.key_press(PRESENTER_SHORTCUT.logical_key);
    for _ in 0..3 {
        h.step();
    }
    assert!(!app(&h).look.presenter);
    assert!(h.query_by_label("Streams").is_some());
    assert_eq!(h.ctx.zoom_factor(), 1.0);
    assert_eq!(rect_of(&h, "version 4 of 4").height(), stream_font);

    // Presenter mode has a zoom of its own: resetting it there leaves the normal view's alone.
    h.key_press(PRESENTER_SHORTCUT.logical_key);
    h.step();
    h.step();
    h.ctx.set_zoom_factor(1.0);
    for _ in 0..3 {
        h.step();
    }
    h.key_press(PRESENTER_SHORTCUT.logical_key);
    for _ in 0..3 {
        h.step();
    }
    assert_eq!((app(&h).look.zoom, h.ctx.zoom_factor()), (1.0, 1.0));
    // Not while typing: the search field would vanish mid-word.
    h.get_all_by_role(egui::Role::TextInput).next().unwrap().focus();
    h.step();
    h.key_press(PRESENTER_SHORTCUT.logical_key);
    h.key_press_modifiers(STREAMS_PANEL_SHORTCUT.modifiers, STREAMS_PANEL_SHORTCUT.logical_key);
    h.step();
    h.step();
    assert!(!app(&h).look.presenter && h.query_by_label("Streams").is_some());
    h.key_press(Key::Escape);
    h.step();

    // The View menu lists the same, with its shortcuts, and the themes and zoom.
    h.get_by_label("View").click();
    h.step();
    h.step();
    for entry in ["Streams panel", "Presenter mode", "Follow the system", "Light", "Dark", "Zoom In", "Reset Zoom"] {
        assert!(h.query_by_label_contains(entry).is_some(), "the View menu has {entry:?}");
    }
    h.get_by_label("Light").click();
    h.step();
    h.step();
    assert_eq!(app(&h).look.theme, ThemeChoice::Light);
    assert_eq!(h.ctx.theme(), egui::Theme::Light);
}

#[test]
fn the_window_remembers_each_store_look_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let options = || AppOptions {
        recent_path: None,
        settings_path: Some(dir.path().join("views.json")),
        ..AppOptions::default()
    };
    let size = egui::vec2(1280.0, 800.0);
    {
        let mut h = harness(size, options(), at_order_1042());
        wait_for_order_1042(&mut h);
        h.key_press(Key::Home);
        h.step();
        h.key_press(Key::ArrowRight);
        h.step();
        h.step();
        assert_eq!(app(&h).history.cursor_version(), Some(2));
        app_mut(&mut h).look.theme = ThemeChoice::Light;
        app_mut(&mut h).toggle_streams_panel();
        h.step();
        h.step();
        app_mut(&mut h).save_settings();
    }
    // Opened again with no stream named: the same stream, at the same version, the same look.
    let mut h = harness(size, options(), None);
    wait_until(&mut h, "the stream to load", |h| {
        app(h).history.history().is_some_and(|x| x.len() == 4) && !app(h).history.is_loading()
    });
    wait_until(&mut h, "the version", |h| app(h).history.cursor_version() == Some(2));
    assert_eq!(app(&h).history.stream(), Some(order_stream(DOUBLE_REFUND_ORDER).as_str()));
    assert_eq!(app(&h).look.theme, ThemeChoice::Light);
    assert_eq!(h.ctx.theme(), egui::Theme::Light);
    assert!(h.query_by_label("Streams").is_none(), "the streams panel stays hidden");
    let text = std::fs::read_to_string(dir.path().join("views.json")).unwrap();
    assert!(text.contains(&order_stream(DOUBLE_REFUND_ORDER)), "{text}");
}

#[test]
fn back_and_forward_go_across_streams_versions_and_views() {
    use eventscope::ui::{BACK_SHORTCUT, FORWARD_SHORTCUT, View};
    let size = egui::vec2(1280.0, 800.0);
    let mut h = harness(size, AppOptions::default(), at_order_1042());
    wait_for_order_1042(&mut h);
    let first = order_stream(DOUBLE_REFUND_ORDER);
    let second = order_stream(eventscope::demo::STALE_SNAPSHOT_ORDER);
    app_mut(&mut h).open_event(&first, 2);
    wait_until(&mut h, "v2", |h| app(h).history.cursor_version() == Some(2));
    app_mut(&mut h).open_event(&second, 1);
    wait_until(&mut h, "the second stream", |h| {
        app(h).history.stream() == Some(second.as_str()) && app(h).history.cursor_version() == Some(1)
    });
    h.get_by_label("Audit").click();
    h.step();
    h.step();
    assert_eq!(app(&h).view, View::Audit);

    let back = |h: &mut Harness<'_, UnderTest>| {
        h.key_press_modifiers(BACK_SHORTCUT.modifiers, BACK_SHORTCUT.logical_key);
        h.step();
    };
    back(&mut h);
    assert_eq!((app(&h).view, app(&h).history.stream()), (View::History, Some(second.as_str())));
    back(&mut h);
    wait_until(&mut h, "the first stream at v2", |h| {
        app(h).history.stream() == Some(first.as_str()) && app(h).history.cursor_version() == Some(2)
    });
    // Forward again, with the toolbar button.
    h.get_by_label("➡").click();
    wait_until(&mut h, "the second stream", |h| app(h).history.stream() == Some(second.as_str()));
    h.key_press_modifiers(FORWARD_SHORTCUT.modifiers, FORWARD_SHORTCUT.logical_key);
    h.step();
    assert_eq!(app(&h).view, View::Audit);
    assert!(!app(&h).navigation.can_go_forward());
}

#[test]
fn correlation_and_causation_ids_are_links() {
    use eventscope::ui::View;
    let size = egui::vec2(1920.0, 1080.0);
    let mut h = harness(size, AppOptions::default(), at_order_1042());
    wait_for_order_1042(&mut h);
    let event = |h: &Harness<'_, UnderTest>| {
        let history = app(h).history.history().unwrap();
        let index = (0..history.len())
            .find(|&i| history.summary(i).unwrap().version == app(h).history.cursor_version().unwrap());
        history.event(index.unwrap()).unwrap().clone()
    };
    let v4 = event(&h);
    let causation = v4.metadata_str("causation_id").expect("a causation id").to_owned();
    let correlation = v4.metadata_str("correlation_id").expect("a correlation id").to_owned();

    // The causation id opens the event whose id it is.
    h.get_by_label(&causation).click();
    wait_until(&mut h, "the cause", |h| {
        app(h).history.cursor_version() != Some(4)
            && !app(h).history.is_settling()
            && app(h).history.history().is_some_and(|x| !x.is_empty())
    });
    let cause = event(&h);
    assert_eq!(cause.metadata_str("event_id"), Some(causation.as_str()), "{cause:?}");

    // The correlation id lists the events that share it, in Audit.
    h.key_press_modifiers(egui::Modifiers::ALT, Key::ArrowLeft);
    wait_until(&mut h, "back at v4", |h| app(h).history.cursor_version() == Some(4));
    h.get_by_label(&correlation).click();
    h.step();
    assert_eq!(app(&h).view, View::Audit);
    wait_until(&mut h, "the correlated events", |h| !app(h).audit.rows().is_empty() && !app(h).audit.is_busy());
    assert!(app(&h).audit.rows().iter().all(|e| e.metadata_str("correlation_id") == Some(correlation.as_str())));
    assert!(app(&h).audit.rows().iter().any(|e| e.stream == v4.stream && e.version == 4));
}

#[test]
fn the_timeline_filters_by_type_or_text_and_steps_through_what_it_lists() {
    let size = egui::vec2(1280.0, 800.0);
    let mut h = harness(size, AppOptions::default(), at_order_1042());
    wait_for_order_1042(&mut h);
    assert!(h.query_by_label("v1 OrderPlaced").is_some());
    // (As typed in the filter field, whose hint is not a label the tests can find.)
    app_mut(&mut h).history.filter.text = "refund".to_owned();
    h.step();
    h.step();
    assert!(h.query_by_label("2 events").is_some());
    assert!(h.query_by_label("v1 OrderPlaced").is_none() && h.query_by_label("v2 PaymentConfirmed").is_none());
    assert!(h.query_by_label("v3 RefundRequested").is_some() && h.query_by_label("v4 RefundRequested").is_some());
    // Stepping keeps to the listed events once asked to.
    h.get_by_label("step and play these only").click();
    h.step();
    h.key_press(Key::ArrowLeft);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(3));
    h.key_press(Key::ArrowLeft);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(3), "v3 is the first refund");
    // Before the first listed event, ← does not jump forward; → goes to it.
    h.key_press(Key::Home);
    h.step();
    h.key_press(Key::ArrowLeft);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(1));
    h.key_press(Key::ArrowRight);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(3));
    // By type, from the list of the stream's types.
    h.get_by_label("×").click();
    h.step();
    h.get_by_label("type").click();
    h.step();
    h.step();
    h.get_by_label("PaymentConfirmed").click();
    h.step();
    h.step();
    assert!(h.query_by_label("1 event").is_some());
    assert!(h.query_by_label("v2 PaymentConfirmed").is_some() && h.query_by_label("v3 RefundRequested").is_none());
}

#[test]
fn a_part_of_a_stream_id_opens_the_one_stream_that_holds_it() {
    let size = egui::vec2(1280.0, 800.0);
    let start = |part: &str| Some(StartAt { stream: Some(part.to_owned()), version: Some(2), ..StartAt::default() });
    let mut h = harness(size, AppOptions::default(), start("7de8ce"));
    wait_until(&mut h, "the stream at v2", |h| {
        app(h).history.stream() == Some(order_stream(DOUBLE_REFUND_ORDER).as_str())
            && app(h).history.cursor_version() == Some(2)
    });
    let mut h = harness(size, AppOptions::default(), start("0000-4000"));
    wait_until(&mut h, "the error", |h| app(h).status.last_error.is_some());
    let error = app(&h).status.last_error.clone().unwrap();
    assert!(error.contains("several ids contain it"), "{error}");
    // A label opens its stream once the listed streams' labels are read; none, said so, and
    // no stream of that name is opened (nor remembered).
    let mut h = harness(size, AppOptions::default(), start("ORD-1042"));
    wait_until(&mut h, "the stream labelled ORD-1042 at v2", |h| {
        app(h).history.stream() == Some(order_stream(DOUBLE_REFUND_ORDER).as_str())
            && app(h).history.cursor_version() == Some(2)
    });
    let mut h = harness(size, AppOptions::default(), start("ORD-9999"));
    wait_until(&mut h, "no such label", |h| h.query_by_label_contains("no stream is labelled so").is_some());
    assert_eq!(app(&h).history.stream(), None);
}

#[test]
fn a_fold_from_the_command_line_applies_to_the_category_of_the_stream() {
    use eventscope::ui::history::FoldScope;
    let size = egui::vec2(1280.0, 800.0);
    let fold = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/folds/order.js");
    let start =
        Some(StartAt { stream: Some(order_stream(DOUBLE_REFUND_ORDER)), fold: Some(fold), ..StartAt::default() });
    let mut h = harness(size, AppOptions::default(), start);
    wait_for_order_1042(&mut h);
    let scope = app(&h).history.fold_setting().map(|f| f.scope.clone());
    assert_eq!(scope, Some(FoldScope::Category("Order".to_owned())));
    assert_eq!(app(&h).history.history().map(|x| x.fold_name().to_owned()).as_deref(), Some("order.js"));
}

#[test]
fn two_versions_are_compared_from_rows_picked_on_the_timeline() {
    let size = egui::vec2(1280.0, 800.0);
    let mut h = harness(size, AppOptions::default(), at_order_1042());
    wait_for_order_1042(&mut h);
    h.get_by_label("v1 OrderPlaced").click_secondary();
    h.step();
    h.step();
    h.get_by_label("Compare from here (A = v1)").click();
    h.step();
    h.step();
    h.get_by_label("v3 RefundRequested").click_secondary();
    h.step();
    h.step();
    h.get_by_label("Compare to here (B = v3)").click();
    for _ in 0..4 {
        h.step();
    }
    // The comparison says what it compares, and marks A and B on their rows.
    assert!(h.query_by_label_contains("A: state after v").is_some());
    assert!(h.query_by_label("A").is_some() && h.query_by_label("B").is_some());
    assert!(h.query_by_label_contains("/status").is_some(), "placed → refund requested");
}

#[test]
fn a_state_field_marks_the_versions_that_changed_it() {
    let size = egui::vec2(1280.0, 800.0);
    let mut h = harness(size, AppOptions::default(), at_order_1042());
    wait_for_order_1042(&mut h);
    // Right-click a field of the state tree: mark the versions that changed it.
    h.get_all_by_label("order_id").last().expect("the state's order_id field").click_secondary();
    for _ in 0..3 {
        h.step();
    }
    h.get_by_label("Mark the versions that changed this").click();
    wait_until(&mut h, "the marks", |h| app(h).history.marked_changes().is_some_and(|(_, _, done)| done));
    assert_eq!(app(&h).history.marked_changes().map(|(p, f, _)| (p, f.to_vec())), Some(("/order_id", vec![0])));
    assert!(h.query_by_label("✏ 1 event changed /order_id").is_some());

    // The status changed at v1, v2 and v3, not at the second refund.
    app_mut(&mut h).history.mark_changes("/status");
    wait_until(&mut h, "the marks", |h| app(h).history.marked_changes().is_some_and(|(_, _, done)| done));
    assert_eq!(app(&h).history.marked_changes().map(|(_, f, _)| f.to_vec()), Some(vec![2, 1, 0]));
    h.get_by_label("list only these").click();
    h.step();
    h.step();
    assert!(h.query_by_label("v3 RefundRequested").is_some() && h.query_by_label("v4 RefundRequested").is_none());
}

#[test]
fn bookmarks_and_links_say_where_to_go_and_are_kept_outside_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let options = || AppOptions {
        recent_path: None,
        settings_path: Some(dir.path().join("views.json")),
        ..AppOptions::default()
    };
    let size = egui::vec2(1280.0, 800.0);
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let store = common::workshop(common::Backend::Sqlite).db.path();
    let store_bytes = std::fs::read(&store).unwrap();
    {
        let mut h = harness(size, options(), at_order_1042());
        wait_for_order_1042(&mut h);
        // Ctrl+D at v4: the Bookmarks window opens on the new bookmark's note.
        h.key_press_modifiers(egui::Modifiers::COMMAND, Key::D);
        h.step();
        h.step();
        assert!(app(&h).bookmarks.open);
        // (The note has the keyboard.)
        h.event(egui::Event::Text("the retried command".to_owned()));
        h.step();
        h.step();
        let marks = &app(&h).look.bookmarks;
        assert_eq!(marks.len(), 1);
        assert_eq!(
            (marks[0].stream.as_str(), marks[0].version, marks[0].note.as_str()),
            (stream.as_str(), 4, "the retried command")
        );
        // The link opens exactly this: the stream, the version.
        let link = app(&h).history.link().expect("a link");
        assert_eq!(eventscope::deep_link::Link::parse(&link.url()).unwrap(), link);
        assert!(link.command_line().contains(&format!("--stream {stream} --at 4")), "{}", link.command_line());
        app_mut(&mut h).save_settings();
    }
    // Opened again: the bookmark is there; a click goes to it.
    let mut h = harness(size, options(), at_order_1042());
    wait_for_order_1042(&mut h);
    h.key_press(Key::Home);
    h.step();
    assert_eq!(app(&h).history.cursor_version(), Some(1));
    h.get_by_label("View").click();
    h.step();
    h.step();
    h.get_by_label("🔖 Bookmarks").click();
    h.step();
    h.step();
    assert_eq!(app(&h).look.bookmarks[0].note, "the retried command");
    // (Named by the stream's label once the streams list knows it, by its id before.)
    match h.query_by_label("ORD-1042 v4") {
        Some(link) => link.click(),
        None => h.get_by_label(&format!("{stream} v4")).click(),
    }
    wait_until(&mut h, "the bookmarked version", |h| app(h).history.cursor_version() == Some(4));
    assert_eq!(std::fs::read(&store).unwrap(), store_bytes, "the store is untouched");
    let text = std::fs::read_to_string(dir.path().join("views.json")).unwrap();
    assert!(text.contains("the retried command"), "{text}");
}
