//! The history panel: one stream's events on a virtualised timeline, a scrubber with play/pause,
//! keyboard stepping, and at the cursor the event, the folded state (with blame) and the diff
//! from the version before; or the diff between any two versions. Derived data (state, diff,
//! blame, comparison) is computed when the cursor moves and memoised, never per frame.

use std::collections::HashSet;
use std::sync::Arc;

use eframe::egui::{self, Key, RichText, Ui};
use serde_json::Value;

use super::diff_view::{changes_ui, line_diff_ui};
use super::json_tree::{JsonTree, TreeAction, removed_color};
use crate::diff::{Change, Hunk, line_diff, structural_diff};
use crate::fold::{BlameMap, History, MergeFold};
use crate::model::{Event, Payload, format_time};
use crate::worker::{Reply, Request, RequestId, Worker};

/// Events per page when loading a stream.
pub const LOAD_PAGE: usize = 2_000;
const CONTEXT_LINES: usize = 3;
const SPEEDS: [f64; 6] = [1.0, 2.0, 5.0, 10.0, 25.0, 100.0];

/// What the state, diff and event views show for the cursor, computed once per cursor move.
struct CursorView {
    index: usize,
    state: Result<Arc<Value>, String>,
    changes: Vec<Change>,
    changed_paths: HashSet<String>,
    hunks: Vec<Hunk>,
}

/// The comparison of the states at two versions.
struct Comparison {
    a: usize,
    b: usize,
    result: Result<(Vec<Change>, Vec<Hunk>), String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffTab {
    /// What the event at the cursor changed.
    Changes,
    /// The diff between the states at versions A and B.
    Compare,
}

#[derive(Default)]
struct Playback {
    playing: bool,
    speed_index: usize,
    /// Egui time of the last step, and the fraction of a step carried over.
    last_time: Option<f64>,
    carried: f64,
}

pub struct HistoryPanel {
    stream: Option<String>,
    history: Option<History>,
    load_request: Option<RequestId>,
    total: Option<i64>,
    done: bool,
    load_error: Option<String>,
    cursor: usize,
    view: Option<CursorView>,
    scroll_to_cursor: bool,
    playback: Playback,
    jump_text: String,
    jump_error: Option<String>,
    show_blame: bool,
    blame: Option<(usize, Result<BlameMap, String>)>,
    tab: DiffTab,
    compare_a: i64,
    compare_b: i64,
    comparison: Option<Comparison>,
    /// A version to go to as soon as it is loaded.
    pending_version: Option<i64>,
}

impl Default for HistoryPanel {
    fn default() -> Self {
        HistoryPanel {
            stream: None,
            history: None,
            load_request: None,
            total: None,
            done: false,
            load_error: None,
            cursor: 0,
            view: None,
            scroll_to_cursor: false,
            playback: Playback { speed_index: 2, ..Default::default() },
            jump_text: String::new(),
            jump_error: None,
            show_blame: false,
            blame: None,
            tab: DiffTab::Changes,
            compare_a: 0,
            compare_b: 0,
            comparison: None,
            pending_version: None,
        }
    }
}

impl HistoryPanel {
    /// A panel on a history that is already loaded (benchmarks and tests).
    pub fn with_history(stream: &str, history: History) -> HistoryPanel {
        let mut panel = HistoryPanel {
            stream: Some(stream.to_owned()),
            history: Some(history),
            done: true,
            ..HistoryPanel::default()
        };
        panel.set_cursor(0);
        panel
    }

    /// Stops a load in progress, if any.
    pub fn cancel_load(&mut self, worker: &mut Worker) {
        if let Some(id) = self.load_request.take() {
            if !self.done {
                worker.send(Request::Cancel { id });
            }
        }
    }

    /// Starts loading a stream (cancelling a load in progress).
    pub fn open_stream(&mut self, stream: &str, worker: &mut Worker) {
        self.cancel_load(worker);
        *self = HistoryPanel { tab: self.tab, show_blame: self.show_blame, ..HistoryPanel::default() };
        self.stream = Some(stream.to_owned());
        self.history = Some(History::new(stream.into(), Box::new(MergeFold::default())));
        self.load_request = Some(worker.send(Request::LoadStream { stream: stream.to_owned(), page_size: LOAD_PAGE }));
    }

    pub fn stream(&self) -> Option<&str> {
        self.stream.as_deref()
    }

    pub fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    /// The event index at the cursor.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The version at the cursor, once events are loaded.
    pub fn cursor_version(&self) -> Option<i64> {
        self.history.as_ref().and_then(|h| h.events().get(self.cursor)).map(|e| e.version)
    }

    pub fn is_loading(&self) -> bool {
        self.load_request.is_some() && !self.done
    }

    pub fn load_error(&self) -> Option<&str> {
        self.load_error.as_deref()
    }

    pub fn set_tab(&mut self, tab: DiffTab) {
        self.tab = tab;
    }

    /// Sets the versions compared in the Compare tab.
    pub fn set_compare(&mut self, a: i64, b: i64) {
        self.compare_a = a;
        self.compare_b = b;
    }

    pub fn set_show_blame(&mut self, on: bool) {
        self.show_blame = on;
    }

    /// The state at the cursor (after the view is computed).
    pub fn cursor_state(&self) -> Option<Arc<Value>> {
        self.view.as_ref().and_then(|v| v.state.as_ref().ok().cloned())
    }

    /// Who last changed `path` at the cursor, as an event index (after the blame is computed).
    pub fn blame_of(&self, path: &str) -> Option<crate::fold::Blame> {
        match &self.blame {
            Some((index, Ok(map))) if *index == self.cursor => map.get(path).copied(),
            _ => None,
        }
    }

    /// Goes to `version` as soon as the page holding it has arrived.
    pub fn go_to_version_when_loaded(&mut self, version: Option<i64>) {
        self.pending_version = version;
    }

    /// Takes a reply meant for this panel; false when it is not ours.
    pub fn on_reply(&mut self, id: RequestId, reply: &Reply) -> bool {
        if Some(id) != self.load_request {
            return false;
        }
        match reply {
            Reply::StreamStarted { summary } => self.total = Some(summary.events),
            Reply::EventsPage { events, done, .. } => {
                let was_empty = self.history.as_ref().is_none_or(History::is_empty);
                if let Some(history) = &mut self.history {
                    history.push_events(events.clone());
                }
                self.done = *done;
                if was_empty {
                    self.set_cursor(0);
                    self.compare_a = events.first().map_or(0, |e| e.version);
                }
                if *done && let Some(last) = self.history.as_ref().and_then(|h| h.events().last()) {
                    self.compare_b = last.version;
                }
                if let Some(version) = self.pending_version {
                    let reached = events.last().is_some_and(|e| e.version >= version);
                    if reached || *done {
                        self.pending_version = None;
                        self.jump_error = self.jump_to_version(version).err();
                    }
                }
            }
            Reply::Failed { message } => {
                self.load_error = Some(message.clone());
                self.done = true;
            }
            _ => {}
        }
        true
    }

    fn len(&self) -> usize {
        self.history.as_ref().map_or(0, History::len)
    }

    /// Moves the cursor to an event index (clamped), stopping nothing else.
    pub fn set_cursor(&mut self, index: usize) {
        let last = self.len().saturating_sub(1);
        let index = index.min(last);
        if index != self.cursor || self.view.is_none() {
            self.cursor = index;
            self.scroll_to_cursor = true;
        }
    }

    fn step(&mut self, delta: i64) {
        let target = (self.cursor as i64 + delta).max(0) as usize;
        self.set_cursor(target);
    }

    /// Goes to the first event with this version (or the next one after a gap).
    pub fn jump_to_version(&mut self, version: i64) -> Result<(), String> {
        let history = self.history.as_ref().ok_or("no stream is open")?;
        match history.index_of_version(version) {
            Some(index) => {
                self.set_cursor(index);
                Ok(())
            }
            None => Err(match history.events().last() {
                Some(last) => format!("version {version} is past the end (last loaded: v{})", last.version),
                None => "no events loaded yet".to_owned(),
            }),
        }
    }

    /// Recomputes the memoised view when the cursor moved or the fold got further.
    fn ensure_view(&mut self) {
        let Some(history) = &mut self.history else {
            return;
        };
        if history.is_empty() || self.view.as_ref().is_some_and(|v| v.index == self.cursor) {
            return;
        }
        let index = self.cursor;
        let state = history.state_after(index + 1).map_err(|f| f.to_string());
        let previous = history.state_after(index).ok();
        let (changes, hunks) = match (&previous, &state) {
            (Some(previous), Ok(state)) => {
                (structural_diff(previous, state), line_diff(previous, state, CONTEXT_LINES))
            }
            _ => (Vec::new(), Vec::new()),
        };
        let changed_paths = changes.iter().map(|c| c.path.clone()).collect();
        self.view = Some(CursorView { index, state, changes, changed_paths, hunks });
    }

    fn ensure_blame(&mut self) {
        if !self.show_blame || self.blame.as_ref().is_some_and(|(i, _)| *i == self.cursor) {
            return;
        }
        if let Some(history) = &mut self.history
            && !history.is_empty()
        {
            let map = history.blame_after(self.cursor + 1).map_err(|f| f.to_string());
            self.blame = Some((self.cursor, map));
        }
    }

    fn ensure_comparison(&mut self) {
        if self.tab != DiffTab::Compare {
            return;
        }
        let Some(history) = &mut self.history else {
            return;
        };
        let (Some(a), Some(b)) = (
            history.index_of_version(self.compare_a).or(history.len().checked_sub(1)),
            history.index_of_version(self.compare_b).or(history.len().checked_sub(1)),
        ) else {
            return;
        };
        if self.comparison.as_ref().is_some_and(|c| c.a == a && c.b == b) {
            return;
        }
        let result = match (history.state_after(a + 1), history.state_after(b + 1)) {
            (Ok(sa), Ok(sb)) => Ok((structural_diff(&sa, &sb), line_diff(&sa, &sb, CONTEXT_LINES))),
            (Err(f), _) | (_, Err(f)) => Err(f.to_string()),
        };
        self.comparison = Some(Comparison { a, b, result });
    }

    /// Keyboard: ←/→ one step, PgUp/PgDn ten, Home/End, Space play/pause. Ignored while a text
    /// field has the focus.
    fn handle_keys(&mut self, ui: &Ui) {
        if ui.ctx().text_edit_focused() || self.len() == 0 {
            return;
        }
        let none = egui::Modifiers::NONE;
        let (left, right, page_up, page_down, home, end, space) = ui.ctx().input_mut(|i| {
            (
                i.consume_key(none, Key::ArrowLeft),
                i.consume_key(none, Key::ArrowRight),
                i.consume_key(none, Key::PageUp),
                i.consume_key(none, Key::PageDown),
                i.consume_key(none, Key::Home),
                i.consume_key(none, Key::End),
                i.consume_key(none, Key::Space),
            )
        });
        if left || right || page_up || page_down || home || end {
            self.playback.playing = false;
        }
        if left {
            self.step(-1);
        }
        if right {
            self.step(1);
        }
        if page_up {
            self.step(-10);
        }
        if page_down {
            self.step(10);
        }
        if home {
            self.set_cursor(0);
        }
        if end {
            self.set_cursor(usize::MAX);
        }
        if space {
            self.toggle_play(ui.input(|i| i.time));
        }
    }

    fn toggle_play(&mut self, now: f64) {
        self.playback.playing = !self.playback.playing;
        self.playback.last_time = Some(now);
        self.playback.carried = 0.0;
        if self.playback.playing && self.cursor + 1 >= self.len() {
            self.set_cursor(0);
        }
    }

    fn advance_playback(&mut self, ui: &Ui) {
        if !self.playback.playing {
            return;
        }
        let now = ui.input(|i| i.time);
        let speed = SPEEDS[self.playback.speed_index.min(SPEEDS.len() - 1)];
        let elapsed = now - self.playback.last_time.unwrap_or(now);
        self.playback.last_time = Some(now);
        let steps = self.playback.carried + elapsed * speed;
        let whole = steps.floor();
        self.playback.carried = steps - whole;
        if whole >= 1.0 {
            self.step(whole as i64);
        }
        if self.cursor + 1 >= self.len() && self.done {
            self.playback.playing = false;
        } else {
            ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(1.0 / speed));
        }
    }

    pub fn ui(&mut self, ui: &mut Ui) {
        if self.stream.is_none() {
            empty_state_ui(ui);
            return;
        }
        self.handle_keys(ui);
        self.advance_playback(ui);
        self.ensure_view();
        self.ensure_blame();
        self.ensure_comparison();

        egui::Panel::top("history_header").show(ui, |ui| self.header_ui(ui));
        egui::Panel::left("timeline")
            .resizable(true)
            .default_size(300.0)
            .min_size(200.0)
            .show(ui, |ui| self.timeline_ui(ui));
        let mut action = None;
        egui::Panel::bottom("diff").resizable(true).default_size(270.0).min_size(120.0).show(ui, |ui| self.diff_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            ui.columns(2, |columns| {
                egui::ScrollArea::both().id_salt("event_scroll").auto_shrink([false, false]).show(
                    &mut columns[0],
                    |ui| {
                        self.event_ui(ui);
                    },
                );
                egui::ScrollArea::both().id_salt("state_scroll").auto_shrink([false, false]).show(
                    &mut columns[1],
                    |ui| {
                        action = self.state_ui(ui);
                    },
                );
            });
        });
        if let Some(TreeAction::GoToEvent(index)) = action {
            self.playback.playing = false;
            self.set_cursor(index);
        }
    }

    fn header_ui(&mut self, ui: &mut Ui) {
        let len = self.len();
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.heading("Stream");
            let stream = self.stream.clone().unwrap_or_default();
            ui.add(egui::Label::new(RichText::new(&stream).monospace().strong()).selectable(true));
            if ui.small_button("Copy id").clicked() {
                ui.ctx().copy_text(stream);
            }
            if let Some(history) = &self.history {
                for anomaly in history.anomalies().iter().take(3) {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {anomaly}"));
                }
                if history.anomalies().len() > 3 {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("and {} more anomalies", history.anomalies().len() - 3),
                    );
                }
            }
        });
        if let Some(error) = &self.load_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        if !self.done || self.total.is_some_and(|t| (len as i64) < t && !self.done) {
            let total = self.total.unwrap_or(0).max(1);
            ui.add(
                egui::ProgressBar::new(len as f32 / total as f32)
                    .desired_width(ui.available_width())
                    .text(format!("loading: {len} of {} events", self.total.map_or("?".to_owned(), |t| t.to_string()))),
            );
        }
        if len == 0 {
            return;
        }
        let now = ui.input(|i| i.time);
        ui.horizontal(|ui| {
            if ui.button("⏮").on_hover_text("First version (Home)").clicked() {
                self.set_cursor(0);
            }
            if ui.button("◀").on_hover_text("Previous version (Left arrow)").clicked() {
                self.step(-1);
            }
            let play = if self.playback.playing { "⏸ Pause" } else { "▶ Play" };
            if ui.button(play).on_hover_text("Play through the versions (Space)").clicked() {
                self.toggle_play(now);
            }
            if ui.button("▶").on_hover_text("Next version (Right arrow)").clicked() {
                self.step(1);
            }
            if ui.button("⏭").on_hover_text("Last version (End)").clicked() {
                self.set_cursor(usize::MAX);
            }
            egui::ComboBox::from_label("events/s")
                .selected_text(format!("{}", SPEEDS[self.playback.speed_index]))
                .width(50.0)
                .show_ui(ui, |ui| {
                    for (i, speed) in SPEEDS.iter().enumerate() {
                        ui.selectable_value(&mut self.playback.speed_index, i, format!("{speed}"));
                    }
                });
            let version = self.cursor_version().unwrap_or(0);
            let last = self.history.as_ref().and_then(|h| h.events().last()).map_or(0, |e| e.version);
            ui.label(RichText::new(format!("version {version} of {last}")).strong());
            ui.label(format!("(event {} of {len})", self.cursor + 1));
            ui.separator();
            let jump =
                ui.add(egui::TextEdit::singleline(&mut self.jump_text).hint_text("go to version").desired_width(110.0));
            if jump.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                self.jump_error = match self.jump_text.trim().parse::<i64>() {
                    Ok(v) => self.jump_to_version(v).err(),
                    Err(_) => Some(format!("“{}” is not a version number", self.jump_text.trim())),
                };
                self.playback.playing = false;
            }
            if let Some(error) = &self.jump_error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
        });
        let mut index = self.cursor;
        ui.spacing_mut().slider_width = (ui.available_width() - 60.0).max(100.0);
        let slider = egui::Slider::new(&mut index, 0..=len.saturating_sub(1)).show_value(false).text("scrub");
        let response = ui.add(slider);
        if response.changed() {
            self.playback.playing = false;
            self.set_cursor(index);
        }
        ui.add_space(2.0);
    }

    fn timeline_ui(&mut self, ui: &mut Ui) {
        let Some(history) = &self.history else {
            return;
        };
        let events = history.events();
        ui.horizontal(|ui| {
            ui.strong("Timeline");
            ui.weak(RichText::new("← → PgUp PgDn Home End, Space plays").monospace());
        });
        if events.is_empty() {
            ui.weak(if self.done { "This stream has no events." } else { "Loading the first page…" });
            return;
        }
        let row_height = ui.spacing().interact_size.y;
        let spacing = ui.spacing().item_spacing.y;
        let mut area = egui::ScrollArea::vertical().id_salt("timeline_scroll").auto_shrink([false, false]);
        if std::mem::take(&mut self.scroll_to_cursor) {
            let visible = ui.available_height();
            let offset = self.cursor as f32 * (row_height + spacing) - visible / 2.0 + row_height;
            area = area.vertical_scroll_offset(offset.max(0.0));
        }
        let failure_index = history.failure().and_then(|f| f.index);
        let mut clicked = None;
        let cursor = self.cursor;
        area.show_rows(ui, row_height, events.len(), |ui, range| {
            for i in range {
                let event = &events[i];
                let anomaly = match i.checked_sub(1).map(|p| events[p].version) {
                    Some(previous) if event.version > previous + 1 => {
                        Some(format!("versions {} to {} missing before this one", previous + 1, event.version - 1))
                    }
                    Some(previous) if event.version == previous => Some("duplicate version".to_owned()),
                    _ => None,
                };
                ui.horizontal(|ui| {
                    if let Some(anomaly) = &anomaly {
                        ui.colored_label(ui.visuals().warn_fg_color, "⚠").on_hover_text(anomaly);
                    }
                    let mut text = format!("v{:<5} {}", event.version, event.event_type);
                    if matches!(event.payload, Payload::Undecodable { .. }) {
                        text.push_str(" ⛔");
                    }
                    let mut rich = RichText::new(text).monospace();
                    if failure_index == Some(i) {
                        rich = rich.color(removed_color(ui));
                    }
                    let response = ui.selectable_label(i == cursor, rich);
                    if response.clicked() {
                        clicked = Some(i);
                    }
                    let when = event.recorded_at.map(|t| t.format("%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                    ui.weak(format!("{when} {}", event.actor().unwrap_or("")));
                });
            }
        });
        if let Some(i) = clicked {
            self.playback.playing = false;
            self.cursor = i;
        }
    }

    fn event_ui(&mut self, ui: &mut Ui) {
        let Some(event) = self.history.as_ref().and_then(|h| h.events().get(self.cursor)) else {
            return;
        };
        event_details_ui(ui, event);
    }

    fn state_ui(&mut self, ui: &mut Ui) -> Option<TreeAction> {
        let Some(view) = &self.view else {
            return None;
        };
        let version = self.cursor_version().unwrap_or(0);
        let mut action = None;
        ui.horizontal(|ui| {
            ui.heading(format!("State after v{version}"));
            if let Ok(state) = &view.state
                && ui.small_button("Copy state").clicked()
            {
                ui.ctx().copy_text(crate::diff::pretty(state));
            }
            ui.checkbox(&mut self.show_blame, "Blame").on_hover_text("Show which version last changed each field");
        });
        let fold = self.history.as_ref().map_or("", |h| h.fold_name());
        ui.weak(format!("folded with the {fold} fold; highlighted fields changed at this version"));
        match &view.state {
            Err(message) => {
                ui.colored_label(ui.visuals().error_fg_color, message);
                ui.label("The versions before it stay browsable.");
            }
            Ok(state) => {
                let events = self.history.as_ref().map(|h| h.events()).unwrap_or_default();
                let label =
                    |index: usize| events.get(index).map_or_else(|| format!("#{index}"), |e| format!("v{}", e.version));
                let mut tree = JsonTree::new("state").changed(&view.changed_paths);
                match &self.blame {
                    Some((index, Ok(map))) if self.show_blame && *index == self.cursor => {
                        tree = tree.blame(map, &label);
                        action = tree.show(ui, state);
                    }
                    Some((_, Err(message))) if self.show_blame => {
                        ui.colored_label(ui.visuals().error_fg_color, message);
                        action = tree.show(ui, state);
                    }
                    _ => action = tree.show(ui, state),
                }
            }
        }
        action
    }

    fn diff_ui(&mut self, ui: &mut Ui) {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            let version = self.cursor_version().unwrap_or(0);
            ui.selectable_value(&mut self.tab, DiffTab::Changes, format!("Changes at v{version}"));
            ui.selectable_value(&mut self.tab, DiffTab::Compare, "Compare two versions");
            if self.tab == DiffTab::Compare {
                ui.separator();
                let (first, last) = self
                    .history
                    .as_ref()
                    .map(|h| (h.events().first().map_or(0, |e| e.version), h.events().last().map_or(0, |e| e.version)))
                    .unwrap_or((0, 0));
                ui.add(egui::DragValue::new(&mut self.compare_a).range(first..=last).prefix("A: v"));
                ui.add(egui::DragValue::new(&mut self.compare_b).range(first..=last).prefix("B: v"));
                if ui.small_button("A = cursor").clicked() {
                    self.compare_a = self.cursor_version().unwrap_or(first);
                }
                if ui.small_button("B = cursor").clicked() {
                    self.compare_b = self.cursor_version().unwrap_or(last);
                }
            }
        });
        ui.separator();
        let (changes, hunks, error): (&[Change], &[Hunk], Option<&str>) = match self.tab {
            DiffTab::Changes => match &self.view {
                Some(view) => match &view.state {
                    Ok(_) => (&view.changes, &view.hunks, None),
                    Err(e) => (&[], &[], Some(e.as_str())),
                },
                None => (&[], &[], None),
            },
            DiffTab::Compare => match &self.comparison {
                Some(Comparison { result: Ok((c, h)), .. }) => (c, h, None),
                Some(Comparison { result: Err(e), .. }) => (&[], &[], Some(e.as_str())),
                None => (&[], &[], None),
            },
        };
        if let Some(error) = error {
            ui.colored_label(ui.visuals().error_fg_color, error);
            return;
        }
        let (added, removed, changed) = crate::diff::change_counts(changes);
        ui.weak(format!("{added} added · {removed} removed · {changed} changed"));
        ui.columns(2, |columns| {
            egui::ScrollArea::both().id_salt("changes_scroll").auto_shrink([false, false]).show(
                &mut columns[0],
                |ui| {
                    changes_ui(ui, "diff", changes);
                },
            );
            egui::ScrollArea::both().id_salt("lines_scroll").auto_shrink([false, false]).show(&mut columns[1], |ui| {
                line_diff_ui(ui, hunks);
            });
        });
    }
}

fn empty_state_ui(ui: &mut Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading("Pick a stream on the left");
        ui.label("Then step through its history: the event, the folded state and what changed, at every version.");
        ui.weak(RichText::new("Keys: ← → one version · PgUp PgDn ten · Home End · Space plays").monospace());
    });
}

/// The event at the cursor: type, version, times, actor, payload and metadata.
pub fn event_details_ui(ui: &mut Ui, event: &Event) {
    ui.horizontal(|ui| {
        ui.heading(format!("v{} · {}", event.version, event.event_type));
        if ui.small_button("Copy event").clicked() {
            ui.ctx().copy_text(crate::diff::pretty(&event.to_output_json()));
        }
    });
    egui::Grid::new("event_facts").num_columns(2).show(ui, |ui| {
        let fact = |ui: &mut Ui, name: &str, value: Option<String>| {
            if let Some(value) = value {
                ui.weak(name);
                ui.add(egui::Label::new(RichText::new(value).monospace()).selectable(true));
                ui.end_row();
            }
        };
        fact(ui, "position", event.position.map(|p| p.to_string()));
        fact(ui, "recorded at", event.recorded_at.map(format_time));
        fact(ui, "actor", event.actor().map(str::to_owned));
        fact(ui, "correlation", event.metadata_str("correlation_id").map(str::to_owned));
        fact(ui, "causation", event.metadata_str("causation_id").map(str::to_owned));
    });
    ui.add_space(4.0);
    ui.strong("Payload");
    payload_ui(ui, "payload", &event.payload);
    if let Some(metadata) = &event.metadata {
        ui.add_space(4.0);
        egui::CollapsingHeader::new(RichText::new("Metadata").strong()).id_salt("metadata").default_open(true).show(
            ui,
            |ui| {
                payload_ui(ui, "metadata", metadata);
            },
        );
    }
}

fn payload_ui(ui: &mut Ui, id: &str, payload: &Payload) {
    match payload {
        Payload::Json(value) => {
            JsonTree::new(id).show(ui, value);
        }
        Payload::Undecodable { bytes, reason } => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Could not decode: {reason}"));
            ui.weak(format!("{} bytes, shown raw:", bytes.len()));
            ui.add(egui::Label::new(RichText::new(hex_dump(bytes, 64)).monospace()).selectable(true));
            ui.weak("As text (bytes that are not UTF-8 shown as \\xNN):");
            ui.add(
                egui::Label::new(RichText::new(escape_invalid_utf8(&bytes[..bytes.len().min(4096)])).monospace())
                    .selectable(true),
            );
        }
    }
}

/// The bytes as text, with every byte that is not part of valid UTF-8 written as `\xNN`.
pub fn escape_invalid_utf8(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Lines of 16 bytes: offset, hex, and printable ASCII; at most `max_lines` lines.
pub fn hex_dump(bytes: &[u8], max_lines: usize) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate().take(max_lines) {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk.iter().map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' }).collect();
        out.push_str(&format!("{:08x}  {:<48} {ascii}\n", line * 16, hex.join(" ")));
    }
    if bytes.len() > max_lines * 16 {
        out.push_str(&format!("… {} more bytes\n", bytes.len() - max_lines * 16));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_shows_offsets_hex_and_ascii() {
        let dump = hex_dump(b"{\"a\":\xff}", 4);
        assert_eq!(dump, format!("00000000  {:<48} {{\"a\":.}}\n", "7b 22 61 22 3a ff 7d"));
        assert!(hex_dump(&[0u8; 100], 2).ends_with("… 68 more bytes\n"));
        assert_eq!(escape_invalid_utf8(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
    }
}
