//! The history panel: one stream's events on a virtualised timeline, a scrubber with play/pause,
//! keyboard stepping, and at the cursor the event, the folded state (with blame) and the diff
//! from the version before; or the diff between any two versions. Derived data (state, diff,
//! blame, comparison) is computed when the cursor moves and memoised, never per frame.
//!
//! This module holds the panel's state, the cursor and its memoised view, and the layout of the
//! parts (side by side, or tabs on a narrow window); each part lives in its own file: the
//! `header` (player, scrubber), `loading` (pages read as the fold keeps up), `playback` (keys,
//! play), `timeline`, `state` (tree, snapshot, fold picker), `diff_area`, and the event
//! `details` shared with Audit.

mod bisect;
mod details;
mod diff_area;
mod fixture;
mod follow;
mod header;
mod loading;
mod playback;
mod state;
mod timeline;

use bisect::BisectBar;
use details::payload_ui;
pub use details::{EventLink, escape_invalid_utf8, event_details_ui, hex_dump, looks_textual};
use diff_area::DiffArea;
use diff_area::{LineDiff, line_diff_of, snapshot_ui};
use fixture::FixtureWindow;
pub use follow::Arrived;
use follow::StreamFollow;
use loading::StreamLoader;
use state::FoldPicker;
pub use timeline::TimelineFilter;
use timeline::TimelineView;

use std::collections::HashSet;
use std::sync::Arc;

use eframe::egui::{self, Key, RichText, Ui};
use serde_json::Value;

use super::background::Background;
use super::diff_view::{changes_list_ui, changes_ui, line_diff_list_ui};
use super::json_tree::{JsonTree, TreeAction, removed_color};
use super::panel_size::{Along, PanelSize};
use super::scripts::{FOLD_EXAMPLES, FileDialog, ScriptSource, WatchedScript};
use super::settings::{RememberedFold, RememberedScript};
use crate::diff::{Change, Hunk, has_at_most_nodes, line_diff, structural_diff};
pub use crate::fold::FoldScope;
use crate::fold::history::EventSummary;
use crate::fold::{BlameMap, BrokenFold, Fold, History, JsFold, MergeFold};
use crate::model::{Event, Payload, format_time};
use crate::store::EventCursor;
use crate::worker::{Reply, Request, RequestId, Worker};

/// How long a frame may spend folding loaded events.
const FOLD_BUDGET: std::time::Duration = std::time::Duration::from_millis(12);
/// Events per page when loading a stream.
pub const LOAD_PAGE: usize = 2_000;
/// How many folded events of a stream stay in memory (whole pages, least recently used dropped
/// first, read again when needed): a long stream is held a window at a time.
pub const WINDOW_EVENTS: usize = 8 * LOAD_PAGE;
/// How far reading may run ahead of folding, in events (reading pauses meanwhile).
const READ_AHEAD: usize = 2 * LOAD_PAGE;
const CONTEXT_LINES: usize = 3;
/// States with more nodes than this have their line diff worked out off the UI thread.
const INLINE_DIFF_NODES: usize = 4_000;
const SPEEDS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 25.0, 100.0, 250.0, 1000.0];

/// What the state, diff and event views show for the cursor, computed once per cursor move.
struct CursorView {
    index: usize,
    state: Result<Arc<Value>, String>,
    changes: Vec<Change>,
    changed_paths: HashSet<String>,
    hunks: LineDiff,
    /// The stored snapshot at this version, and how it differs from the recomputed state.
    snapshot: Option<(Payload, Option<Vec<Change>>)>,
    /// Where the fold failed at or before the cursor: how many events the last good state
    /// had seen (0: the initial state), and that state.
    last_good: Option<(usize, Arc<Value>)>,
}

/// The events that changed one path of the state, being found from the newest back.
struct PathMarks {
    path: String,
    /// The next blame to ask for: of the state after this many events.
    next: usize,
    /// The events found so far, newest first.
    found: Vec<usize>,
    done: bool,
    error: Option<String>,
}

/// The comparison of the states at two versions.
struct Comparison {
    a: usize,
    b: usize,
    result: Result<(Vec<Change>, LineDiff), String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiffTab {
    /// What the event at the cursor changed.
    #[default]
    Changes,
    /// The diff between the states at versions A and B.
    Compare,
}

/// How the panel is laid out: the sizes the user gave its parts (kept per store by the app),
/// presenter mode, and on a narrow window which part is shown.
#[derive(Clone, Debug, Default)]
pub struct HistoryLayout {
    pub presenter: bool,
    /// The stream's category and business label, shown in the header (set by the app).
    pub label: Option<super::streams::StreamLabel>,
    /// The user chose this field to label the stream's category (taken by the app).
    /// (`None` for the field found automatically.)
    pub chosen_label_field: Option<(String, Option<String>)>,
    pub timeline_width: Option<f32>,
    pub diff_height: Option<f32>,
    pub narrow_tab: DetailTab,
    /// The open store as a link names it (set by the app), for "🔗 Link".
    pub store_link: Option<String>,
}

/// The parts beside the timeline, shown one at a time on a narrow window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DetailTab {
    Event,
    #[default]
    State,
    Changes,
}

/// Below this width (points) beside the timeline, event, state and diff are tabs.
pub const NARROW_DETAILS: f32 = 560.0;

/// The smallest timeline (versions and types still show) and diff area.
const MIN_TIMELINE: f32 = 140.0;
const MIN_DIFF: f32 = 100.0;

/// The width of the timeline's marker column (two glyphs).
const MARKER_WIDTH: f32 = 40.0;

/// What the panel steps through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One stream, in version order.
    Stream,
    /// A projection run over the store, in global order.
    Projection,
}

/// The fold chosen for streams: a script and where it applies (the merge fold elsewhere).
#[derive(Clone, Debug)]
pub struct FoldSetting {
    pub script: WatchedScript,
    pub scope: FoldScope,
}

impl FoldSetting {
    /// How the settings file keeps it.
    pub fn remembered(&self) -> RememberedFold {
        let script = match &self.script.source {
            ScriptSource::File(path) => RememberedScript::File(path.clone()),
            ScriptSource::Example { name, .. } => RememberedScript::Example((*name).to_owned()),
            ScriptSource::Lesson { name, .. } => RememberedScript::Lesson(name.clone()),
        };
        RememberedFold { script, scope: self.scope.clone() }
    }

    /// The fold the settings file kept (`None` for an example this build no longer has).
    pub fn from_remembered(fold: &RememberedFold) -> Option<FoldSetting> {
        let source = match &fold.script {
            RememberedScript::File(path) => ScriptSource::File(path.clone()),
            // (A lesson's fold comes back with the lesson's steps, not from the settings.)
            RememberedScript::Lesson(_) => return None,
            RememberedScript::Example(wanted) => {
                let (name, source) = FOLD_EXAMPLES.iter().find(|(name, _)| name == wanted)?;
                ScriptSource::Example { name, source }
            }
        };
        Some(FoldSetting { script: WatchedScript::new(source), scope: fold.scope.clone() })
    }

    fn applies(&self, stream: &str, category: &str) -> bool {
        self.scope.applies(stream, category)
    }
}

/// The newest page of a long stream, read at once so that the stream opens at its newest
/// events while the pages before them load: placed at the indices its versions suggest (the
/// count past the index's cap is the version span), and placed exactly once the pages read from
/// the start reach it.
struct Tail {
    /// The index of its first event.
    anchor: usize,
    events: Vec<Event>,
    summaries: Vec<EventSummary>,
}

/// A page read in progress: the next page of the stream, or one read again (by its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageRead {
    Next,
    Again(usize),
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
    pub layout: HistoryLayout,
    mode: Mode,
    /// The stream id, or the projection's name.
    stream: Option<String>,
    /// The stream's stored snapshots by version.
    snapshots: std::collections::BTreeMap<i64, Payload>,
    /// Which events the timeline lists.
    pub filter: TimelineFilter,
    /// A correlation or causation link the user followed (taken by the app).
    followed_link: Option<(EventLink, Event)>,
    /// The category and payload of the stream's first event (for the label menu).
    first_payload: Option<(String, Value)>,
    /// Whether each snapshot checked so far differs from the state recomputed at its version.
    snapshot_drift: std::collections::HashMap<i64, bool>,
    /// The stream's events that break their type's contract (the Types view's last survey), by
    /// version, with what is wrong; and which survey they come from.
    contract_breaches: (u64, std::collections::HashMap<i64, String>),
    /// The blame is being built (over several frames).
    blame_pending: bool,
    /// The state at the cursor is being recomputed (over several frames, under a slow fold).
    view_pending: bool,
    history: Option<History>,
    cursor: usize,
    view: Option<CursorView>,
    playback: Playback,
    show_blame: bool,
    blame: Option<(usize, Result<BlameMap, String>)>,
    /// Reading the stream: pages, the newest page read ahead, how far it is.
    loader: StreamLoader,
    picker: FoldPicker,
    diff: DiffArea,
    timeline: TimelineView,
    bisect: BisectBar,
    fixture: FixtureWindow,
    follow: StreamFollow,
    /// The open stream's bookmarks: version (a projection run's position) → note (given by the
    /// app from the store's settings).
    bookmarks: std::collections::BTreeMap<i64, String>,
    /// The user asked to bookmark this version (taken by the app).
    bookmark_wanted: Option<(String, i64)>,
}

impl Default for HistoryPanel {
    fn default() -> Self {
        HistoryPanel {
            layout: HistoryLayout::default(),
            mode: Mode::Stream,
            stream: None,
            snapshots: Default::default(),
            snapshot_drift: Default::default(),
            contract_breaches: Default::default(),
            first_payload: None,
            followed_link: None,
            filter: TimelineFilter::default(),
            blame_pending: false,
            view_pending: false,
            history: None,
            cursor: 0,
            view: None,
            playback: Playback { speed_index: 2, ..Default::default() },
            loader: StreamLoader::default(),
            timeline: TimelineView::default(),
            bisect: BisectBar::default(),
            fixture: FixtureWindow::default(),
            follow: StreamFollow::default(),
            bookmarks: Default::default(),
            bookmark_wanted: None,
            diff: DiffArea::default(),
            picker: FoldPicker::default(),
            show_blame: false,
            blame: None,
        }
    }
}

impl HistoryPanel {
    /// A panel on a history that is already loaded (benchmarks and tests).
    pub fn with_history(stream: &str, history: History) -> HistoryPanel {
        let mut panel = HistoryPanel {
            stream: Some(stream.to_owned()),
            history: Some(history),
            loader: StreamLoader { done: true, ..StreamLoader::default() },
            ..HistoryPanel::default()
        };
        panel.set_cursor(0);
        panel
    }

    /// A panel stepping through a projection run; feed it with [`HistoryPanel::push_events`].
    /// Gives the history back (the benchmark draws a frame of it, then goes on loading).
    pub fn into_history(self) -> Option<History> {
        self.history
    }

    pub fn for_projection(name: &str, projection: Box<dyn Fold>) -> HistoryPanel {
        HistoryPanel {
            mode: Mode::Projection,
            stream: Some(name.to_owned()),
            // Projection states grow with the store: fewer, larger checkpoints.
            history: Some(History::with_interval(name.into(), projection, 512)),
            ..HistoryPanel::default()
        }
    }

    /// Which survey of the Types view the contract marks come from (0: none).
    pub fn contract_survey(&self) -> u64 {
        self.contract_breaches.0
    }

    /// Marks the events that break their type's contract, found by survey `survey`.
    pub fn set_contract_breaches(&mut self, survey: u64, breaches: std::collections::HashMap<i64, String>) {
        self.contract_breaches = (survey, breaches);
    }

    /// The stored snapshots loaded for the stream, by version.
    pub fn snapshots(&self) -> &std::collections::BTreeMap<i64, Payload> {
        &self.snapshots
    }

    /// The fold for a stream of this category: the chosen script where it applies, else merge.
    /// A script that does not compile becomes a fold that fails at once, with the reason.
    fn make_fold(&self, stream: &str, category: &str) -> Box<dyn Fold> {
        let Some(setting) = self.picker.fold.as_ref().filter(|f| f.applies(stream, category)) else {
            return Box::new(MergeFold::default());
        };
        let name = setting.script.name();
        match setting.script.text().and_then(|text| JsFold::from_source(&name, &text).map_err(|e| e.to_string())) {
            Ok(fold) => Box::new(fold),
            Err(message) => Box::new(BrokenFold { name, message }),
        }
    }

    /// The chosen fold (stream mode).
    /// The open stream's bookmarks (version → note), from the store's settings.
    pub fn set_bookmarks(&mut self, bookmarks: std::collections::BTreeMap<i64, String>) {
        self.bookmarks = bookmarks;
    }

    /// The version the user asked to bookmark (🔖 or Ctrl+D), taken once.
    pub fn take_bookmark_wanted(&mut self) -> Option<(String, i64)> {
        self.bookmark_wanted.take()
    }

    /// Asks for the cursor's version (a projection run's position) to be bookmarked.
    fn want_bookmark(&mut self) {
        if let (Some(stream), Some(version)) = (self.stream.clone(), self.cursor_version()) {
            self.bookmark_wanted = Some((stream, version));
        }
    }

    pub fn fold_setting(&self) -> Option<&FoldSetting> {
        self.picker.fold.as_ref()
    }

    /// Chooses the fold for streams (`None`: the merge fold) and refolds the open stream.
    pub fn set_fold(&mut self, fold: Option<FoldSetting>) {
        self.picker.fold = fold;
        self.refold();
    }

    /// Replays the loaded events with the fold that applies now, keeping the cursor.
    fn refold(&mut self) {
        let (Some(stream), Some(history)) = (self.stream.clone(), self.history.take()) else {
            return;
        };
        if self.mode != Mode::Stream {
            self.history = Some(history);
            return;
        }
        let mut history = history;
        let category = history.category().unwrap_or_default().to_owned();
        history.refold(self.make_fold(&stream, &category));
        self.history = Some(history);
        self.view = None;
        self.blame = None;
        self.diff.comparison = None;
        self.snapshot_drift.clear();
        self.timeline.marks = None;
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

    /// The version at the cursor (the position, in a projection run), once events are loaded.
    pub fn cursor_version(&self) -> Option<i64> {
        self.ordinal_at(self.cursor)
    }

    /// Whether the cursor is on the stream's newest event with the event at hand (the newest
    /// page read first, or the whole stream).
    pub fn showing_newest_page(&self) -> bool {
        (self.loader.tail.is_some() || self.loader.done)
            && self.cursor + 1 == self.len()
            && self.event_at(self.cursor).is_some()
    }

    /// Whether a page read is in progress.
    pub fn is_waiting_for_a_read(&self) -> bool {
        self.loader.load_request.is_some()
    }

    pub fn is_loading(&self) -> bool {
        self.stream.is_some() && !self.loader.done
    }

    pub fn load_error(&self) -> Option<&str> {
        self.loader.load_error.as_deref()
    }

    pub fn set_show_blame(&mut self, on: bool) {
        self.show_blame = on;
    }

    /// The state at the cursor (after the view is computed).
    pub fn cursor_state(&self) -> Option<Arc<Value>> {
        self.current_view().and_then(|v| v.state.as_ref().ok().cloned())
    }

    /// The view computed for the cursor's event: `None` while the fold has not got there yet
    /// (the view of an earlier cursor is not shown as this one's).
    fn current_view(&self) -> Option<&CursorView> {
        self.view.as_ref().filter(|v| v.index == self.cursor)
    }

    /// Who last changed `path` at the cursor, as an event index (after the blame is computed).
    pub fn blame_of(&self, path: &str) -> Option<crate::fold::Blame> {
        match &self.blame {
            Some((index, Ok(map))) if *index == self.cursor => map.get(path).copied(),
            _ => None,
        }
    }

    /// Goes to `version` as soon as the page holding it has arrived.
    /// The correlation or causation link the user followed, with the event it is on.
    pub fn take_followed_link(&mut self) -> Option<(EventLink, Event)> {
        self.followed_link.take()
    }

    /// Whether the cursor is still on its way: a version waited for, or the first page.
    pub fn is_settling(&self) -> bool {
        self.loader.pending_version.is_some()
            || (self.len() == 0 && !self.loader.done && self.loader.load_error.is_none())
    }

    pub fn go_to_version_when_loaded(&mut self, version: Option<i64>) {
        self.loader.pending_version = version;
        if version.is_some() {
            self.loader.follow_newest = false;
        }
    }

    /// What the panel counts by: the version in a stream, the global position in a projection
    /// run (or the event's number where the store has no position).
    fn ordinal(&self, version: i64, position: Option<i64>, index: usize) -> i64 {
        match self.mode {
            Mode::Stream => version,
            Mode::Projection => position.unwrap_or(index as i64 + 1),
        }
    }

    /// The ordinal of the event at `index`, when there is one.
    fn ordinal_at(&self, index: usize) -> Option<i64> {
        let summary = self.summary_at(index)?;
        Some(self.ordinal(summary.version, summary.position, index))
    }

    /// What the timeline shows of the event at `index`: from the pages read from the start, or
    /// from the newest page; `None` for an event not read yet.
    fn summary_at(&self, index: usize) -> Option<&EventSummary> {
        summary_in(self.history.as_ref(), self.loader.tail.as_ref(), index)
    }

    /// The event at `index`, when it is in memory.
    fn event_at(&self, index: usize) -> Option<&Event> {
        let head = self.history.as_ref().map_or(0, History::len);
        if index < head {
            return self.history.as_ref()?.event(index);
        }
        let tail = self.loader.tail.as_ref()?;
        tail.events.get(index.checked_sub(tail.anchor)?)
    }

    /// "version" or "position".
    fn unit(&self) -> &'static str {
        match self.mode {
            Mode::Stream => "version",
            Mode::Projection => "position",
        }
    }

    /// The index of the first event at or after this ordinal.
    fn index_of(&self, ordinal: i64) -> Option<usize> {
        let head = self.history.as_ref().map_or(0, History::len);
        let (mut low, mut high) = (0, head);
        while low < high {
            let middle = (low + high) / 2;
            if self.ordinal_at(middle).is_some_and(|o| o < ordinal) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        if low < head {
            return Some(low);
        }
        // In the newest page, when it is the one holding it (not the events between, unread).
        let tail = self.loader.tail.as_ref()?;
        let ordinal_of = |k: usize, s: &EventSummary| self.ordinal(s.version, s.position, tail.anchor + k);
        if ordinal_of(0, &tail.summaries[0]) > ordinal {
            return None;
        }
        let k = (0..tail.summaries.len()).find(|&k| ordinal_of(k, &tail.summaries[k]) >= ordinal)?;
        Some((tail.anchor + k).max(head))
    }

    /// How an event is named in labels: `v12`, or `#1849` in a projection run.
    fn label_of(&self, index: usize) -> String {
        match (self.ordinal_at(index), self.mode) {
            (Some(version), Mode::Stream) => format!("v{version}"),
            (Some(position), Mode::Projection) => format!("#{position}"),
            (None, _) => format!("#{index}"),
        }
    }

    fn len(&self) -> usize {
        let head = self.history.as_ref().map_or(0, History::len);
        self.loader.tail.as_ref().map_or(head, |t| head.max(t.anchor + t.events.len()))
    }

    /// Moves the cursor to an event index (clamped), stopping nothing else; the cursor no
    /// longer follows the newest event.
    pub fn set_cursor(&mut self, index: usize) {
        self.loader.follow_newest = false;
        self.loader.pending_version = None;
        self.place_cursor(index);
    }

    /// Puts the cursor on an event index (clamped).
    fn place_cursor(&mut self, index: usize) {
        let last = self.len().saturating_sub(1);
        let index = index.min(last);
        if index != self.cursor || self.view.is_none() {
            self.cursor = index;
            self.timeline.scroll_to_cursor = true;
        }
    }

    /// Goes to the first event with this version (the position, in a projection run), or the
    /// next one after a gap.
    pub fn jump_to_version(&mut self, version: i64) -> Result<(), String> {
        let unit = self.unit();
        match self.index_of(version) {
            Some(index) => {
                self.set_cursor(index);
                Ok(())
            }
            None if !self.loader.done && self.mode == Mode::Stream => {
                // Not read yet: the cursor goes there when it is.
                self.loader.follow_newest = false;
                self.loader.pending_version = Some(version);
                Ok(())
            }
            None => Err(match self.len().checked_sub(1) {
                Some(last) => format!("{unit} {version} is past the end (last loaded: {})", self.label_of(last)),
                None => "no events loaded yet".to_owned(),
            }),
        }
    }

    /// Folds loaded events for a slice of the frame (a slow fold over a long stream is spread
    /// over frames, with a progress bar, rather than freezing the window).
    fn fold_some(&mut self, ui: &Ui) {
        if let Some(history) = &mut self.history
            && !history.fold_within(FOLD_BUDGET)
        {
            ui.ctx().request_repaint();
        }
    }

    /// Whether the state after the cursor's event waits for the fold to get there.
    fn cursor_not_folded(&self, history: &History) -> bool {
        self.cursor >= history.len() || (history.is_folding() && self.cursor + 1 > history.folded())
    }

    /// Recomputes the memoised view when the cursor moved or the fold got further: the states
    /// a slice of a frame at a time (a slow fold steps over frames), the line diff of large
    /// states on a thread.
    fn ensure_view(&mut self, ctx: &egui::Context) {
        self.view_pending = false;
        let Some(history) = &self.history else {
            return;
        };
        if history.is_empty()
            || self.view.as_ref().is_some_and(|v| v.index == self.cursor)
            || self.cursor_not_folded(history)
        {
            return;
        }
        let Some(history) = &mut self.history else {
            return;
        };
        let index = self.cursor;
        // The state before the event, then after it (one step on from there).
        let previous = match history.state_after_within(index, FOLD_BUDGET) {
            Ok(None) => return self.view_pending = true,
            Ok(Some(state)) => Some(state),
            Err(_) => None,
        };
        let state = match history.state_after_within(index + 1, FOLD_BUDGET) {
            Ok(None) => return self.view_pending = true,
            Ok(Some(state)) => Ok(state),
            Err(failure) => Err(failure.to_string()),
        };
        let (changes, hunks) = match (&previous, &state) {
            (Some(previous), Ok(state)) => (structural_diff(previous, state), line_diff_of(ctx, previous, state)),
            _ => (Vec::new(), Background::Ready(Vec::new())),
        };
        let changed_paths = crate::diff::paths_with_ancestors(&changes);
        let version = history.summary(index).map(|e| e.version);
        let snapshot = version.and_then(|v| self.snapshots.get(&v)).map(|stored| {
            let drift = match (stored, &state) {
                (Payload::Json(stored), Ok(state)) => Some(crate::diff::value_diff(state, stored)),
                _ => None,
            };
            if let (Some(version), Some(drift)) = (version, &drift) {
                self.snapshot_drift.insert(version, !drift.is_empty());
            }
            (stored.clone(), drift)
        });
        let last_good = match (&state, history.failure().and_then(|f| f.index)) {
            (Err(_), Some(failed)) => match history.state_after_within(failed, FOLD_BUDGET) {
                Ok(None) => return self.view_pending = true,
                Ok(Some(good)) => Some((failed, good)),
                Err(_) => None,
            },
            _ => None,
        };
        self.view = Some(CursorView { index, state, changes, changed_paths, hunks, snapshot, last_good });
    }

    fn ensure_blame(&mut self) {
        self.blame_pending = false;
        if !self.show_blame || self.blame.as_ref().is_some_and(|(i, _)| *i == self.cursor) {
            return;
        }
        if self.history.as_ref().is_some_and(|h| self.cursor_not_folded(h)) {
            return;
        }
        if let Some(history) = &mut self.history
            && !history.is_empty()
        {
            // A long stream's blame is built a few milliseconds per frame.
            match history.blame_after_within(self.cursor + 1, std::time::Duration::from_millis(12)) {
                Ok(Some(map)) => self.blame = Some((self.cursor, Ok(map))),
                Ok(None) => self.blame_pending = true,
                Err(failure) => self.blame = Some((self.cursor, Err(failure.to_string()))),
            }
        }
    }

    fn ensure_comparison(&mut self, ctx: &egui::Context) {
        if self.diff.tab != DiffTab::Compare {
            return;
        }
        let last = self.len().checked_sub(1);
        let (Some(a), Some(b)) =
            (self.index_of(self.diff.compare_a).or(last), self.index_of(self.diff.compare_b).or(last))
        else {
            return;
        };
        let Some(history) = &mut self.history else {
            return;
        };
        if self.diff.comparison.as_ref().is_some_and(|c| c.a == a && c.b == b) || history.is_folding() {
            return;
        }
        let states = history
            .state_after_within(a + 1, FOLD_BUDGET)
            .and_then(|sa| Ok(sa.zip(history.state_after_within(b + 1, FOLD_BUDGET)?)));
        let result = match states {
            Ok(None) => return self.view_pending = true,
            Ok(Some((sa, sb))) => Ok((structural_diff(&sa, &sb), line_diff_of(ctx, &sa, &sb))),
            Err(f) => Err(f.to_string()),
        };
        self.diff.comparison = Some(Comparison { a, b, result });
    }

    pub fn ui(&mut self, ui: &mut Ui) {
        if self.stream.is_none() {
            empty_state_ui(ui);
            return;
        }
        let now = ui.input(|i| i.time);
        self.tick_follow(ui);
        if self.mode == Mode::Stream && self.picker.fold.as_mut().is_some_and(|f| f.script.changed(ui.ctx(), now)) {
            self.refold();
        }
        if let Some(path) = self.picker.fold_dialog.poll() {
            self.choose_fold(Some(WatchedScript::new(ScriptSource::File(path))));
        }
        self.handle_keys(ui);
        self.advance_playback(ui);
        self.fold_some(ui);
        self.ensure_view(ui.ctx());
        self.ensure_blame();
        self.advance_marks(ui.ctx());
        self.advance_bisect(ui.ctx());
        self.ensure_comparison(ui.ctx());
        // (A page that can no longer be read — the stream changed — is not waited for.)
        if self.view_pending && self.loader.load_error.is_none() {
            ui.ctx().request_repaint();
        }

        egui::Panel::top("history_header").show(ui, |ui| self.header_ui(ui));
        self.fixture_ui(ui.ctx());
        if self.loader.done && self.len() == 0 {
            self.nothing_loaded_ui(ui);
            return;
        }
        let width = ui.available_width();
        let max_timeline = (width * 0.6).max(MIN_TIMELINE);
        let auto = (width * 0.32).clamp(240.0, 360.0).min(max_timeline);
        let size = PanelSize::before(
            ui,
            "timeline",
            Along::Width,
            auto,
            self.layout.timeline_width,
            MIN_TIMELINE..=max_timeline,
        );
        let panel = egui::Panel::left("timeline")
            .resizable(true)
            .default_size(size.size)
            .min_size(MIN_TIMELINE)
            .max_size(max_timeline)
            .show(ui, |ui| self.timeline_ui(ui));
        self.layout.timeline_width = size.after(ui, panel.response.rect, self.layout.timeline_width);
        let mut action = None;
        if ui.available_width() < NARROW_DETAILS {
            // Narrow: event, state and diff take turns in the whole width.
            egui::CentralPanel::default().show(ui, |ui| {
                ui.horizontal(|ui| {
                    let tab = &mut self.layout.narrow_tab;
                    ui.selectable_value(tab, DetailTab::Event, "Event");
                    ui.selectable_value(tab, DetailTab::State, "State");
                    ui.selectable_value(tab, DetailTab::Changes, "Changes");
                });
                ui.separator();
                match self.layout.narrow_tab {
                    DetailTab::Event => {
                        egui::ScrollArea::both()
                            .id_salt("event_scroll")
                            .auto_shrink([false, false])
                            .show(ui, |ui| self.event_ui(ui));
                    }
                    DetailTab::State => {
                        egui::ScrollArea::both()
                            .id_salt("state_scroll")
                            .auto_shrink([false, false])
                            .show(ui, |ui| action = self.state_ui(ui));
                    }
                    DetailTab::Changes => self.diff_ui(ui),
                }
            });
        } else {
            let auto = (ui.available_height() * 0.4).clamp(MIN_DIFF, 480.0);
            let max_diff = (ui.available_height() * 0.8).max(MIN_DIFF);
            let size = PanelSize::before(ui, "diff", Along::Height, auto, self.layout.diff_height, MIN_DIFF..=max_diff);
            let panel = egui::Panel::bottom("diff")
                .resizable(true)
                .default_size(size.size)
                .min_size(MIN_DIFF)
                .show(ui, |ui| self.diff_ui(ui));
            self.layout.diff_height = size.after(ui, panel.response.rect, self.layout.diff_height);
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
        }
        match action {
            Some(TreeAction::GoToEvent(index)) => {
                self.playback.playing = false;
                self.set_cursor(index);
            }
            Some(TreeAction::MarkChanges(path)) => self.mark_changes(&path),
            Some(TreeAction::FindFirst(condition)) => self.bisect(&condition),
            None => {}
        }
    }

    /// Starts marking the events that changed the value at `path` (found over frames).
    pub fn mark_changes(&mut self, path: &str) {
        let next = self.history.as_ref().map_or(0, History::len);
        self.timeline.marks =
            Some(PathMarks { path: path.to_owned(), next, found: Vec::new(), done: false, error: None });
    }

    /// The events marked as having changed a path, newest first, and whether all are found.
    pub fn marked_changes(&self) -> Option<(&str, &[usize], bool)> {
        self.timeline.marks.as_ref().map(|m| (m.path.as_str(), m.found.as_slice(), m.done))
    }

    /// Goes on finding the events that changed the marked path: from the newest back, each by the
    /// blame of the state before the last one found (a few milliseconds a frame).
    fn advance_marks(&mut self, ctx: &egui::Context) {
        let (Some(marks), Some(history)) = (self.timeline.marks.as_mut().filter(|m| !m.done), self.history.as_mut())
        else {
            return;
        };
        let deadline = std::time::Instant::now() + FOLD_BUDGET;
        while !marks.done && std::time::Instant::now() < deadline {
            match history.blame_after_within(marks.next, FOLD_BUDGET) {
                Ok(Some(map)) => match map.get(&marks.path) {
                    Some(crate::fold::Blame::Event(i)) if *i < marks.next => {
                        marks.found.push(*i);
                        marks.next = *i;
                    }
                    _ => marks.done = true,
                },
                Ok(None) => break,
                Err(failure) => {
                    marks.error = Some(failure.to_string());
                    marks.done = true;
                }
            }
        }
        if !marks.done {
            ctx.request_repaint();
        }
    }

    fn event_ui(&mut self, ui: &mut Ui) {
        let head = self.history.as_ref().map_or(0, History::len);
        match self.event_at(self.cursor) {
            Some(event) => {
                let event = event.clone();
                if self.mode == Mode::Projection {
                    let open = format!("Open v{} of {} in the history", event.version, event.stream);
                    if ui.button(open).clicked() {
                        self.followed_link = Some((EventLink::OpenInHistory, event.clone()));
                    }
                }
                if let Some(link) = event_details_ui(ui, &event) {
                    self.followed_link = Some((link, event));
                }
            }
            None if self.cursor >= self.len() => {}
            None if self.cursor < head && self.loader.load_error.is_some() => {
                ui.weak("This event is no longer in memory and cannot be read again (see above).");
            }
            None if self.cursor < head => {
                // Out of memory (a long stream is held a window at a time): being read again.
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.weak(format!("Reading {} from the store…", self.label_of(self.cursor)));
                });
                ui.ctx().request_repaint();
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.weak("Not read yet: the events between the first pages and the newest are loading…");
                });
            }
        }
    }
}

impl HistoryPanel {
    /// Loading ended with no event: say why, and what to do.
    fn nothing_loaded_ui(&self, ui: &mut Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() / 3.0);
                match (&self.loader.load_error, self.mode) {
                    (Some(_), _) => {
                        ui.heading("No events to show");
                        ui.label("The reason is above. Pick another stream on the left, or search for it by a part of its id.");
                    }
                    (None, Mode::Stream) => {
                        ui.heading("This stream has no events");
                        ui.label("Pick another stream on the left.");
                    }
                    (None, Mode::Projection) => {
                        ui.heading("The projection selected no events");
                        ui.label("Its fromStream / fromCategory source matches no event in this store.");
                    }
                }
            });
        });
    }
}

fn empty_state_ui(ui: &mut Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading("Pick a stream in the streams panel (☰ shows it)");
        ui.label("Then step through its history: the event, the folded state and what changed, at every version.");
        ui.weak(RichText::new("Keys: ← → one version · PgUp PgDn ten · Home End · Space plays").monospace());
    });
}

/// The summary of the event at `index`: from the pages read from the start, or from the newest
/// page; `None` for an event not read yet.
fn summary_in<'a>(history: Option<&'a History>, tail: Option<&'a Tail>, index: usize) -> Option<&'a EventSummary> {
    let head = history.map_or(0, History::len);
    if index < head {
        return history?.summary(index);
    }
    let tail = tail?;
    tail.summaries.get(index.checked_sub(tail.anchor)?)
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
        assert!(looks_textual(b"{\"a\": 1, \"note\": \"caf\xc3\xa9\"}\xff"));
        assert!(!looks_textual(&[0x9c, 0x01, 0xfe, 0x00, 0x13, 0x88, 0xa0, 0x07]));
    }

    #[test]
    fn large_states_are_diffed_on_a_thread_small_ones_at_once() {
        let ctx = egui::Context::default();
        let small = Arc::new(serde_json::json!({"a": 1}));
        assert!(matches!(line_diff_of(&ctx, &small, &small), Background::Ready(_)));
        let wide: serde_json::Map<String, Value> = (0..INLINE_DIFF_NODES).map(|i| (i.to_string(), i.into())).collect();
        let large = Arc::new(Value::Object(wide));
        let mut diff = line_diff_of(&ctx, &small, &large);
        assert!(matches!(diff, Background::Running(_)));
        while diff.value().is_none() {
            assert!(!diff.is_lost());
            std::thread::sleep(std::time::Duration::from_millis(1));
            diff.poll();
        }
        assert_eq!(diff.value().unwrap(), &line_diff(&small, &large, CONTEXT_LINES));
    }
}
