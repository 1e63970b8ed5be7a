//! The eframe application: a connect screen, then the explorer (streams panel, history panel,
//! status bar). The UI thread never awaits and never queries: it sends typed requests to the
//! [`Worker`] and drains its replies at the start of every frame; replies to requests nobody
//! waits for any more are dropped.

pub mod audit;
pub mod connect;
pub mod diff_view;
pub mod history;
pub mod json_tree;
pub mod projection;
pub mod recent;
pub mod scripts;
pub mod sql;
pub mod streams;

use std::path::PathBuf;

use eframe::egui::{self, RichText, Ui};

use crate::store::{StoreCounts, Target};
use crate::worker::{Reply, Request, RequestId, Worker};
use audit::{AuditAction, AuditPanel};
use connect::{ConnectAction, ConnectPanel};
use history::{FoldScope, FoldSetting, HistoryPanel};
use projection::ProjectionPanel;
use recent::RecentStores;
use scripts::{ScriptSource, WatchedScript};
use sql::SqlPanel;
use streams::{StreamsAction, StreamsPanel};

/// Which screen is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Connect,
    Explorer,
}

/// Where to put the cursor once the store is open.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The views of the explorer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    /// One stream's history.
    History,
    /// A JavaScript projection run over the store.
    Projections,
    /// A SQL projection previewed against the store.
    Sql,
    /// Cross-stream questions of the global log.
    Audit,
}

/// Settings that tests change.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Where the recent stores are kept; `None` keeps them in memory only.
    pub recent_path: Option<PathBuf>,
}

impl AppOptions {
    /// The options of the real application (recent stores in the config directory).
    pub fn user() -> AppOptions {
        AppOptions { recent_path: RecentStores::default_path() }
    }
}

/// The bottom line: the store (password masked), its layout, the counts, the last error.
#[derive(Default)]
pub struct StatusBar {
    pub store: Option<String>,
    pub layout: Option<String>,
    pub counts: Option<StoreCounts>,
    pub last_error: Option<String>,
}

impl StatusBar {
    fn ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
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
                ui.label(format!("{} streams · {} events", counts.streams, counts.events));
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
    pub view: View,
    pub status: StatusBar,
    open_request: Option<(RequestId, Option<Target>)>,
    layout_choice: Option<String>,
    recent: RecentStores,
    store_open: bool,
    start_at: Option<StartAt>,
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
            sql: SqlPanel::new(crate::store::query::Dialect::Sqlite),
            audit: AuditPanel::new(false, false),
            view: View::History,
            status: StatusBar::default(),
            open_request: None,
            layout_choice: layout,
            recent: RecentStores::load(options.recent_path),
            store_open: false,
            start_at: None,
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
            self.history.set_fold(Some(FoldSetting {
                script: WatchedScript::new(ScriptSource::File(path)),
                scope: FoldScope::AllStreams,
            }));
        }
        if let Some(stream) = start.stream {
            self.streams.select(&stream);
            self.history.open_stream(&stream, &mut self.worker);
            self.history.go_to_version_when_loaded(start.version);
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

    /// Shows a stream in the history view with the cursor at a version.
    pub fn open_event(&mut self, stream: &str, version: i64) {
        self.view = View::History;
        self.streams.select(stream);
        self.history.open_stream(stream, &mut self.worker);
        self.history.go_to_version_when_loaded(Some(version));
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
            if let Some((open_id, target)) = self.open_request.clone()
                && id == open_id
            {
                self.open_request = None;
                self.on_open_reply(target, reply);
                continue;
            }
            if (self.streams.on_reply(id, &reply)
                || self.history.on_reply(id, &reply)
                || self.projections.on_reply(id, &reply)
                || self.sql.on_reply(id, &reply)
                || self.audit.on_reply(id, &reply))
                && let Reply::Failed { message } = &reply
            {
                self.status.last_error = Some(message.clone());
            }
            // Anything else answers a request nobody waits for any more: dropped.
        }
    }

    fn on_open_reply(&mut self, target: Option<Target>, reply: Reply) {
        self.connect.opening = None;
        match reply {
            Reply::Opened { description, dialect, layout, layouts, counts, target: opened } => {
                self.sql.cancel(&mut self.worker);
                self.sql = SqlPanel::new(dialect);
                self.audit = AuditPanel::new(layout.columns.recorded_at.is_some(), layout.columns.metadata.is_some());
                self.recent.add(target.as_ref().unwrap_or(&opened));
                self.status = StatusBar {
                    store: Some(description),
                    layout: Some(if layouts.len() > 1 {
                        format!(
                            "{} ({} layouts in this store; choose with --layout)",
                            layout.description,
                            layouts.len()
                        )
                    } else {
                        layout.description.clone()
                    }),
                    counts: Some(counts),
                    last_error: None,
                };
                self.streams = StreamsPanel::new(layout.columns.recorded_at.is_some());
                self.history.cancel_load(&mut self.worker);
                let fold = self.history.fold_setting().cloned();
                self.history = HistoryPanel::default();
                self.history.set_fold(fold);
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
                if let Some(start) = self.start_at.take() {
                    self.start(start);
                }
            }
            Reply::Failed { message } => {
                self.connect.error = Some(message.clone());
                self.status.last_error = Some(message);
                self.screen = Screen::Connect;
            }
            _ => {}
        }
    }

    /// Draws one frame (also what the tests drive).
    pub fn show(&mut self, ui: &mut Ui) {
        self.drain_replies();
        match self.screen {
            Screen::Connect => {
                egui::Panel::bottom("status").show(ui, |ui| self.status.ui(ui));
                egui::CentralPanel::default().show(ui, |ui| {
                    let recent = self.recent.entries().to_vec();
                    match self.connect.ui(ui, &recent, self.store_open) {
                        Some(ConnectAction::Open(target)) => self.open(target),
                        Some(ConnectAction::OpenWorkshop) => self.open_workshop(),
                        Some(ConnectAction::Back) => self.screen = Screen::Explorer,
                        None => {}
                    }
                });
            }
            Screen::Explorer => self.explorer_ui(ui),
        }
    }

    fn explorer_ui(&mut self, ui: &mut Ui) {
        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("eventscope");
                ui.separator();
                ui.selectable_value(&mut self.view, View::History, "History");
                ui.selectable_value(&mut self.view, View::Projections, "Projections");
                ui.selectable_value(&mut self.view, View::Sql, "SQL preview");
                ui.selectable_value(&mut self.view, View::Audit, "Audit");
                ui.separator();
                if ui.button("Open another store…").clicked() {
                    self.screen = Screen::Connect;
                }
            });
        });
        egui::Panel::bottom("status").show(ui, |ui| self.status.ui(ui));
        let mut action = None;
        // The streams list belongs to the history; the other views need the width.
        if self.view == View::History {
            egui::Panel::left("streams").resizable(true).default_size(350.0).min_size(220.0).show(ui, |ui| {
                action = self.streams.ui(ui, &mut self.worker);
            });
        }
        if let Some(StreamsAction::OpenStream(stream)) = action {
            self.history.open_stream(&stream, &mut self.worker);
            self.view = View::History;
        }
        match self.view {
            View::History => {
                egui::CentralPanel::default().show(ui, |ui| self.history.ui(ui));
            }
            View::Projections => {
                egui::CentralPanel::default().show(ui, |ui| self.projections.ui(ui, &mut self.worker));
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
        }
    }
}

impl eframe::App for EventscopeApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// Opens the window on a store.
pub fn run(target: Target, layout: Option<String>, start: StartAt) -> anyhow::Result<()> {
    let title = format!("eventscope — {}", target.display());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1400.0, 860.0])
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
