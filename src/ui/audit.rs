//! The audit view: the global log of every stream in store order, newest first, paged by keyset
//! as it is scrolled; filters answered by the database (time range with quick picks, event types
//! with counts, stream id, metadata key = value, payload text); a histogram over time that can
//! be dragged across to narrow the range; for a chosen event, its correlated events and the tree
//! of what it caused, each one click from its stream's history; the actors behind the filtered
//! events; and a streamed export.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use eframe::egui::{self, RichText, Ui};
use egui_plot::{Bar, BarChart, Plot, VLine};

use super::history::{EventLink, event_details_ui};
use super::log_follow::LogFollow;
use super::scripts::FileDialog;
use crate::audit::{ActorSummary, AuditFilter, CauseNode, EventSet, ExportFormat, Histogram};
use crate::model::{Event, format_time};
use crate::store::cell::parse_time;
use crate::store::query::LogCursor;
use crate::worker::{Reply, Request, RequestId, Worker};

const PAGE: usize = 500;
const DEBOUNCE_SECONDS: f64 = 0.3;
const BARS: usize = 60;

/// What the audit view asks the app to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// Open this stream in the history view at this version.
    OpenEvent { stream: String, version: i64 },
}

/// What the correlation request found.
pub struct Correlation {
    pub correlated: Vec<Event>,
    pub caused_by: Option<Event>,
    pub tree: CauseNode,
}

/// A quick pick of the time range, relative to the store's newest event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QuickRange {
    All,
    Hour,
    Day,
    Week,
    Custom,
}

pub struct AuditPanel {
    has_time: bool,
    has_metadata: bool,
    /// The filter the rows answer.
    applied: Option<AuditFilter>,
    // The filter being edited.
    range: QuickRange,
    since: String,
    until: String,
    types: BTreeSet<String>,
    stream: String,
    meta: Vec<(String, String)>,
    meta_key: String,
    meta_value: String,
    text: String,
    /// Only these events (the contract outliers the Types view found), where set.
    only: Option<EventSet>,
    edited_at: Option<f64>,
    /// The store's first and last event time (for quick picks), from the unfiltered summary.
    store_range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    rows: Vec<Event>,
    next: Option<LogCursor>,
    page_request: Option<RequestId>,
    summary_request: Option<RequestId>,
    pub count: Option<i64>,
    type_counts: Vec<(String, i64)>,
    histogram: Option<Histogram>,
    actors: Option<Vec<ActorSummary>>,
    keys: Vec<String>,
    keys_request: Option<RequestId>,
    /// The summary and the metadata keys, still to be asked for (see `ask_after_page`).
    summary_wanted: bool,
    keys_wanted: bool,
    selected: Option<usize>,
    /// Choose the first event once the page being read arrives (a lesson step asks so).
    select_first: bool,
    /// The selected event, shared with the details view (which draws it every frame).
    selected_shown: Option<std::sync::Arc<Event>>,
    correlation_request: Option<RequestId>,
    correlation: Option<Correlation>,
    export_request: Option<RequestId>,
    export_written: usize,
    export_note: Option<String>,
    /// Following the log under the filter applied.
    follow: LogFollow,
    export_format: ExportFormat,
    dialog: FileDialog,
    drag_from: Option<f64>,
    error: Option<String>,
    /// The index that would give the log its order, when none does (each page sorts the table).
    log_advice: Option<String>,
}

impl AuditPanel {
    pub fn new(has_time: bool, has_metadata: bool) -> AuditPanel {
        AuditPanel {
            has_time,
            has_metadata,
            applied: None,
            range: QuickRange::All,
            since: String::new(),
            until: String::new(),
            types: BTreeSet::new(),
            stream: String::new(),
            meta: Vec::new(),
            meta_key: String::new(),
            meta_value: String::new(),
            text: String::new(),
            only: None,
            edited_at: None,
            store_range: None,
            rows: Vec::new(),
            next: None,
            page_request: None,
            summary_request: None,
            count: None,
            type_counts: Vec::new(),
            histogram: None,
            actors: None,
            keys: Vec::new(),
            keys_request: None,
            summary_wanted: false,
            keys_wanted: false,
            selected: None,
            select_first: false,
            selected_shown: None,
            correlation_request: None,
            correlation: None,
            export_request: None,
            export_written: 0,
            export_note: None,
            follow: LogFollow::default(),
            export_format: ExportFormat::Csv,
            dialog: FileDialog::default(),
            drag_from: None,
            error: None,
            log_advice: None,
        }
    }

    pub fn rows(&self) -> &[Event] {
        &self.rows
    }

    pub fn selected_event(&self) -> Option<&Event> {
        self.selected.and_then(|i| self.rows.get(i))
    }

    pub fn correlation(&self) -> Option<&Correlation> {
        self.correlation.as_ref()
    }

    pub fn actors(&self) -> Option<&[ActorSummary]> {
        self.actors.as_deref()
    }

    pub fn is_busy(&self) -> bool {
        self.page_request.is_some()
            || self.summary_request.is_some()
            || self.summary_wanted
            || self.correlation_request.is_some()
    }

    /// The filter the rows answer.
    pub fn applied_filter(&self) -> Option<&AuditFilter> {
        self.applied.as_ref()
    }

    /// Sets the filter (as if typed) and applies it at once.
    pub fn set_filter(&mut self, filter: AuditFilter, worker: &mut Worker) {
        self.since = filter.since.map(format_time).unwrap_or_default();
        self.until = filter.until.map(format_time).unwrap_or_default();
        self.range =
            if filter.since.is_some() || filter.until.is_some() { QuickRange::Custom } else { QuickRange::All };
        self.types = filter.types.iter().cloned().collect();
        self.stream = filter.stream.clone();
        self.meta = filter.meta.clone();
        self.text = filter.text.clone();
        self.only = filter.only.clone();
        self.apply(worker);
    }

    /// Chooses the first event listed once the rows being read arrive.
    pub fn select_first_when_loaded(&mut self) {
        self.select_first = true;
    }

    /// Chooses an event of the loaded rows (and asks for its correlation and causation).
    pub fn select(&mut self, index: usize, worker: &mut Worker) {
        let Some(event) = self.rows.get(index) else {
            return;
        };
        self.selected = Some(index);
        self.selected_shown = Some(std::sync::Arc::new(event.clone()));
        self.correlation = None;
        self.correlation_request = Some(worker.send(Request::Correlation { event: Box::new(event.clone()) }));
    }

    /// The filter as edited, or why it cannot be read.
    fn edited_filter(&self) -> Result<AuditFilter, String> {
        let time = |what: &str, text: &str| -> Result<Option<DateTime<Utc>>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            parse_time(text)
                .map(Some)
                .ok_or_else(|| format!("{what} “{text}” is not a time: write 2026-03-02 or 2026-03-02T08:00:00Z"))
        };
        Ok(AuditFilter {
            since: time("from", &self.since)?,
            until: time("to", &self.until)?,
            types: self.types.iter().cloned().collect(),
            stream: self.stream.trim().to_owned(),
            meta: self.meta.clone(),
            text: self.text.trim().to_owned(),
            only: self.only.clone(),
        })
    }

    pub fn is_following(&self) -> bool {
        self.follow.on
    }

    /// Following, and the worker has started following (events appended from now on show).
    pub fn follows_from_now(&self) -> bool {
        self.follow.has_looked()
    }

    /// How many rows at the top arrived while following.
    pub fn arrived(&self) -> usize {
        self.follow.arrived
    }

    /// Events that arrived while following (in store order) go to the top of the list.
    fn prepend(&mut self, events: Vec<Event>) {
        let n = events.len();
        if n == 0 {
            return;
        }
        self.rows.splice(0..0, events.into_iter().rev());
        self.selected = self.selected.map(|i| i + n);
        self.count = self.count.map(|c| c + n as i64);
    }

    fn apply(&mut self, worker: &mut Worker) {
        self.edited_at = None;
        self.follow.restart();
        let filter = match self.edited_filter() {
            Ok(filter) => filter,
            Err(e) => {
                self.error = Some(e);
                return;
            }
        };
        self.error = None;
        self.rows.clear();
        self.next = None;
        self.selected = None;
        self.selected_shown = None;
        self.correlation = None;
        self.count = None;
        self.page_request = Some(worker.send(Request::AuditPage {
            filter: filter.clone(),
            cursor: LogCursor::Edge,
            forward: false,
            limit: PAGE,
        }));
        // (Asked once the page is in: on a big store each may read the whole table, and the page
        // comes first.)
        if let Some(id) = self.summary_request.take() {
            // (Its second pass is then not started.)
            worker.send(Request::Cancel { id });
        }
        self.summary_wanted = true;
        self.applied = Some(filter);
    }

    /// Asks for what waits for the page — the counts, types, actors and histogram, then the
    /// metadata keys offered as filters — one request at a time, so that at most one query
    /// reads the whole store.
    fn ask_after_page(&mut self, worker: &mut Worker) {
        if self.page_request.is_some() || self.summary_request.is_some() {
            return;
        }
        if self.summary_wanted
            && let Some(filter) = self.applied.clone()
        {
            self.summary_wanted = false;
            self.summary_request = Some(worker.send(Request::AuditSummary { filter, bars: BARS }));
        } else if self.keys_wanted {
            self.keys_wanted = false;
            self.keys_request = Some(worker.send(Request::MetadataKeys));
        }
    }

    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let Some(reply) = self.follow.on_reply(id, reply) else {
            let events = self.follow.take_new();
            self.prepend(events);
            return None;
        };
        if Some(id) == self.page_request {
            self.page_request = None;
            match reply {
                Reply::AuditPage(page) => {
                    self.rows.extend(page.events);
                    self.next = page.next;
                }
                Reply::Failed(message) => {
                    // No more pages are asked for after a failure (the list so far stays).
                    self.next = None;
                    self.error = Some(message.to_string());
                }
                _ => {}
            }
            return None;
        }
        if Some(id) == self.summary_request {
            self.summary_request = None;
            match reply {
                Reply::AuditSummary { count, types, histogram, actors } => {
                    self.count = Some(count);
                    self.type_counts = types;
                    self.histogram = histogram;
                    self.actors = actors;
                    let unfiltered = self.applied.as_ref().is_some_and(|f| *f == AuditFilter::default());
                    if unfiltered && let Some(range) = self.histogram.as_ref().and_then(|h| h.range) {
                        self.store_range = Some(range);
                    }
                }
                Reply::Failed(message) => self.error = Some(message.to_string()),
                _ => {}
            }
            return None;
        }
        if Some(id) == self.keys_request {
            self.keys_request = None;
            if let Reply::MetadataKeys(keys) = reply {
                self.keys = keys;
            }
            return None;
        }
        if Some(id) == self.correlation_request {
            self.correlation_request = None;
            match reply {
                Reply::Correlation { correlated, caused_by, tree } => {
                    self.correlation = Some(Correlation { correlated, caused_by: caused_by.map(|e| *e), tree: *tree })
                }
                Reply::Failed(message) => self.error = Some(message.to_string()),
                _ => {}
            }
            return None;
        }
        if Some(id) == self.export_request {
            match reply {
                Reply::ExportProgress { written } => self.export_written = written,
                Reply::Exported { written, path } => {
                    self.export_request = None;
                    self.export_note = Some(format!("exported {written} events to {}", path.display()));
                }
                Reply::Failed(message) => {
                    self.export_request = None;
                    self.export_note = Some(message.to_string());
                }
                _ => {}
            }
            return None;
        }
        Some(reply)
    }

    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker) -> Option<AuditAction> {
        let now = ui.input(|i| i.time);
        if self.applied.is_none() {
            self.apply(worker);
            self.keys_wanted = self.has_metadata;
        }
        self.ask_after_page(worker);
        self.follow.pump(ui, worker, self.applied.as_ref());
        if self.select_first && self.page_request.is_none() {
            self.select_first = false;
            self.select(0, worker);
        }
        if let Some(at) = self.edited_at {
            if now - at >= DEBOUNCE_SECONDS {
                self.apply(worker);
            } else {
                ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(DEBOUNCE_SECONDS));
            }
        }
        if let Some(path) = self.dialog.poll()
            && let Some(filter) = self.applied.clone()
        {
            self.export_written = 0;
            self.export_note = None;
            self.export_request = Some(worker.send(Request::Export { filter, format: self.export_format, path }));
        }
        let mut action = None;
        egui::Panel::top("audit_filters").show(ui, |ui| self.filters_ui(ui, worker, now));
        if self.has_time {
            egui::Panel::top("audit_histogram")
                .resizable(true)
                .default_size(150.0)
                .show(ui, |ui| self.histogram_ui(ui, worker));
        }
        egui::Panel::bottom("audit_actors").resizable(true).default_size(150.0).show(ui, |ui| self.actors_ui(ui));
        egui::Panel::right("audit_details").resizable(true).default_size(430.0).show(ui, |ui| {
            action = self.details_ui(ui, worker);
        });
        egui::CentralPanel::default().show(ui, |ui| self.log_ui(ui, worker));
        action
    }

    fn filters_ui(&mut self, ui: &mut Ui, worker: &mut Worker, now: f64) {
        let mut edited = false;
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            ui.strong("Audit");
            if self.has_time {
                ui.separator();
                for (range, label) in [
                    (QuickRange::All, "all time"),
                    (QuickRange::Hour, "last hour"),
                    (QuickRange::Day, "last day"),
                    (QuickRange::Week, "last week"),
                ] {
                    if ui
                        .selectable_label(self.range == range, label)
                        .on_hover_text("relative to the store's newest event")
                        .clicked()
                    {
                        self.range = range;
                        let span = match range {
                            QuickRange::Hour => Some(Duration::hours(1)),
                            QuickRange::Day => Some(Duration::days(1)),
                            QuickRange::Week => Some(Duration::weeks(1)),
                            _ => None,
                        };
                        match (span, self.store_range) {
                            (Some(span), Some((_, last))) => {
                                // `until` is exclusive: a millisecond past the newest event keeps it.
                                let until = last + Duration::milliseconds(1);
                                self.since = format_time(until - span);
                                self.until = format_time(until);
                            }
                            _ => {
                                self.since.clear();
                                self.until.clear();
                            }
                        }
                        self.apply(worker);
                    }
                }
                let from = ui.add(
                    egui::TextEdit::singleline(&mut self.since).hint_text("from (date or time)").desired_width(150.0),
                );
                let to = ui.add(
                    egui::TextEdit::singleline(&mut self.until).hint_text("to (not included)").desired_width(150.0),
                );
                let formats = "A date or a time: 2026-03-02, 2026-03-02T08:00, 2026-03-02 08:00:00Z";
                let from = from.on_hover_text(formats);
                let to = to.on_hover_text(format!("{formats}. Events at this time itself are not included."));
                if from.changed() || to.changed() {
                    self.range = QuickRange::Custom;
                    edited = true;
                }
            }
            ui.separator();
            let type_label =
                if self.types.is_empty() { "all types".to_owned() } else { format!("{} types", self.types.len()) };
            let mut types_changed = false;
            egui::ComboBox::from_label("event types").selected_text(type_label).height(400.0).show_ui(ui, |ui| {
                if ui.button("all types").clicked() {
                    self.types.clear();
                    types_changed = true;
                }
                for (t, n) in &self.type_counts {
                    let mut on = self.types.contains(t);
                    if ui.checkbox(&mut on, format!("{t} ({n})")).changed() {
                        if on {
                            self.types.insert(t.clone());
                        } else {
                            self.types.remove(t);
                        }
                        types_changed = true;
                    }
                }
            });
            if types_changed {
                self.apply(worker);
            }
            edited |= ui
                .add(egui::TextEdit::singleline(&mut self.stream).hint_text("stream id contains").desired_width(140.0))
                .changed();
        });
        ui.horizontal_wrapped(|ui| {
            if self.has_metadata {
                egui::ComboBox::from_label("metadata key")
                    .selected_text(if self.meta_key.is_empty() { "key".to_owned() } else { self.meta_key.clone() })
                    .show_ui(ui, |ui| {
                        for key in &self.keys {
                            ui.selectable_value(&mut self.meta_key, key.clone(), key);
                        }
                    });
                let value = ui
                    .add(egui::TextEdit::singleline(&mut self.meta_value).hint_text("= value").desired_width(180.0))
                    .on_hover_text("metadata value");
                let enter = value.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button("add").clicked() || enter) && !self.meta_key.is_empty() {
                    self.meta.push((self.meta_key.clone(), self.meta_value.clone()));
                    self.meta_value.clear();
                    self.apply(worker);
                }
                let mut remove = None;
                for (i, (k, v)) in self.meta.iter().enumerate() {
                    if ui.small_button(format!("{k} = {v}  ×")).on_hover_text("remove this filter").clicked() {
                        remove = Some(i);
                    }
                }
                if let Some(i) = remove {
                    self.meta.remove(i);
                    self.apply(worker);
                }
                ui.separator();
            }
            edited |= ui
                .add(egui::TextEdit::singleline(&mut self.text).hint_text("payload contains").desired_width(160.0))
                .changed();
            if !self.text.trim().is_empty() {
                ui.colored_label(ui.visuals().warn_fg_color, "⚠ reads every payload in the range (a full scan)");
            }
            if let Some(set) = &self.only {
                let chip =
                    format!("📜 {}: {}  ×", set.name, crate::ui::counted(set.events.len() as i64, "event", "events"));
                if ui.small_button(chip).on_hover_text("Only these events; click to remove this filter").clicked() {
                    self.only = None;
                    self.apply(worker);
                }
            }
            if ui.button("clear filters").clicked() {
                self.set_filter(AuditFilter::default(), worker);
            }
        });
        if edited {
            self.edited_at = Some(now);
        }
        ui.horizontal(|ui| {
            match self.count {
                Some(count) => ui.label(RichText::new(format!("{count} events")).strong()),
                None => ui.spinner(),
            };
            ui.weak(format!("({} loaded, newest first)", self.rows.len()));
            ui.separator();
            let mut on = self.follow.on;
            let tip = "Look for new events under these filters every second (one indexed query; nothing is \
                       written; paused while the window is minimised)";
            if ui.toggle_value(&mut on, "📡 Follow").on_hover_text(tip).changed() {
                self.follow.set(on);
            }
            if self.follow.arrived > 0 {
                let text = format!("🆕 {} ✔", super::counted(self.follow.arrived as i64, "new event", "new events"));
                if ui.button(text).on_hover_text("At the top of the list: mark them seen").clicked() {
                    self.follow.arrived = 0;
                }
            }
            if let Some(error) = &self.follow.error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
            ui.separator();
            if let Some(id) = self.export_request {
                let total = self.count.unwrap_or(0).max(1) as f32;
                ui.add(
                    egui::ProgressBar::new(self.export_written as f32 / total)
                        .desired_width(200.0)
                        .text(format!("exporting: {}", self.export_written)),
                );
                if ui.button("Cancel").clicked() {
                    worker.send(Request::Cancel { id });
                }
            } else {
                if ui.button("Export CSV…").clicked() {
                    self.export_format = ExportFormat::Csv;
                    self.dialog.save(ui.ctx(), "Export the audit as CSV", "CSV", &["csv"], "audit.csv");
                }
                if ui.button("Export JSON Lines…").clicked() {
                    self.export_format = ExportFormat::JsonLines;
                    self.dialog.save(
                        ui.ctx(),
                        "Export the audit as JSON Lines",
                        "JSON Lines",
                        &["jsonl"],
                        "audit.jsonl",
                    );
                }
            }
            if let Some(note) = &self.export_note {
                ui.weak(note);
            }
            self.dialog.fallback_ui(ui);
        });
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.add_space(2.0);
    }

    fn histogram_ui(&mut self, ui: &mut Ui, worker: &mut Worker) {
        let Some(histogram) = &self.histogram else {
            ui.weak("counting…");
            return;
        };
        if histogram.buckets.is_empty() {
            ui.weak("No event matches.");
            return;
        }
        // x is in hours since the epoch: readable numbers, and the formatter shows dates.
        let hours = |t: DateTime<Utc>| t.timestamp() as f64 / 3600.0;
        let width = histogram.bucket_seconds as f64 / 3600.0;
        let bars: Vec<Bar> = histogram
            .buckets
            .iter()
            .map(|(t, n)| Bar::new(hours(*t) + width / 2.0, *n as f64).width(width * 0.9).name(format_time(*t)))
            .collect();
        let size = histogram.bucket_seconds;
        let label = if size >= 86_400 {
            format!("{} d", size / 86_400)
        } else if size >= 3_600 {
            format!("{} h", size / 3_600)
        } else {
            format!("{} min", size / 60)
        };
        ui.weak(format!("events per {label} — drag across the bars to narrow the time range"));
        let drag_from = self.drag_from;
        // (The axes span a bar either side and start at zero: a single bar is not a sliver.)
        let first = histogram.buckets.first().map_or(0.0, |(t, _)| hours(*t));
        let last = histogram.buckets.last().map_or(0.0, |(t, _)| hours(*t));
        let most = histogram.buckets.iter().map(|(_, n)| *n).max().unwrap_or(1) as f64;
        let response = Plot::new("audit_histogram")
            .include_x(first - width)
            .include_x(last + 2.0 * width)
            .include_y(0.0)
            .include_y(most * 1.1)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .allow_double_click_reset(false)
            .show_y(false)
            .x_axis_formatter(|mark, _| {
                DateTime::from_timestamp((mark.value * 3600.0) as i64, 0)
                    .map(|t| t.format("%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            })
            .show(ui, |plot_ui| {
                plot_ui.bar_chart(BarChart::new("events", bars));
                let pointer = plot_ui.pointer_coordinate().map(|p| p.x);
                if let (Some(from), Some(to)) = (drag_from, pointer) {
                    plot_ui.vline(VLine::new("from", from));
                    plot_ui.vline(VLine::new("to", to));
                }
                pointer
            });
        let pointer = response.inner;
        if response.response.drag_started() {
            self.drag_from = pointer;
        }
        if response.response.drag_stopped()
            && let (Some(from), Some(to)) = (self.drag_from.take(), pointer)
        {
            let (a, b) = if from <= to { (from, to) } else { (to, from) };
            let at = |h: f64| DateTime::from_timestamp((h * 3600.0) as i64, 0);
            if let (Some(a), Some(b)) = (at(a), at(b))
                && b > a
            {
                self.since = format_time(a);
                self.until = format_time(b);
                self.range = QuickRange::Custom;
                self.apply(worker);
            }
        }
    }

    /// Says which index would make reading the log in order instant (a page of an order no
    /// index serves sorts the whole table); eventscope never creates it.
    pub fn set_log_advice(&mut self, advice: Option<String>) {
        self.log_advice = advice;
    }

    fn log_ui(&mut self, ui: &mut Ui, worker: &mut Worker) {
        if let Some(advice) = &self.log_advice {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, "⚠ No index gives this log its order, so each page sorts the whole table. This index would make it instant (eventscope never changes the store; run it yourself if you may):");
                ui.add(egui::Label::new(RichText::new(advice).monospace()).selectable(true));
                if ui.small_button("Copy").clicked() {
                    ui.ctx().copy_text(advice.clone());
                }
            });
            ui.separator();
        }
        if self.rows.is_empty() {
            ui.weak(if self.page_request.is_some() {
                "Loading the newest events…"
            } else {
                "No event matches these filters."
            });
            return;
        }
        let row_height = ui.spacing().interact_size.y;
        let mut clicked = None;
        let mut wants_more = false;
        let total = self.rows.len();
        let arrived = self.follow.arrived;
        egui::ScrollArea::both().id_salt("audit_log").auto_shrink([false, false]).show_rows(
            ui,
            row_height,
            total,
            |ui, range| {
                if range.end + 100 >= total {
                    wants_more = true;
                }
                for i in range {
                    let e = &self.rows[i];
                    ui.horizontal(|ui| {
                        let position = e.position.map_or_else(String::new, |p| format!("#{p}"));
                        let when = e.recorded_at.map_or_else(
                            || format!("{:19}", "(no time)"),
                            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
                        );
                        let archived = if e.archived { " 🗄" } else { "" };
                        let odd = if e.anomalies.is_empty() { "" } else { " ⚠" };
                        let new = if i < arrived { "🆕 " } else { "" };
                        let text = format!("{new}{position:<8} {when}  {:<22}{archived}{odd}", e.event_type);
                        if ui.selectable_label(self.selected == Some(i), RichText::new(text).monospace()).clicked() {
                            clicked = Some(i);
                        }
                        ui.weak(format!("{} v{}  {}", e.stream, e.version, e.actor().unwrap_or("")));
                    });
                }
            },
        );
        if wants_more
            && self.page_request.is_none()
            && let (Some(next), Some(filter)) = (self.next.clone(), self.applied.clone())
        {
            self.page_request =
                Some(worker.send(Request::AuditPage { filter, cursor: next, forward: false, limit: PAGE }));
        }
        if let Some(i) = clicked {
            self.select(i, worker);
        }
    }

    fn details_ui(&mut self, ui: &mut Ui, worker: &mut Worker) -> Option<AuditAction> {
        let Some(event) = self.selected_shown.clone() else {
            ui.weak("Choose an event to see it, the events with its correlation id, and what it caused.");
            return None;
        };
        let mut action = None;
        let mut correlated = None;
        let mut cause_missing = false;
        let open = |e: &Event| AuditAction::OpenEvent { stream: e.stream.0.clone(), version: e.version };
        egui::ScrollArea::vertical().id_salt("audit_details_scroll").auto_shrink([false, false]).show(ui, |ui| {
            if ui.button(format!("Open {} at v{} in the history", short(&event.stream.0), event.version)).clicked() {
                action = Some(open(&event));
            }
            match event_details_ui(ui, &event) {
                Some(EventLink::Correlated(id)) => correlated = Some(id),
                Some(EventLink::Cause) => match self.correlation.as_ref() {
                    Some(Correlation { caused_by: Some(cause), .. }) => action = Some(open(cause)),
                    Some(_) => cause_missing = true,
                    None => {}
                },
                // (Audit has its own "Open … in the history" button.)
                Some(EventLink::OpenInHistory) | None => {}
            }
            ui.separator();
            if self.correlation_request.is_some() {
                ui.spinner();
            }
            let Some(correlation) = &self.correlation else {
                return;
            };
            if let Some(cause) = &correlation.caused_by {
                ui.strong("Caused by");
                if let Some(a) = event_link_ui(ui, cause) {
                    action = Some(a);
                }
            }
            ui.strong(format!("Same correlation id ({} events)", correlation.correlated.len()));
            for e in &correlation.correlated {
                let marker = if e.stream == event.stream && e.version == event.version { "▶ " } else { "" };
                ui.horizontal(|ui| {
                    ui.label(marker);
                    if let Some(a) = event_link_ui(ui, e) {
                        action = Some(a);
                    }
                });
            }
            ui.separator();
            ui.strong(format!("What it caused ({} events below it)", correlation.tree.count() - 1));
            if let Some(a) = cause_tree_ui(ui, &correlation.tree, 0) {
                action = Some(a);
            }
        });
        if cause_missing {
            self.error = Some("No event of this store has this causation id as its id.".to_owned());
        }
        if let Some(id) = correlated {
            let filter = AuditFilter { meta: vec![("correlation_id".to_owned(), id)], ..AuditFilter::default() };
            self.set_filter(filter, worker);
        }
        action
    }

    fn actors_ui(&mut self, ui: &mut Ui) {
        ui.strong("Actors (under the current filters)");
        let Some(actors) = &self.actors else {
            ui.weak(if self.has_metadata { "counting…" } else { "This store keeps no metadata, so no actors." });
            return;
        };
        egui::ScrollArea::vertical().id_salt("audit_actors_scroll").auto_shrink([false, false]).show(ui, |ui| {
            egui::Grid::new("audit_actors_grid").striped(true).num_columns(3).show(ui, |ui| {
                for a in actors {
                    ui.label(RichText::new(&a.actor).monospace());
                    ui.label(a.total.to_string());
                    ui.weak(a.by_type.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(" · "));
                    ui.end_row();
                }
            });
        });
    }
}

fn short(id: &str) -> String {
    if id.chars().count() > 14 { format!("{}…", id.chars().take(13).collect::<String>()) } else { id.to_owned() }
}

/// One event as a link line: clicking opens it in its stream's history.
fn event_link_ui(ui: &mut Ui, e: &Event) -> Option<AuditAction> {
    let when = e.recorded_at.map(|t| t.format("%m-%d %H:%M:%S").to_string()).unwrap_or_default();
    let text = format!("{when} {} · {} v{}", e.event_type, short(&e.stream.0), e.version);
    ui.link(RichText::new(text).monospace())
        .on_hover_text(format!("open {} at version {} in the history", e.stream, e.version))
        .clicked()
        .then(|| AuditAction::OpenEvent { stream: e.stream.0.clone(), version: e.version })
}

fn cause_tree_ui(ui: &mut Ui, node: &CauseNode, depth: usize) -> Option<AuditAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        ui.add_space(depth as f32 * 14.0);
        if depth > 0 {
            // (An arrow the bundled proportional fonts have: U+2192 and box-drawing glyphs are
            // missing from them.)
            ui.weak("➡");
        }
        action = event_link_ui(ui, &node.event);
    });
    for child in &node.children {
        if let Some(a) = cause_tree_ui(ui, child, depth + 1) {
            action = Some(a);
        }
    }
    action
}
