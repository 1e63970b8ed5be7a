//! The eframe application: a connect screen, then the explorer (streams panel, history panel,
//! status bar). The UI thread never awaits and never queries: it sends typed requests to the
//! [`Worker`] and drains its replies at the start of every frame; replies to requests nobody
//! waits for any more are dropped.

pub mod audit;
pub mod background;
pub mod bookmarks;
pub mod connect;
pub mod diff_view;
pub mod drift_check;
pub mod history;
pub mod json_tree;
pub mod lesson;
pub mod log_follow;
pub mod mapping;
pub mod navigation;
pub mod panel_size;
pub mod projection;
pub mod recent;
pub mod scripts;
pub mod settings;
pub mod sql;
pub mod sql_safety;
pub mod streams;
pub mod types;
pub mod whatif;

use std::path::PathBuf;

use eframe::egui::{self, RichText, Ui};

use crate::store::layout::Codec;
use crate::store::{StoreCounts, StoreError, Target};
use crate::worker::{Failure, Reply, Request, RequestId, Worker};
use audit::{AuditAction, AuditPanel};
use connect::{ConnectAction, ConnectPanel};
use history::{FoldScope, FoldSetting, HistoryPanel};
use mapping::{MappingAction, MappingPanel};
use projection::ProjectionPanel;
use recent::RecentStores;
use scripts::{ScriptSource, WatchedScript};
use settings::{SettingsFile, ThemeChoice, ViewSettings};
use sql::SqlPanel;
use streams::{StreamsAction, StreamsPanel};

/// Which screen is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Connect,
    /// The mapping form for a database no layout matches.
    Mapping,
    Explorer,
}

/// Where to put the cursor once the store is open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartAt {
    pub stream: Option<String>,
    pub version: Option<i64>,
    /// A fold file for all streams.
    pub fold: Option<PathBuf>,
    /// A projection file to run (opens the Projections view).
    pub projection: Option<PathBuf>,
    /// A SQL file to preview (opens the SQL preview).
    pub sql: Option<PathBuf>,
    /// The view to show first.
    pub view: Option<View>,
}

impl StartAt {
    /// Whether it says where to go (a stream, a projection or a SQL file), rather than only how.
    pub fn names_a_place(&self) -> bool {
        self.stream.is_some() || self.projection.is_some() || self.sql.is_some() || self.view.is_some()
    }
}

/// The views of the explorer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum View {
    /// One stream's history.
    History,
    /// A JavaScript projection run over the store.
    Projections,
    /// A SQL projection previewed against the store.
    Sql,
    /// Cross-stream questions of the global log.
    Audit,
    /// Event contracts: the schema each event type follows.
    Types,
    /// A retroactive rule tried before anyone runs it.
    #[value(name = "whatif")]
    WhatIf,
}

/// Settings that tests change.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Where the recent stores are kept; `None` keeps them in memory only.
    pub recent_path: Option<PathBuf>,
    /// Where each store's window settings are kept; `None` keeps them in memory only.
    pub settings_path: Option<PathBuf>,
    /// The workshop store's file (its first opening offers the tour); `None`: no store is.
    pub workshop_path: Option<PathBuf>,
}

impl AppOptions {
    /// The options of the real application (recent stores and settings in the config directory).
    pub fn user() -> AppOptions {
        AppOptions {
            recent_path: RecentStores::default_path(),
            settings_path: SettingsFile::default_path(),
            workshop_path: Some(crate::demo::workshop_store_path()),
        }
    }
}

/// Shows or hides the streams panel.
pub const STREAMS_PANEL_SHORTCUT: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::B);
/// Back and forward (also Alt+→ and the mouse's forward button).
pub const BACK_SHORTCUT: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::ALT, egui::Key::ArrowLeft);
pub const FORWARD_SHORTCUT: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::ALT, egui::Key::ArrowRight);
/// Turns presenter mode on or off.
pub const PRESENTER_SHORTCUT: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::NONE, egui::Key::F5);

/// The bottom line: the store (password masked), its layout, the counts, the last error.
#[derive(Default)]
pub struct StatusBar {
    pub store: Option<String>,
    pub layout: Option<String>,
    pub counts: Option<StoreCounts>,
    /// The exact counts asked for (they read the whole store).
    pub counting: Option<RequestId>,
    /// The user asked for exact counts this frame.
    pub count_exactly: bool,
    pub last_error: Option<String>,
}

impl StatusBar {
    fn ui(&mut self, ui: &mut Ui) {
        // (Wrapped: on a narrow window the counts go to a second line rather than off the edge.)
        ui.horizontal_wrapped(|ui| {
            match &self.store {
                Some(store) => ui.label(RichText::new(store).monospace()),
                None => ui.weak("no store open"),
            };
            if let Some(layout) = &self.layout {
                ui.separator();
                ui.label(format!("layout: {layout}"));
            }
            if let Some(counts) = self.counts {
                ui.separator();
                let about = if counts.estimated { "≈ " } else { "" };
                let events = format!("{about}{}", counted(counts.events, "event", "events"));
                let label = match counts.streams {
                    Some(streams) => format!("{about}{} · {events}", counted(streams, "stream", "streams")),
                    None => events,
                };
                let shown = ui.label(label);
                if counts.estimated {
                    shown
                        .on_hover_text("The database's own estimates: counting a store this big would read all of it.");
                    if self.counting.is_some() {
                        ui.spinner();
                        ui.weak("counting…");
                    } else if ui.small_button("Count exactly").on_hover_text("Reads the whole store").clicked() {
                        self.count_exactly = true;
                    }
                }
            }
            if let Some(error) = self.last_error.clone() {
                ui.separator();
                ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {error}"));
                if ui.small_button("×").on_hover_text("Dismiss").clicked() {
                    self.last_error = None;
                }
            }
        });
    }
}

pub struct EventscopeApp {
    worker: Worker,
    pub screen: Screen,
    pub connect: ConnectPanel,
    pub streams: StreamsPanel,
    pub history: HistoryPanel,
    pub projections: ProjectionPanel,
    pub sql: SqlPanel,
    pub audit: AuditPanel,
    pub types: types::TypesPanel,
    pub whatif: whatif::WhatIfPanel,
    pub bookmarks: bookmarks::BookmarksWindow,
    /// The stream and bookmarks the history was last given, and the projection run and
    /// bookmarks the projection's view was last given.
    bookmarks_given: Option<(String, Vec<settings::Bookmark>)>,
    run_bookmarks_given: Option<(u64, Vec<settings::Bookmark>)>,
    pub view: View,
    pub status: StatusBar,
    open_request: Option<(RequestId, Option<Target>)>,
    layout_choice: Option<String>,
    recent: RecentStores,
    store_open: bool,
    start_at: Option<StartAt>,
    pub mapping: Option<MappingPanel>,
    /// The store that is open, its layouts' names and the chosen one.
    current: Option<(Target, Vec<String>, String, Codec)>,
    /// The store that opened but matched no layout (it can be mapped by hand).
    unmapped: Option<Target>,
    cipher_key: String,
    cipher_request: Option<RequestId>,
    /// Every store's window settings, and the open store's (with its key in the file).
    settings: SettingsFile,
    pub look: ViewSettings,
    store_key: Option<String>,
    /// The look last given to egui (theme, presenter), and the title to give the window.
    applied_look: Option<(ThemeChoice, bool, f32)>,
    title: Option<String>,
    /// Whether the streams panel was shown before presenter mode hid it.
    streams_before_presenter: Option<bool>,
    /// The window was fitted to the screen (once, at the start).
    sized_to_screen: bool,
    /// Back and forward across views, streams and versions.
    pub navigation: navigation::Navigation,
    /// The cause of an event is being looked for (a causation link was followed).
    cause_request: Option<RequestId>,
    /// The ids that hold a stream's name given on the command line or remembered.
    resolve_request: Option<NamedStream>,
    /// The lesson being played (a lesson file's, or the tour).
    pub lesson: lesson::LessonPlayer,
    /// The open store's lesson tables are being read.
    lesson_request: Option<RequestId>,
    /// The workshop store's file, and whether it is the store open.
    workshop_path: Option<PathBuf>,
    on_workshop: bool,
    /// The tour was asked for on another store: it starts once the workshop store is open.
    tour_after_open: bool,
}

/// A stream named on the command line or remembered, being looked for.
#[derive(Clone)]
struct NamedStream {
    request: RequestId,
    given: String,
    version: Option<i64>,
    /// Asked for on the command line (opened even when it has no events, to say so).
    asked: bool,
}

impl EventscopeApp {
    /// The app, opening `target` straight away when given.
    pub fn new(
        ctx: &egui::Context,
        target: Option<Target>,
        layout: Option<String>,
        options: AppOptions,
    ) -> EventscopeApp {
        let repaint = ctx.clone();
        let worker = Worker::spawn(move || repaint.request_repaint());
        let mut app = EventscopeApp {
            worker,
            screen: Screen::Connect,
            connect: ConnectPanel::default(),
            streams: StreamsPanel::default(),
            history: HistoryPanel::default(),
            projections: ProjectionPanel::default(),
            sql: SqlPanel::new(crate::store::query::Dialect::Sqlite, None),
            audit: AuditPanel::new(false, false),
            types: types::TypesPanel::default(),
            whatif: whatif::WhatIfPanel::default(),
            bookmarks: bookmarks::BookmarksWindow::default(),
            bookmarks_given: None,
            run_bookmarks_given: None,
            view: View::History,
            status: StatusBar::default(),
            open_request: None,
            layout_choice: layout,
            recent: RecentStores::load(options.recent_path),
            store_open: false,
            start_at: None,
            mapping: None,
            current: None,
            unmapped: None,
            cipher_key: String::new(),
            cipher_request: None,
            settings: SettingsFile::load(options.settings_path),
            look: ViewSettings::default(),
            store_key: None,
            applied_look: None,
            title: None,
            streams_before_presenter: None,
            sized_to_screen: false,
            navigation: navigation::Navigation::default(),
            cause_request: None,
            resolve_request: None,
            lesson: lesson::LessonPlayer::default(),
            lesson_request: None,
            workshop_path: options.workshop_path,
            on_workshop: false,
            tour_after_open: false,
        };
        if let Some(target) = target {
            app.open(target);
        }
        app
    }

    /// Once the store is open, go to this stream (and version).
    pub fn start_at(mut self, start: Option<StartAt>) -> Self {
        self.start_at = start;
        self
    }

    fn start(&mut self, start: StartAt) {
        if let Some(view) = start.view {
            self.view = view;
        }
        if let Some(path) = start.fold {
            // Like a fold chosen in the window: for the category of the stream it is used on. A
            // bundled fold's name (as a link names it) where no such file exists is that fold.
            let bundled = (!path.exists())
                .then(|| scripts::FOLD_EXAMPLES.iter().find(|(name, _)| std::path::Path::new(name) == path))
                .flatten();
            let source = match bundled {
                Some((name, source)) => ScriptSource::Example { name, source },
                None => ScriptSource::File(path),
            };
            self.history.set_fold(Some(FoldSetting {
                script: WatchedScript::new(source),
                scope: FoldScope::Category(String::new()),
            }));
        }
        if let Some(stream) = start.stream {
            self.open_named_stream(stream, start.version, true);
        }
        if let Some(path) = start.sql {
            self.view = View::Sql;
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    self.sql.text = text;
                    self.sql.run(&mut self.worker);
                }
                Err(e) => self.status.last_error = Some(format!("cannot read {}: {e}", path.display())),
            }
        }
        if let Some(path) = start.projection {
            self.view = View::Projections;
            self.projections.choose(WatchedScript::new(ScriptSource::File(path)), &mut self.worker);
        }
    }

    /// Opens a stream named on the command line (`asked`) or remembered from the last time: its
    /// id, or a part of an id only one stream holds. A remembered stream that is gone is not
    /// opened; one asked for is (and says it has no events).
    fn open_named_stream(&mut self, given: String, version: Option<i64>, asked: bool) {
        let query =
            crate::store::query::StreamQuery { search: given.clone(), sort: Default::default(), after: None, limit: 3 };
        let request = self.worker.send(Request::Streams { query });
        self.resolve_request = Some(NamedStream { request, given, version, asked });
    }

    /// The ids that hold a stream's name have been listed: open the one meant.
    fn on_named_stream(&mut self, named: NamedStream, reply: Reply) {
        let ids: Vec<String> = match reply {
            Reply::Streams(page) => page.streams.into_iter().map(|s| s.stream.0).collect(),
            _ => Vec::new(),
        };
        let open = match ids.as_slice() {
            ids if ids.contains(&named.given) => Some(named.given.clone()),
            [only] => Some(only.clone()),
            [] => {
                // Not an id: perhaps a label (ORD-1042), found as the listed streams' first
                // events are read. A remembered stream that is gone is let go.
                if named.asked {
                    self.streams.find_label(&named.given, named.version);
                }
                None
            }
            several => {
                self.status.last_error = Some(format!(
                    "“{}” is not a stream id, and several ids contain it ({}…): give more of it",
                    named.given,
                    several.join(", ")
                ));
                None
            }
        };
        if let Some(stream) = open {
            self.streams.select(&stream);
            self.history.open_stream(&stream, &mut self.worker);
            self.history.go_to_version_when_loaded(named.version);
        }
    }

    /// Goes back to the view, stream, version and fold the user last had in this store.
    fn restore_place(&mut self) {
        if self.history.fold_setting().is_none()
            && let Some(fold) = self.look.fold.as_ref().and_then(FoldSetting::from_remembered)
        {
            self.history.set_fold(Some(fold));
        }
        if let Some(view) = self.look.view {
            self.view = view;
        }
        if let Some(stream) = self.look.stream.clone() {
            self.open_named_stream(stream, self.look.version, false);
        }
    }

    /// Notes where the user is and how the window looks (for the settings file), and gives
    /// egui the look the settings ask for.
    fn keep_look(&mut self, ctx: &egui::Context) {
        // Where the window manager does not maximise the window, it takes the screen.
        if !self.sized_to_screen {
            let (monitor, maximized) = ctx.input(|i| (i.viewport().monitor_size, i.viewport().maximized));
            if let Some(monitor) = monitor.filter(|m| m.x > 0.0 && m.y > 0.0) {
                self.sized_to_screen = true;
                if maximized != Some(true) {
                    ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(monitor));
                }
            }
        }
        if let Some(title) = self.title.take() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title));
        }
        // Zoomed with the keys or the View menu (egui's own): the user's zoom follows.
        // (Presenter mode has a zoom of its own: Reset there does not shrink the normal view.)
        if let Some((_, presenter, zoom)) = self.applied_look
            && ctx.zoom_factor() != zoom
            && presenter == self.look.presenter
        {
            self.look.set_zoom(ctx.zoom_factor());
            self.applied_look = Some((self.look.theme, presenter, ctx.zoom_factor()));
        }
        let wanted = (self.look.theme, self.look.presenter, self.look.effective_zoom());
        if self.applied_look != Some(wanted) {
            ctx.set_theme(self.look.theme.preference());
            for theme in [egui::Theme::Dark, egui::Theme::Light] {
                ctx.set_visuals_of(theme, visuals_of(theme, self.look.presenter));
            }
            ctx.set_zoom_factor(wanted.2);
            self.applied_look = Some(wanted);
        }
        let Some(key) = &self.store_key else {
            return;
        };
        self.look.view = Some(self.view);
        if let Some(stream) = self.history.stream() {
            self.look.stream = Some(stream.to_owned());
            self.look.version = self.history.cursor_version().or(self.look.version);
        }
        self.look.fold = self.history.fold_setting().map(FoldSetting::remembered);
        self.settings.remember(key, &self.look);
        let now = ctx.input(|i| i.time);
        if self.settings.save_if_due(now) {
            ctx.request_repaint_after(std::time::Duration::from_secs(2));
        }
    }

    /// Where the user is: the view, and in the history the stream and version.
    fn place(&self) -> navigation::Place {
        let in_history = self.view == View::History;
        navigation::Place {
            view: self.view,
            stream: self.history.stream().filter(|_| in_history).map(str::to_owned),
            version: self.history.cursor_version().filter(|_| in_history),
            audit: self.audit.applied_filter().filter(|_| self.view == View::Audit).cloned(),
        }
    }

    /// Follows a link of an event's facts (or a projection run's "open in history").
    fn follow_link(&mut self, link: Option<(history::EventLink, crate::model::Event)>) {
        match link {
            Some((history::EventLink::Correlated(id), _)) => self.show_correlated(id),
            Some((history::EventLink::Cause, event)) => {
                self.cause_request = Some(self.worker.send(Request::Correlation { event: Box::new(event) }));
            }
            Some((history::EventLink::OpenInHistory, event)) => self.open_event(&event.stream.0, event.version),
            None => {}
        }
    }

    /// The events that share a correlation id, in Audit.
    fn show_correlated(&mut self, id: String) {
        self.navigation.jumped();
        self.view = View::Audit;
        let filter =
            crate::store::audit::AuditFilter { meta: vec![("correlation_id".to_owned(), id)], ..Default::default() };
        self.audit.set_filter(filter, &mut self.worker);
    }

    /// Goes back to where the user was before (Alt+←), if anywhere.
    pub fn go_back(&mut self, now: f64) {
        if let Some(place) = self.navigation.back(now) {
            self.go_to_place(place);
        }
    }

    /// Goes forward again after going back (Alt+→).
    pub fn go_forward(&mut self, now: f64) {
        if let Some(place) = self.navigation.forward(now) {
            self.go_to_place(place);
        }
    }

    fn go_to_place(&mut self, place: navigation::Place) {
        self.view = place.view;
        if let Some(filter) = place.audit
            && self.audit.applied_filter() != Some(&filter)
        {
            self.audit.set_filter(filter, &mut self.worker);
        }
        let Some(stream) = place.stream else {
            return;
        };
        if self.history.stream() == Some(stream.as_str()) {
            if let Some(version) = place.version {
                let _ = self.history.jump_to_version(version);
            }
        } else {
            self.streams.select(&stream);
            self.history.open_stream(&stream, &mut self.worker);
            self.history.go_to_version_when_loaded(place.version);
        }
    }

    /// Writes the settings file now (it is otherwise written at most every two seconds, and
    /// when the window closes).
    pub fn save_settings(&mut self) {
        self.settings.save();
    }

    /// Shows or hides the streams panel.
    pub fn toggle_streams_panel(&mut self) {
        self.look.streams_shown = !self.look.streams_shown;
    }

    /// Turns presenter mode on or off: larger type, high contrast, the streams panel hidden.
    pub fn toggle_presenter(&mut self) {
        self.look.presenter = !self.look.presenter;
        if self.look.presenter {
            self.streams_before_presenter = Some(std::mem::replace(&mut self.look.streams_shown, false));
        } else {
            self.look.streams_shown = self.streams_before_presenter.take().unwrap_or(true);
        }
    }

    fn view_menu_ui(&mut self, ui: &mut Ui) {
        let shortcut = |ui: &Ui, s: &egui::KeyboardShortcut| ui.ctx().format_shortcut(s);
        let streams = egui::Button::selectable(self.look.streams_shown, "Streams panel")
            .shortcut_text(shortcut(ui, &STREAMS_PANEL_SHORTCUT));
        if ui.add(streams).clicked() {
            self.toggle_streams_panel();
        }
        let presenter = egui::Button::selectable(self.look.presenter, "Presenter mode")
            .shortcut_text(shortcut(ui, &PRESENTER_SHORTCUT));
        if ui.add(presenter).on_hover_text("Larger type, high contrast, the streams panel hidden").clicked() {
            self.toggle_presenter();
        }
        let marks = egui::Button::selectable(self.bookmarks.open, "🔖 Bookmarks");
        if ui.add(marks).on_hover_text("The versions you bookmarked in this store, with their notes").clicked() {
            self.bookmarks.open = !self.bookmarks.open;
        }
        ui.separator();
        ui.weak("Theme");
        for choice in ThemeChoice::ALL {
            ui.radio_value(&mut self.look.theme, choice, choice.label());
        }
        ui.separator();
        egui::gui_zoom::zoom_menu_buttons(ui);
    }

    fn help_menu_ui(&mut self, ui: &mut Ui) {
        let tour = ui.button("🎓 Guided tour of the workshop store");
        if tour.on_hover_text("Five steps through what eventscope finds in the workshop store").clicked() {
            self.start_tour();
        }
        if let Some(title) = self.lesson.ended_lesson().map(str::to_owned)
            && ui.button(format!("📖 Play the lesson again: {title}")).clicked()
            && let Some(step) = self.lesson.replay()
        {
            self.go_to_step(step);
        }
        ui.separator();
        let ctx = ui.ctx().clone();
        let keys = [
            (
                "Next / previous lesson step",
                ctx.format_shortcut(&lesson::NEXT_STEP) + " / " + &ctx.format_shortcut(&lesson::PREVIOUS_STEP),
            ),
            ("Presenter mode", ctx.format_shortcut(&PRESENTER_SHORTCUT)),
            ("Streams panel", ctx.format_shortcut(&STREAMS_PANEL_SHORTCUT)),
            ("Back / forward", ctx.format_shortcut(&BACK_SHORTCUT) + " / " + &ctx.format_shortcut(&FORWARD_SHORTCUT)),
        ];
        egui::Grid::new("help_keys").show(ui, |ui| {
            for (what, keys) in keys {
                ui.weak(what);
                ui.monospace(keys);
                ui.end_row();
            }
        });
    }

    /// Gives the projection run's view the bookmarks of its projection, when the run or the
    /// bookmarks changed (not every frame).
    fn give_run_bookmarks(&mut self) {
        let run = self.projections.run_number();
        let script = self.projections.remembered_script();
        let given = &self.run_bookmarks_given;
        if given.as_ref().is_some_and(|(r, b)| *r == run && *b == self.look.bookmarks) {
            return;
        }
        if let Some(view) = self.projections.view_mut() {
            let marks = self.look.bookmarks.iter().filter(|b| b.projection.is_some() && b.projection == script);
            view.set_bookmarks(marks.map(|b| (b.version, b.note.clone())).collect());
            self.run_bookmarks_given = Some((run, self.look.bookmarks.clone()));
        }
    }

    /// Runs a projection (unless it is the one shown) and goes to a global position in it.
    pub fn go_to_run_position(&mut self, script: &settings::RememberedScript, position: i64) {
        self.navigation.jumped();
        self.view = View::Projections;
        if self.projections.remembered_script().as_ref() != Some(script) {
            match ProjectionPanel::script_of(script, self.lesson.lesson()) {
                Some(source) => self.projections.choose(WatchedScript::new(source), &mut self.worker),
                None => {
                    self.status.last_error = Some(match script {
                        settings::RememberedScript::Lesson(name) => {
                            format!("the bookmarked projection {name} came with a lesson that is not playing now")
                        }
                        _ => "the bookmarked projection is no longer bundled".into(),
                    });
                    return;
                }
            }
        }
        if let Some(view) = self.projections.view_mut()
            && let Err(e) = view.jump_to_version(position)
        {
            // (Not read yet: the cursor goes there when it is.)
            if view.is_loading() || view.history().is_none() {
                view.go_to_version_when_loaded(Some(position));
            } else {
                self.status.last_error = Some(e);
            }
        }
    }

    /// Shows a stream in the history view with the cursor at a version.
    pub fn open_event(&mut self, stream: &str, version: i64) {
        self.navigation.jumped();
        self.view = View::History;
        self.streams.select(stream);
        // (In the stream shown, a jump: its compare, marks and folded states stay.)
        if self.history.stream() == Some(stream) && self.history.jump_to_version(version).is_ok() {
            return;
        }
        self.history.open_stream(stream, &mut self.worker);
        self.history.go_to_version_when_loaded(Some(version));
    }

    /// Plays a lesson from its first step; its bookmarks join the store's (kept outside it).
    pub fn play_lesson(&mut self, lesson: crate::lesson::Lesson, is_tour: bool) {
        for mark in &lesson.bookmarks {
            if !self.look.bookmarks.iter().any(|b| b.stream == mark.stream && b.version == mark.version) {
                self.look.bookmarks.push(mark.clone());
            }
        }
        if let Some(step) = self.lesson.play(lesson, is_tour) {
            self.go_to_step(step);
        }
    }

    /// Plays the guided tour: here on the workshop store, else once the workshop store is open.
    pub fn start_tour(&mut self) {
        if self.on_workshop {
            self.play_lesson(crate::lesson::tour(), true);
        } else {
            self.tour_after_open = true;
            self.open_workshop();
        }
    }

    /// Goes where a lesson's step says: its view, fold, stream and version, audit filter or
    /// script (the lesson's own scripts first, then the bundled ones).
    pub fn go_to_step(&mut self, step: crate::lesson::Step) {
        use crate::lesson::ScriptKind;
        let Some(lesson) = self.lesson.lesson() else {
            return;
        };
        // (What the step cannot do is said; the rest of it is still done.)
        self.status.last_error =
            lesson.check_step(&step).err().map(|e| format!("this step of the lesson cannot be shown whole: {e}"));
        let script = |name: &str, kind| {
            lesson
                .script(name, kind)
                .map(|source| WatchedScript::new(ScriptSource::Lesson { name: name.to_owned(), source }))
        };
        let fold = step.fold.as_deref().and_then(|name| script(name, ScriptKind::Fold));
        let run = match step.view {
            View::Sql => step.script.as_deref().and_then(|name| script(name, ScriptKind::Sql)),
            View::Projections => step.script.as_deref().and_then(|name| script(name, ScriptKind::Projection)),
            _ => None,
        };
        self.navigation.jumped();
        self.view = step.view;
        if let Some(fold) = fold
            && self.history.fold_setting().is_none_or(|f| f.script.name() != fold.name())
        {
            self.history.set_fold(Some(FoldSetting { script: fold, scope: FoldScope::Category(String::new()) }));
        }
        if let Some(stream) = step.stream {
            match step.version {
                Some(version) if self.history.stream() == Some(stream.as_str()) => {
                    if let Err(e) = self.history.jump_to_version(version) {
                        self.status.last_error = Some(e);
                    }
                }
                _ => self.open_named_stream(stream, step.version, true),
            }
        }
        if let Some(filter) = step.audit {
            self.audit.set_filter(filter.audit_filter(), &mut self.worker);
            if filter.select_first {
                self.audit.select_first_when_loaded();
            }
        }
        match (step.view, run) {
            (View::Sql, Some(script)) => {
                self.sql.text = script.text().unwrap_or_default();
                self.sql.run(&mut self.worker);
            }
            (View::Projections, Some(script)) => self.projections.choose(script, &mut self.worker),
            _ => {}
        }
    }

    /// Opens a store (the current one stays open until the new one is ready).
    pub fn open(&mut self, target: Target) {
        self.connect.error = None;
        self.connect.opening = Some(target.display());
        let id = self.worker.send(Request::Open { target: target.clone(), layout: self.layout_choice.clone() });
        self.open_request = Some((id, Some(target)));
    }

    fn open_workshop(&mut self) {
        self.connect.error = None;
        self.connect.opening = Some("the workshop store".to_owned());
        let id = self.worker.send(Request::OpenWorkshop);
        self.open_request = Some((id, None));
    }

    pub fn is_opening(&self) -> bool {
        self.open_request.is_some()
    }

    fn drain_replies(&mut self) {
        while let Some((id, reply)) = self.worker.try_recv() {
            if let Reply::Reopened { description } = reply {
                self.status.store = Some(description);
                continue;
            }
            if Some(id) == self.cipher_request {
                self.cipher_request = None;
                match &reply {
                    Reply::CipherKeySet => {
                        self.status.last_error = None;
                        // Read the stream again, decrypted, at the same version.
                        if let Some(stream) = self.history.stream().map(str::to_owned) {
                            let version = self.history.cursor_version();
                            self.history.open_stream(&stream, &mut self.worker);
                            self.history.go_to_version_when_loaded(version);
                        }
                    }
                    Reply::Failed(message) => self.status.last_error = Some(message.to_string()),
                    _ => {}
                }
                continue;
            }
            if let Some(named) = self.resolve_request.take_if(|named| named.request == id) {
                self.on_named_stream(named, reply);
                continue;
            }
            if Some(id) == self.cause_request {
                self.cause_request = None;
                match reply {
                    Reply::Correlation { caused_by: Some(cause), .. } => {
                        self.status.last_error = None;
                        self.open_event(&cause.stream.0, cause.version)
                    }
                    Reply::Correlation { caused_by: None, .. } => {
                        self.status.last_error = Some("No event of this store has the causation id as its id.".into());
                    }
                    Reply::Failed(failure) => self.status.last_error = Some(failure.to_string()),
                    _ => {}
                }
                continue;
            }
            if Some(id) == self.lesson_request {
                self.lesson_request = None;
                match reply {
                    Reply::Lesson(Some(lesson)) => self.play_lesson(*lesson, false),
                    Reply::Failed(failure) => self.status.last_error = Some(failure.to_string()),
                    _ => {}
                }
                continue;
            }
            if Some(id) == self.status.counting {
                self.status.counting = None;
                match reply {
                    Reply::Counts(counts) => {
                        self.status.counts = Some(counts);
                        self.streams.set_store_counts(counts);
                    }
                    Reply::Failed(failure) => self.status.last_error = Some(failure.to_string()),
                    _ => {}
                }
                continue;
            }
            if let Some((open_id, target)) = self.open_request.clone()
                && id == open_id
            {
                self.open_request = None;
                self.on_open_reply(target, reply);
                continue;
            }
            // Each reply goes to the panel that asked, moved (a page of events is not copied);
            // a failure is also said in the status bar.
            let failure = match &reply {
                Reply::Failed(failure) => Some(failure.to_string()),
                _ => None,
            };
            if self.route(id, reply).is_none() && failure.is_some() {
                self.status.last_error = failure;
            }
            // Anything else answers a request nobody waits for any more: dropped.
        }
    }

    /// Hands a reply to the panel whose request it answers; `Some` (the reply back) when no
    /// panel waits for it.
    fn route(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let reply = match &mut self.mapping {
            Some(mapping) => mapping.on_reply(id, reply)?,
            None => reply,
        };
        let reply = self.streams.on_reply(id, reply)?;
        let reply = self.history.on_reply(id, reply)?;
        let reply = self.projections.on_reply(id, reply)?;
        let reply = self.sql.on_reply(id, reply)?;
        let reply = self.types.on_reply(id, reply)?;
        let reply = self.whatif.on_reply(id, reply)?;
        self.audit.on_reply(id, reply)
    }

    fn on_open_reply(&mut self, target: Option<Target>, reply: Reply) {
        self.connect.opening = None;
        match reply {
            Reply::Opened { description, dialect, layout, layouts, counts, target: opened, role, log_advice } => {
                self.current = Some((
                    opened.clone(),
                    layouts.iter().map(|l| l.name.clone()).collect(),
                    layout.name.clone(),
                    layout.codec,
                ));
                self.unmapped = None;
                self.mapping = None;
                self.sql.cancel(&mut self.worker);
                self.sql = SqlPanel::new(dialect, role);
                let has_metadata = layout.columns.metadata.is_some() || !layout.columns.metadata_columns.is_empty();
                self.audit = AuditPanel::new(layout.columns.recorded_at.is_some(), has_metadata);
                self.audit.set_log_advice(log_advice);
                self.types.cancel(&mut self.worker);
                self.types = types::TypesPanel::default();
                self.whatif.cancel(&mut self.worker);
                self.whatif = whatif::WhatIfPanel::default();
                self.recent.add(target.as_ref().unwrap_or(&opened));
                self.status = StatusBar {
                    store: Some(description),
                    layout: Some(layout.description.clone()),
                    counts: Some(counts),
                    ..StatusBar::default()
                };
                self.streams.drift.cancel(&mut self.worker);
                self.streams =
                    StreamsPanel::new(layout.columns.recorded_at.is_some(), layout.snapshots.is_some(), counts);
                self.history.cancel_load(&mut self.worker);
                let fold = self.history.fold_setting().cloned();
                self.history = HistoryPanel::default();
                self.bookmarks_given = None;
                self.history.layout.store_link = Some(crate::deep_link::Link::store_of(&opened));
                // (The fold this store was last seen with wins over the one carried from the last.)
                if self.settings.for_store(&settings::store_key(&opened)).fold.is_none() {
                    self.history.set_fold(fold);
                }
                self.projections.cancel(&mut self.worker);
                let script = self.projections.script().cloned();
                self.projections = ProjectionPanel::default();
                if let Some(script) = script
                    && self.view == View::Projections
                {
                    self.projections.choose(script, &mut self.worker);
                }
                self.screen = Screen::Explorer;
                self.store_open = true;
                let key = settings::store_key(&opened);
                self.look = self.settings.for_store(&key);
                self.streams.label_overrides = self.look.label_fields.clone();
                self.store_key = Some(key);
                self.title = Some(format!("eventscope — {}", opened.display()));
                // Where the user was in this store, unless the command line names a place.
                let start = self.start_at.take();
                if !start.as_ref().is_some_and(StartAt::names_a_place) {
                    self.restore_place();
                }
                if let Some(start) = start {
                    self.start(start);
                }
                self.lesson.forget();
                self.lesson_request = Some(self.worker.send(Request::ReadLesson));
                self.on_workshop = self.workshop_path.as_ref().is_some_and(|path| {
                    matches!(&opened, Target::Sqlite(p) if std::path::absolute(p).ok() == std::path::absolute(path).ok())
                });
                if self.on_workshop && std::mem::take(&mut self.tour_after_open) {
                    self.start_tour();
                } else if self.on_workshop && !self.look.tour_offered {
                    self.lesson.offering_tour = true;
                    self.look.tour_offered = true;
                }
            }
            Reply::Failed(message) => {
                // A URL that failed goes back in its field, to be corrected there (its password
                // drawn as dots).
                if let Some(Target::Postgres(url)) = &target {
                    self.connect.url = url.clone();
                }
                // A database that opened but matched no layout can be mapped by hand.
                let unmapped = matches!(message, Failure::Store(StoreError::NotAnEventStore(_)));
                self.unmapped = target.filter(|_| unmapped);
                self.connect.error = Some(message.to_string());
                self.status.last_error = Some(message.to_string());
                self.screen = Screen::Connect;
            }
            _ => {}
        }
    }

    /// Opens the mapping form for the store that matched no layout.
    pub fn map_unmapped(&mut self) {
        if let Some(target) = self.unmapped.clone() {
            self.mapping = Some(MappingPanel::new(target, &mut self.worker));
            self.screen = Screen::Mapping;
        }
    }

    /// Reopens the store with another of its layouts.
    pub fn choose_layout(&mut self, name: &str) {
        if let Some((target, _, _, _)) = self.current.clone() {
            self.layout_choice = Some(name.to_owned());
            self.open(target);
        }
    }

    /// Uses a cipher key (base64) for encrypted payloads; the field is emptied at once.
    pub fn use_cipher_key(&mut self, key: &str) {
        let key = key.trim();
        self.cipher_request =
            Some(self.worker.send(Request::SetCipherKey { key: (!key.is_empty()).then(|| key.to_owned()) }));
        self.cipher_key.clear();
    }

    /// Draws one frame (also what the tests drive).
    pub fn show(&mut self, ui: &mut Ui) {
        self.drain_replies();
        self.keep_look(&ui.ctx().clone());
        match self.screen {
            Screen::Connect => {
                egui::Panel::bottom("status").show(ui, |ui| self.status.ui(ui));
                egui::CentralPanel::default().show(ui, |ui| {
                    let recent = self.recent.entries().to_vec();
                    let unmapped = self.unmapped.as_ref().map(Target::display);
                    match self.connect.ui(ui, &recent, self.store_open, unmapped.as_deref()) {
                        Some(ConnectAction::Open(target)) => self.open(target),
                        Some(ConnectAction::OpenWorkshop) => self.open_workshop(),
                        Some(ConnectAction::Back) => self.screen = Screen::Explorer,
                        Some(ConnectAction::Map) => self.map_unmapped(),
                        None => {}
                    }
                });
            }
            Screen::Mapping => {
                egui::Panel::bottom("status").show(ui, |ui| self.status.ui(ui));
                let mut action = None;
                egui::CentralPanel::default().show(ui, |ui| {
                    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                        if let Some(mapping) = &mut self.mapping {
                            action = mapping.ui(ui, &mut self.worker);
                        }
                    });
                });
                match action {
                    Some(MappingAction::Open(layout)) => {
                        if let Some(target) = self.mapping.as_ref().map(|m| m.target().clone()) {
                            self.connect.opening = Some(target.display());
                            let id = self.worker.send(Request::OpenWithLayout { target: target.clone(), layout });
                            self.open_request = Some((id, Some(target)));
                        }
                    }
                    Some(MappingAction::Cancel) => self.screen = Screen::Connect,
                    None => {}
                }
            }
            Screen::Explorer => self.explorer_ui(ui),
        }
    }

    fn explorer_ui(&mut self, ui: &mut Ui) {
        // (Not while typing: the field would vanish with its panel mid-word.)
        let typing = ui.ctx().text_edit_focused();
        let (streams_key, presenter_key) = ui.input_mut(|i| {
            (!typing && i.consume_shortcut(&STREAMS_PANEL_SHORTCUT), !typing && i.consume_shortcut(&PRESENTER_SHORTCUT))
        });
        if streams_key {
            self.toggle_streams_panel();
        }
        if presenter_key {
            self.toggle_presenter();
        }
        let now = ui.input(|i| i.time);
        let (back, forward) = ui.input_mut(|i| {
            (
                i.consume_shortcut(&BACK_SHORTCUT) || i.pointer.button_pressed(egui::PointerButton::Extra1),
                i.consume_shortcut(&FORWARD_SHORTCUT) || i.pointer.button_pressed(egui::PointerButton::Extra2),
            )
        });
        if back {
            self.go_back(now);
        }
        if forward {
            self.go_forward(now);
        }
        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                if self.view == View::History {
                    let tip = format!(
                        "Show or hide the streams panel ({})",
                        ui.ctx().format_shortcut(&STREAMS_PANEL_SHORTCUT)
                    );
                    if ui.selectable_label(self.look.streams_shown, "☰").on_hover_text(tip).clicked() {
                        self.toggle_streams_panel();
                    }
                }
                ui.strong("eventscope");
                ui.menu_button("View", |ui| self.view_menu_ui(ui));
                ui.menu_button("Help", |ui| self.help_menu_ui(ui));
                let now = ui.input(|i| i.time);
                let ctx = ui.ctx().clone();
                let tip = |what: &str, s: &egui::KeyboardShortcut| format!("{what} ({})", ctx.format_shortcut(s));
                let back = ui.add_enabled(self.navigation.can_go_back(), egui::Button::new("⬅"));
                if back.on_hover_text(tip("Back", &BACK_SHORTCUT)).clicked() {
                    self.go_back(now);
                }
                let forward = ui.add_enabled(self.navigation.can_go_forward(), egui::Button::new("➡"));
                if forward.on_hover_text(tip("Forward", &FORWARD_SHORTCUT)).clicked() {
                    self.go_forward(now);
                }
                ui.separator();
                ui.selectable_value(&mut self.view, View::History, "History");
                ui.selectable_value(&mut self.view, View::Projections, "Projections");
                ui.selectable_value(&mut self.view, View::Sql, "SQL preview");
                ui.selectable_value(&mut self.view, View::Audit, "Audit");
                ui.selectable_value(&mut self.view, View::Types, "Types").on_hover_text(
                    "Event contracts: the JSON Schema each event type follows, and the events that do not",
                );
                ui.selectable_value(&mut self.view, View::WhatIf, "What-if")
                    .on_hover_text("Try a retroactive rule before anyone runs it (nothing is written)");
                ui.separator();
                if ui.button("Open another store…").clicked() {
                    self.screen = Screen::Connect;
                }
                if let Some((_, layouts, chosen, codec)) = self.current.clone() {
                    if layouts.len() > 1 {
                        ui.separator();
                        let mut choice = chosen.clone();
                        egui::ComboBox::from_label("layout").selected_text(&choice).show_ui(ui, |ui| {
                            for name in &layouts {
                                ui.selectable_value(&mut choice, name.clone(), name);
                            }
                        });
                        if choice != chosen {
                            self.choose_layout(&choice);
                        }
                    }
                    if codec == Codec::Eventsourcing {
                        ui.separator();
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(&mut self.cipher_key)
                                    .password(true)
                                    .hint_text("🔑 cipher key (base64)")
                                    .desired_width(170.0),
                            )
                            .on_hover_text("cipher key: decrypts encrypted events; kept in memory only, never saved");
                        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                        if ui.button("use key").clicked() || enter {
                            let key = self.cipher_key.clone();
                            self.use_cipher_key(&key);
                        }
                    }
                }
            });
        });
        let mut lesson_action = self.lesson.keys(ui);
        if self.lesson.lesson().is_some() {
            egui::Panel::top("lesson").show(ui, |ui| {
                if let Some(action) = self.lesson.ui(ui) {
                    lesson_action = Some(action);
                }
            });
        }
        if let Some(action) = self.lesson.offer_ui(ui.ctx()) {
            lesson_action = Some(action);
        }
        match lesson_action {
            Some(lesson::LessonAction::Go(step)) => self.go_to_step(*step),
            Some(lesson::LessonAction::StartTour) => self.start_tour(),
            None => {}
        }
        egui::Panel::bottom("status").show(ui, |ui| self.status.ui(ui));
        if std::mem::take(&mut self.status.count_exactly) {
            self.status.counting = Some(self.worker.send(Request::ExactCounts));
        }
        let mut action = None;
        // The streams list belongs to the history; the other views need the width.
        if self.view == View::History && self.look.streams_shown {
            // (Wide enough for a UUID.)
            let auto = (ui.available_width() * 0.25).clamp(336.0, 360.0);
            let max = (ui.available_width() * 0.5).max(200.0);
            let size = panel_size::PanelSize::before(
                ui,
                "streams",
                panel_size::Along::Width,
                auto,
                self.look.streams_width,
                200.0..=max,
            );
            let panel =
                egui::Panel::left("streams").resizable(true).default_size(size.size).min_size(200.0).show(ui, |ui| {
                    // (Only once a check has results to call out of date.)
                    if self.streams.drift.has_results() {
                        self.streams.drift.set_current_folds(drift_check::folds_words(self.history.fold_setting()));
                    }
                    action = self.streams.ui(ui, &mut self.worker);
                });
            self.look.streams_width = size.after(ui, panel.response.rect, self.look.streams_width);
        }
        match action {
            Some(StreamsAction::OpenStream(stream)) => {
                self.history.open_stream(&stream, &mut self.worker);
                self.view = View::History;
            }
            Some(StreamsAction::OpenVersion(stream, version)) if self.history.stream() != Some(stream.as_str()) => {
                self.open_event(&stream, version);
            }
            Some(StreamsAction::OpenVersion(stream, version)) => {
                self.view = View::History;
                if self.history.stream() == Some(stream.as_str()) {
                    let _ = self.history.jump_to_version(version);
                } else {
                    self.history.open_stream(&stream, &mut self.worker);
                    self.history.go_to_version_when_loaded(Some(version));
                }
            }
            Some(StreamsAction::CheckSnapshots) => {
                let script = match self.history.fold_setting() {
                    None => Ok(None),
                    Some(setting) => setting.script.text().map(|source| {
                        let (name, scope) = (setting.script.name(), setting.scope.clone());
                        Some(crate::worker::ScriptFold { name, source, scope })
                    }),
                };
                let folds = drift_check::folds_words(self.history.fold_setting());
                match script {
                    Ok(script) => self.streams.drift.start(&mut self.worker, script, folds),
                    Err(e) => self.streams.drift.fail(format!("the fold in use cannot be read: {e}")),
                }
            }
            Some(StreamsAction::SearchPayloads(text)) => {
                self.view = View::Audit;
                let filter = crate::store::audit::AuditFilter { text, ..Default::default() };
                self.audit.set_filter(filter, &mut self.worker);
            }
            None => {}
        }
        match self.view {
            View::History => {
                self.history.layout.presenter = self.look.presenter;
                if let Some(stream) = self.history.stream().map(str::to_owned) {
                    self.history.layout.label = self.streams.label(&stream).cloned();
                    if self.history.layout.label.is_none() {
                        self.streams.want_label(&stream, &mut self.worker);
                    }
                }
                if self.history.contract_survey() != self.types.generation()
                    && let Some(stream) = self.history.stream()
                {
                    let breaches = self.types.breaches_in(stream);
                    self.history.set_contract_breaches(self.types.generation(), breaches);
                }
                self.history.layout.timeline_width = self.look.timeline_width;
                self.history.layout.diff_height = self.look.diff_height;
                // (Given again only when the stream or the bookmarks changed, not every frame.)
                let given = &self.bookmarks_given;
                let stale = self
                    .history
                    .stream()
                    .filter(|stream| given.as_ref().is_none_or(|(s, b)| s != stream || *b != self.look.bookmarks));
                if let Some(stream) = stale.map(str::to_owned) {
                    let marks = self.look.bookmarks.iter().filter(|b| b.stream == stream && b.projection.is_none());
                    self.history.set_bookmarks(marks.map(|b| (b.version, b.note.clone())).collect());
                    self.bookmarks_given = Some((stream, self.look.bookmarks.clone()));
                }
                egui::CentralPanel::default().show(ui, |ui| self.history.ui(ui));
                if let Some((stream, arrived)) = self.history.take_arrived() {
                    self.streams.grew(&stream, arrived);
                }
                if let Some((stream, version)) = self.history.take_bookmark_wanted() {
                    let wanted = settings::Bookmark::version_of(stream, version, String::new());
                    self.bookmarks.bookmark(&mut self.look.bookmarks, wanted);
                }
                self.look.timeline_width = self.history.layout.timeline_width;
                self.look.diff_height = self.history.layout.diff_height;
                let followed = self.history.take_followed_link();
                self.follow_link(followed);
                if let Some((category, field)) = self.history.layout.chosen_label_field.take() {
                    match field {
                        Some(field) => self.look.label_fields.insert(category, field),
                        None => self.look.label_fields.remove(&category),
                    };
                    self.streams.label_overrides = self.look.label_fields.clone();
                    self.streams.forget_labels();
                }
                self.history.pump(&mut self.worker);
                if let Some((stream, version)) = self.history.take_open_request() {
                    if self.history.stream() == Some(stream.as_str()) {
                        let _ = self.history.jump_to_version(version);
                    } else {
                        self.open_event(&stream, version);
                    }
                }
            }
            View::Projections => {
                self.give_run_bookmarks();
                egui::CentralPanel::default().show(ui, |ui| self.projections.ui(ui, &mut self.worker));
                let script = self.projections.remembered_script();
                if let (Some((name, position)), Some(script)) =
                    (self.projections.view_mut().and_then(HistoryPanel::take_bookmark_wanted), script)
                {
                    let wanted = settings::Bookmark {
                        projection: Some(script),
                        ..settings::Bookmark::version_of(name, position, String::new())
                    };
                    self.bookmarks.bookmark(&mut self.look.bookmarks, wanted);
                }
                let followed = self.projections.view_mut().and_then(HistoryPanel::take_followed_link);
                self.follow_link(followed);
            }
            View::Sql => {
                egui::CentralPanel::default().show(ui, |ui| self.sql.ui(ui, &mut self.worker));
            }
            View::Audit => {
                let mut action = None;
                egui::CentralPanel::default().show(ui, |ui| action = self.audit.ui(ui, &mut self.worker));
                if let Some(AuditAction::OpenEvent { stream, version }) = action {
                    self.open_event(&stream, version);
                }
            }
            View::WhatIf => {
                let fold = self.history.fold_setting();
                let mut action = None;
                egui::CentralPanel::default()
                    .show(ui, |ui| action = self.whatif.ui(ui, &mut self.worker, fold, &mut self.sql));
                if let Some(whatif::WhatIfAction::OpenStream(stream)) = action {
                    self.navigation.jumped();
                    self.view = View::History;
                    self.streams.select(&stream);
                    if self.history.stream() != Some(stream.as_str()) {
                        self.history.open_stream(&stream, &mut self.worker);
                    }
                }
            }
            View::Types => {
                let mut action = None;
                egui::CentralPanel::default().show(ui, |ui| action = self.types.ui(ui, &mut self.worker));
                match action {
                    Some(types::TypesAction::OpenEvent { stream, version }) => self.open_event(&stream, version),
                    Some(types::TypesAction::ShowInAudit(set)) => {
                        self.navigation.jumped();
                        self.view = View::Audit;
                        let filter = crate::audit::AuditFilter { only: Some(set), ..Default::default() };
                        self.audit.set_filter(filter, &mut self.worker);
                    }
                    None => {}
                }
            }
        }
        let streams = &self.streams;
        let label = |stream: &str| streams.label(stream).and_then(|l| l.label.clone());
        match self.bookmarks.ui(ui.ctx(), &mut self.look.bookmarks, &label) {
            Some(bookmarks::BookmarkAction::Go { stream, version }) => self.open_event(&stream, version),
            Some(bookmarks::BookmarkAction::GoProjection { script, position }) => {
                self.go_to_run_position(&script, position)
            }
            None => {}
        }
        // (A stream on its way to a version is not a place yet.)
        if !(self.view == View::History && self.history.is_settling()) {
            let place = self.place();
            self.navigation.visit(place, now);
        }
    }
}

impl eframe::App for EventscopeApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.save_settings();
    }
}

/// egui's visuals for a theme; in presenter mode with the most contrast: black on white or
/// white on black, stronger lines.
pub fn visuals_of(theme: egui::Theme, presenter: bool) -> egui::Visuals {
    let mut visuals = theme.default_visuals();
    if presenter {
        let (background, text) = match theme {
            egui::Theme::Dark => (egui::Color32::BLACK, egui::Color32::WHITE),
            egui::Theme::Light => (egui::Color32::WHITE, egui::Color32::BLACK),
        };
        // (Text the widgets draw in their own colours, hints and weak text, keeps them.)
        for widget in [
            &mut visuals.widgets.noninteractive,
            &mut visuals.widgets.inactive,
            &mut visuals.widgets.hovered,
            &mut visuals.widgets.active,
            &mut visuals.widgets.open,
        ] {
            widget.fg_stroke.color = text;
        }
        visuals.widgets.noninteractive.bg_stroke.color = text.gamma_multiply(0.6);
        visuals.panel_fill = background;
        visuals.window_fill = background;
        // (Text fields keep a box of their own, set apart from the panel.)
        visuals.extreme_bg_color = match theme {
            egui::Theme::Dark => egui::Color32::from_gray(40),
            egui::Theme::Light => egui::Color32::from_gray(228),
        };
        visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.0, text.gamma_multiply(0.6));
    }
    visuals
}

/// Opens the window on a store.
/// A count with its noun: `1 stream`, `73 streams`.
pub fn counted(count: i64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

pub fn run(target: Target, layout: Option<String>, start: StartAt) -> anyhow::Result<()> {
    let title = format!("eventscope — {}", target.display());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1400.0, 860.0])
            .with_maximized(true)
            .with_min_inner_size([800.0, 500.0]),
        ..Default::default()
    };
    eframe::run_native(
        "eventscope",
        options,
        Box::new(move |cc| {
            Ok(Box::new(
                EventscopeApp::new(&cc.egui_ctx, Some(target), layout, AppOptions::user()).start_at(Some(start)),
            ))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
