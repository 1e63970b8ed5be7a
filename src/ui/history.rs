//! The history panel: one stream's events on a virtualised timeline, a scrubber with play/pause,
//! keyboard stepping, and at the cursor the event, the folded state (with blame) and the diff
//! from the version before; or the diff between any two versions. Derived data (state, diff,
//! blame, comparison) is computed when the cursor moves and memoised, never per frame.

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

/// The comparison of the states at two versions.
struct Comparison {
    a: usize,
    b: usize,
    result: Result<(Vec<Change>, LineDiff), String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffTab {
    /// What the event at the cursor changed.
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
    pub chosen_label_field: Option<(String, String)>,
    pub timeline_width: Option<f32>,
    pub diff_height: Option<f32>,
    pub narrow_tab: DetailTab,
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

/// Where a fold applies.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FoldScope {
    Stream(String),
    Category(String),
    AllStreams,
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
        };
        RememberedFold { script, scope: self.scope.clone() }
    }

    /// The fold the settings file kept (`None` for an example this build no longer has).
    pub fn from_remembered(fold: &RememberedFold) -> Option<FoldSetting> {
        let source = match &fold.script {
            RememberedScript::File(path) => ScriptSource::File(path.clone()),
            RememberedScript::Example(wanted) => {
                let (name, source) = FOLD_EXAMPLES.iter().find(|(name, _)| name == wanted)?;
                ScriptSource::Example { name, source }
            }
        };
        Some(FoldSetting { script: WatchedScript::new(source), scope: fold.scope.clone() })
    }

    fn applies(&self, stream: &str, category: &str) -> bool {
        match &self.scope {
            FoldScope::Stream(s) => s == stream,
            FoldScope::Category(c) => c == category,
            FoldScope::AllStreams => true,
        }
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
    /// The fold for streams, when one was chosen (stream mode).
    fold: Option<FoldSetting>,
    fold_dialog: FileDialog,
    fold_path: String,
    progress: Option<usize>,
    /// The stream's stored snapshots by version.
    snapshots: std::collections::BTreeMap<i64, Payload>,
    /// Which events the timeline lists.
    pub filter: TimelineFilter,
    /// The indices the filter keeps, worked out for this filter and this many events.
    filtered: Option<(TimelineFilter, usize, Vec<usize>)>,
    /// A correlation or causation link the user followed (taken by the app).
    followed_link: Option<(EventLink, Event)>,
    /// The category and payload of the stream's first event (for the label menu).
    first_payload: Option<(String, Value)>,
    /// Whether each snapshot checked so far differs from the state recomputed at its version.
    snapshot_drift: std::collections::HashMap<i64, bool>,
    snapshot_request: Option<RequestId>,
    /// The blame is being built (over several frames).
    blame_pending: bool,
    /// The state at the cursor is being recomputed (over several frames, under a slow fold).
    view_pending: bool,
    history: Option<History>,
    /// The page read in progress (one at a time, asked for by [`HistoryPanel::pump`]).
    load_request: Option<(RequestId, PageRead)>,
    /// Where each page of the stream starts (to read a dropped page again), and where the
    /// next one does (`None` once the last page is read).
    page_starts: Vec<EventCursor>,
    next_page: Option<EventCursor>,
    summary_request: Option<RequestId>,
    /// Where the newest page starts, to be read by [`HistoryPanel::pump`].
    tail_wanted: Option<EventCursor>,
    tail_request: Option<RequestId>,
    tail: Option<Tail>,
    /// The cursor stays on the newest event loaded until the user moves it (a stream opens at
    /// its newest event).
    follow_newest: bool,
    /// A page read again was not what it had been: the stream changed while open.
    stream_changed: bool,
    /// "Open it again" was clicked (done by [`HistoryPanel::pump`], which has the worker).
    reopen: bool,
    total: Option<i64>,
    done: bool,
    load_error: Option<String>,
    cursor: usize,
    view: Option<CursorView>,
    /// The cursor's row is to be scrolled into view.
    scroll_to_cursor: bool,
    /// How many rows the timeline drew at the last frame.
    timeline_rows: usize,
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
            layout: HistoryLayout::default(),
            mode: Mode::Stream,
            stream: None,
            fold: None,
            fold_dialog: FileDialog::default(),
            fold_path: String::new(),
            progress: None,
            snapshots: Default::default(),
            snapshot_drift: Default::default(),
            first_payload: None,
            followed_link: None,
            filter: TimelineFilter::default(),
            filtered: None,
            snapshot_request: None,
            blame_pending: false,
            view_pending: false,
            history: None,
            load_request: None,
            page_starts: Vec::new(),
            next_page: None,
            summary_request: None,
            tail_wanted: None,
            tail_request: None,
            tail: None,
            follow_newest: false,
            stream_changed: false,
            reopen: false,
            total: None,
            done: false,
            load_error: None,
            cursor: 0,
            view: None,
            scroll_to_cursor: false,
            timeline_rows: 0,
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
        if let Some((id, _)) = self.load_request.take() {
            worker.send(Request::Cancel { id });
        }
        self.next_page = None;
        self.done = true;
        self.reconcile_tail();
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

    /// Starts loading a stream (cancelling a load in progress). The fold is chosen when the
    /// first page shows the stream's category.
    pub fn open_stream(&mut self, stream: &str, worker: &mut Worker) {
        self.cancel_load(worker);
        *self = HistoryPanel {
            layout: std::mem::take(&mut self.layout),
            tab: self.tab,
            show_blame: self.show_blame,
            fold: self.fold.take(),
            ..HistoryPanel::default()
        };
        self.stream = Some(stream.to_owned());
        self.follow_newest = true;
        self.next_page = Some(EventCursor::from_version(i64::MIN));
        self.pump(worker);
        self.summary_request = Some(worker.send(Request::StreamSummary { stream: stream.to_owned() }));
        self.snapshot_request = Some(worker.send(Request::Snapshots { stream: stream.to_owned() }));
    }

    /// Asks the worker for the page the stream needs next, when no read is in progress: a
    /// page the fold, a state or the cursor's event needs again, else the next page of the
    /// stream while folding keeps up (so memory stays bounded however fast the store reads).
    /// Called every frame.
    pub fn pump(&mut self, worker: &mut Worker) {
        if std::mem::take(&mut self.reopen)
            && let Some(stream) = self.stream.clone()
        {
            // The stream changed under a page read again: read it all again, at the same version.
            let version = self.cursor_version();
            self.open_stream(&stream, worker);
            self.go_to_version_when_loaded(version);
            return;
        }
        if self.mode != Mode::Stream || self.load_error.is_some() {
            return;
        }
        let Some(stream) = self.stream.clone() else {
            return;
        };
        if let Some(cursor) = self.tail_wanted.take() {
            // One more than the page: a page that reaches the end comes back short of the limit,
            // and so says it is the last.
            let request = Request::ReadStreamPage { stream: stream.clone(), cursor, limit: LOAD_PAGE + 1 };
            self.tail_request = Some(worker.send(request));
        }
        if self.load_request.is_some() {
            return;
        }
        let again = self.history.as_ref().and_then(|history| {
            let cursor_page = history.page_of(self.cursor).filter(|&page| !history.is_page_resident(page));
            history.wanted_page().or(cursor_page)
        });
        if let Some(page) = again
            && let Some(cursor) = self.page_starts.get(page)
        {
            let request = Request::ReadStreamPage { stream, cursor: cursor.clone(), limit: LOAD_PAGE };
            self.load_request = Some((worker.send(request), PageRead::Again(page)));
            return;
        }
        let behind = self.history.as_ref().map_or(0, |h| if h.failure().is_some() { 0 } else { h.len() - h.folded() });
        if let Some(cursor) = self.next_page.clone()
            && behind < READ_AHEAD
        {
            self.page_starts.push(cursor.clone());
            let request = Request::ReadStreamPage { stream, cursor, limit: LOAD_PAGE };
            self.load_request = Some((worker.send(request), PageRead::Next));
        }
    }

    /// The stored snapshots loaded for the stream, by version.
    pub fn snapshots(&self) -> &std::collections::BTreeMap<i64, Payload> {
        &self.snapshots
    }

    /// The fold for a stream of this category: the chosen script where it applies, else merge.
    /// A script that does not compile becomes a fold that fails at once, with the reason.
    fn make_fold(&self, stream: &str, category: &str) -> Box<dyn Fold> {
        let Some(setting) = self.fold.as_ref().filter(|f| f.applies(stream, category)) else {
            return Box::new(MergeFold::default());
        };
        let name = setting.script.name();
        match setting.script.text().and_then(|text| JsFold::from_source(&name, &text).map_err(|e| e.to_string())) {
            Ok(fold) => Box::new(fold),
            Err(message) => Box::new(BrokenFold { name, message }),
        }
    }

    /// The chosen fold (stream mode).
    pub fn fold_setting(&self) -> Option<&FoldSetting> {
        self.fold.as_ref()
    }

    /// Chooses the fold for streams (`None`: the merge fold) and refolds the open stream.
    pub fn set_fold(&mut self, fold: Option<FoldSetting>) {
        self.fold = fold;
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
        self.comparison = None;
        self.snapshot_drift.clear();
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
        (self.tail.is_some() || self.done) && self.cursor + 1 == self.len() && self.event_at(self.cursor).is_some()
    }

    /// Whether a page read is in progress.
    pub fn is_waiting_for_a_read(&self) -> bool {
        self.load_request.is_some()
    }

    pub fn is_loading(&self) -> bool {
        self.stream.is_some() && !self.done
    }

    pub fn load_error(&self) -> Option<&str> {
        self.load_error.as_deref()
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
        self.pending_version.is_some() || (self.len() == 0 && !self.done && self.load_error.is_none())
    }

    pub fn go_to_version_when_loaded(&mut self, version: Option<i64>) {
        self.pending_version = version;
        if version.is_some() {
            self.follow_newest = false;
        }
    }

    /// Takes a reply meant for this panel; false when it is not ours.
    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if Some(id) == self.snapshot_request {
            self.snapshot_request = None;
            if let Reply::Snapshots { snapshots, .. } = reply {
                self.snapshots = snapshots.into_iter().collect();
                self.view = None;
            }
            return None;
        }
        if Some(id) == self.summary_request {
            self.summary_request = None;
            if let Reply::StreamStarted { summary } = reply {
                self.total = Some(summary.events);
                // A long stream: its newest page too, at once.
                let long =
                    summary.events > 2 * LOAD_PAGE as i64 && summary.events - self.len() as i64 > LOAD_PAGE as i64;
                if long && !self.done {
                    let from = summary.last_version.saturating_sub(LOAD_PAGE as i64 - 1).max(summary.first_version);
                    self.tail_wanted = Some(EventCursor::from_version(from));
                }
            }
            return None;
        }
        if Some(id) == self.tail_request {
            self.tail_request = None;
            // Only a page that reaches the stream's end is its newest (duplicate versions can
            // make the page end before it: then the pages from the start get there instead).
            if let Reply::StreamPage { events, next: None } = reply {
                self.place_tail(events);
            }
            return None;
        }
        let Some((_, read)) = self.load_request.filter(|(request, _)| *request == id) else {
            return Some(reply);
        };
        self.load_request = None;
        match (reply, read) {
            (Reply::StreamPage { events, next }, PageRead::Next) => {
                self.next_page = next;
                let done = self.next_page.is_none();
                self.push_events(events, done);
            }
            (Reply::StreamPage { events, .. }, PageRead::Again(page)) => {
                if let Some(Err(message)) = self.history.as_mut().map(|h| h.restore_page(page, events)) {
                    self.stream_changed = true;
                    self.set_failed(message);
                }
            }
            (Reply::Failed(message), _) => self.set_failed(message.to_string()),
            _ => {}
        }
        None
    }

    /// How many events to expect (for the progress bar).
    pub fn set_total(&mut self, total: i64) {
        self.total = Some(total);
    }

    /// How many events were read so far, when that differs from the events shown (a projection
    /// reads the whole store but shows the events it selects).
    pub fn set_progress(&mut self, read: usize) {
        self.progress = Some(read);
    }

    /// Loading stopped with this error; what was loaded stays browsable.
    pub fn set_failed(&mut self, message: String) {
        self.load_error = Some(message);
        self.next_page = None;
        self.done = true;
        self.reconcile_tail();
    }

    /// Places the newest page, read at open, where its versions say it is (the cursor on its
    /// newest event, unless the user moved it), unless the pages from the start got there first.
    fn place_tail(&mut self, events: Vec<Event>) {
        if events.is_empty() || self.done {
            return;
        }
        let total = usize::try_from(self.total.unwrap_or(0)).unwrap_or(0);
        let anchor = total.saturating_sub(events.len());
        let summaries = events.iter().map(EventSummary::of).collect();
        self.tail = Some(Tail { anchor, events, summaries });
        self.reconcile_tail();
        if self.follow_newest && self.tail.is_some() {
            self.place_cursor(self.len().saturating_sub(1));
        }
        // A deep link into the newest page goes there now.
        if let Some(target) = self.pending_version
            && let Some(index) = self.index_of(target)
        {
            self.pending_version = None;
            self.place_cursor(index);
        }
    }

    /// Once the pages read from the start reach the newest page, it moves to its exact place
    /// (the cursor with it); once they hold it, it is let go.
    fn reconcile_tail(&mut self) {
        let Some(tail) = &self.tail else {
            return;
        };
        let head = self.history.as_ref().map_or(0, History::len);
        let head_last = self.history.as_ref().and_then(|h| h.summary(head.checked_sub(1)?)).map(|s| s.version);
        let (tail_first, tail_last) = (tail.summaries[0].version, tail.summaries[tail.summaries.len() - 1].version);
        let old_anchor = tail.anchor;
        // The version at the cursor, when the cursor is on the newest page.
        let on_tail = (self.cursor >= old_anchor.max(head))
            .then(|| tail.summaries.get(self.cursor - old_anchor).map(|s| s.version))
            .flatten();
        if self.done || head_last.is_some_and(|v| v >= tail_last) {
            self.tail = None;
            let index = on_tail.and_then(|v| self.history.as_ref()?.index_of_version(v));
            self.place_cursor(index.unwrap_or(self.cursor));
            return;
        }
        let anchor = match (head_last, &self.history) {
            (Some(last), Some(history)) if last >= tail_first => history.index_of_version(tail_first).unwrap_or(head),
            _ => old_anchor.max(head),
        };
        if anchor != old_anchor {
            if let Some(tail) = &mut self.tail {
                tail.anchor = anchor;
            }
            if on_tail.is_some() {
                self.place_cursor(self.cursor - old_anchor + anchor);
            }
        }
    }

    /// The next page of events (in order); `done` on the last one.
    pub fn push_events(&mut self, events: Vec<Event>, done: bool) {
        if self.first_payload.is_none()
            && self.history.as_ref().is_none_or(History::is_empty)
            && let Some(Event { payload: Payload::Json(payload), .. }) = events.first()
        {
            // (Kept apart: the first page may be let go, and the label menu needs it.)
            let category = events.first().map(|e| e.category().to_owned()).unwrap_or_default();
            self.first_payload = Some((category, payload.clone()));
        }
        if self.history.is_none() {
            let stream = self.stream.clone().unwrap_or_default();
            let category = events.first().map(|e| e.category().to_owned()).unwrap_or_default();
            let mut history = History::new(stream.as_str().into(), self.make_fold(&stream, &category));
            if self.mode == Mode::Stream && !self.page_starts.is_empty() {
                // Pages read from the store can be read again: keep a window of them.
                history.set_window(Some(WINDOW_EVENTS));
            }
            self.history = Some(history);
        }
        let was_empty = self.len() == 0;
        let ordinal = |event: &Event, index: usize| self.ordinal(event.version, event.position, index);
        let last_ordinal = events.last().map(|e| ordinal(e, self.len() + events.len() - 1));
        let first_ordinal = events.first().map(|e| ordinal(e, self.len()));
        if let Some(history) = &mut self.history {
            history.append_events(events);
        }
        self.done = done;
        self.reconcile_tail();
        if was_empty {
            self.place_cursor(0);
            self.compare_a = first_ordinal.unwrap_or(0);
        }
        if self.follow_newest {
            self.place_cursor(self.len().saturating_sub(1));
        }
        if let Some(last) = last_ordinal {
            self.compare_b = last;
        }
        if let Some(target) = self.pending_version {
            let reached = last_ordinal.is_some_and(|last| last >= target);
            if reached || done {
                self.pending_version = None;
                self.jump_error = self.jump_to_version(target).err();
            }
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
        summary_in(self.history.as_ref(), self.tail.as_ref(), index)
    }

    /// The event at `index`, when it is in memory.
    fn event_at(&self, index: usize) -> Option<&Event> {
        let head = self.history.as_ref().map_or(0, History::len);
        if index < head {
            return self.history.as_ref()?.event(index);
        }
        let tail = self.tail.as_ref()?;
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
        let tail = self.tail.as_ref()?;
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
        self.tail.as_ref().map_or(head, |t| head.max(t.anchor + t.events.len()))
    }

    /// Moves the cursor to an event index (clamped), stopping nothing else; the cursor no
    /// longer follows the newest event.
    pub fn set_cursor(&mut self, index: usize) {
        self.follow_newest = false;
        self.pending_version = None;
        self.place_cursor(index);
    }

    /// Puts the cursor on an event index (clamped).
    fn place_cursor(&mut self, index: usize) {
        let last = self.len().saturating_sub(1);
        let index = index.min(last);
        if index != self.cursor || self.view.is_none() {
            self.cursor = index;
            self.scroll_to_cursor = true;
        }
    }

    fn step(&mut self, delta: i64) {
        if self.filter.only_these && self.filter.is_active() {
            // From listed event to listed event.
            let listed = self.listed().to_vec();
            let here = listed.partition_point(|&i| i < self.cursor);
            let target = if delta > 0 {
                let on = listed.get(here).is_some_and(|&i| i == self.cursor);
                listed.get(here + usize::from(on) + delta as usize - 1).or(listed.last())
            } else {
                here.checked_sub(delta.unsigned_abs() as usize).and_then(|i| listed.get(i)).or(listed.first())
            };
            if let Some(&target) = target {
                self.set_cursor(target);
            }
            return;
        }
        let target = (self.cursor as i64 + delta).max(0) as usize;
        self.set_cursor(target);
    }

    /// The indices of the events the timeline lists (all, or those the filter keeps).
    pub fn listed(&mut self) -> &[usize] {
        let len = self.len();
        let stale = self.filtered.as_ref().is_none_or(|(filter, n, _)| *filter != self.filter || *n != len);
        if stale {
            let keep: Vec<usize> = (0..len)
                .filter(|&i| {
                    summary_in(self.history.as_ref(), self.tail.as_ref(), i).is_some_and(|e| self.filter.keeps(e))
                })
                .collect();
            self.filtered = Some((self.filter.clone(), len, keep));
        }
        self.filtered.as_ref().map_or(&[], |(_, _, keep)| keep.as_slice())
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
            None if !self.done && self.mode == Mode::Stream => {
                // Not read yet: the cursor goes there when it is.
                self.follow_newest = false;
                self.pending_version = Some(version);
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
        if self.tab != DiffTab::Compare {
            return;
        }
        let last = self.len().checked_sub(1);
        let (Some(a), Some(b)) = (self.index_of(self.compare_a).or(last), self.index_of(self.compare_b).or(last))
        else {
            return;
        };
        let Some(history) = &mut self.history else {
            return;
        };
        if self.comparison.as_ref().is_some_and(|c| c.a == a && c.b == b) || history.is_folding() {
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
                // (↑ and ↓ step too: the timeline is a vertical list.)
                i.consume_key(none, Key::ArrowLeft) | i.consume_key(none, Key::ArrowUp),
                i.consume_key(none, Key::ArrowRight) | i.consume_key(none, Key::ArrowDown),
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
        let at_end = match self.filter.only_these && self.filter.is_active() {
            true => {
                let cursor = self.cursor;
                self.listed().last().is_none_or(|&last| cursor >= last)
            }
            false => self.cursor + 1 >= self.len(),
        };
        if at_end && self.done {
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
        let now = ui.input(|i| i.time);
        if self.mode == Mode::Stream && self.fold.as_mut().is_some_and(|f| f.script.changed(ui.ctx(), now)) {
            self.refold();
        }
        if let Some(path) = self.fold_dialog.poll() {
            self.choose_fold(Some(WatchedScript::new(ScriptSource::File(path))));
        }
        self.handle_keys(ui);
        self.advance_playback(ui);
        self.fold_some(ui);
        self.ensure_view(ui.ctx());
        self.ensure_blame();
        self.ensure_comparison(ui.ctx());
        // (A page that can no longer be read — the stream changed — is not waited for.)
        if self.view_pending && self.load_error.is_none() {
            ui.ctx().request_repaint();
        }

        egui::Panel::top("history_header").show(ui, |ui| self.header_ui(ui));
        if self.done && self.len() == 0 {
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
        egui::Panel::left("timeline")
            .resizable(true)
            .default_size(size.size)
            .min_size(MIN_TIMELINE)
            .max_size(max_timeline)
            .show(ui, |ui| self.timeline_ui(ui));
        self.layout.timeline_width = size.after(ui, self.layout.timeline_width);
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
            egui::Panel::bottom("diff")
                .resizable(true)
                .default_size(size.size)
                .min_size(MIN_DIFF)
                .show(ui, |ui| self.diff_ui(ui));
            self.layout.diff_height = size.after(ui, self.layout.diff_height);
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
        if let Some(TreeAction::GoToEvent(index)) = action {
            self.playback.playing = false;
            self.set_cursor(index);
        }
    }

    fn header_ui(&mut self, ui: &mut Ui) {
        let len = self.len();
        let head = self.history.as_ref().map_or(0, History::len);
        ui.add_space(4.0);
        // (Wrapped: warnings go to the next line rather than off the window's edge.)
        ui.horizontal_wrapped(|ui| {
            ui.heading(match self.mode {
                Mode::Stream => "Stream",
                Mode::Projection => "Projection",
            });
            let stream = self.stream.clone().unwrap_or_default();
            if let Some(label) = self.layout.label.clone().filter(|_| self.mode == Mode::Stream) {
                if let Some(category) = &label.category {
                    ui.weak(category);
                }
                if let Some(text) = &label.label {
                    ui.add(egui::Label::new(RichText::new(text).heading().strong()).selectable(true));
                }
            }
            ui.add(egui::Label::new(RichText::new(&stream).monospace().strong()).selectable(true));
            if ui.small_button("Copy id").clicked() {
                ui.ctx().copy_text(stream);
            }
            if self.mode == Mode::Stream {
                self.label_field_menu_ui(ui);
            }
            if let Some(history) = self.history.as_ref().filter(|_| self.mode == Mode::Stream) {
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
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, error);
                if self.stream_changed && ui.button("Open it again").clicked() {
                    self.reopen = true;
                }
            });
        }
        if !self.done {
            let total = self.total.unwrap_or(0).max(1);
            let read = self.progress.unwrap_or(head);
            ui.add(egui::ProgressBar::new(read as f32 / total as f32).desired_width(ui.available_width()).text(
                format!(
                    "{}: {read} of {} events",
                    if self.mode == Mode::Stream { "loading" } else { "reading the store" },
                    self.total.map_or("?".to_owned(), |t| t.to_string())
                ),
            ));
        }
        if let Some(history) = self.history.as_ref().filter(|h| h.is_folding()) {
            let folded = history.folded();
            ui.add(
                egui::ProgressBar::new(folded as f32 / head.max(1) as f32)
                    .desired_width(ui.available_width())
                    .text(format!("folding with {}: {folded} of {head} events", history.fold_name())),
            );
        }
        if len == 0 {
            return;
        }
        if self.layout.presenter {
            // For the room: where we are, large.
            let at = self.label_of(self.cursor);
            let event_type = self.summary_at(self.cursor).map_or(String::new(), |s| s.event_type.to_string());
            ui.label(RichText::new(format!("{at} · {event_type}")).size(30.0).strong());
        }
        let now = ui.input(|i| i.time);
        ui.horizontal_wrapped(|ui| {
            if ui.button("⏮").on_hover_text("First version (Home)").clicked() {
                self.set_cursor(0);
            }
            if ui.button("◀").on_hover_text("Previous version (Left arrow)").clicked() {
                self.step(-1);
            }
            let play = if self.playback.playing { "⏸ Pause" } else { "▶ Play" };
            // (One width for both words: the buttons after it do not move.)
            let size = egui::vec2(74.0, ui.spacing().interact_size.y);
            let play = ui.add_sized(size, egui::Button::new(play));
            if play.on_hover_text("Play through the versions (Space)").clicked() {
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
            let unit = self.unit();
            let version = self.cursor_version().unwrap_or(0);
            let last = self.len().checked_sub(1).and_then(|i| self.ordinal_at(i));
            ui.label(RichText::new(format!("{unit} {version} of {}", last.unwrap_or(0))).strong());
            let about = if self.tail.is_some() { "≈" } else { "" };
            ui.label(format!("(event {} of {about}{len})", self.cursor + 1));
            ui.separator();
            let jump = ui.add(
                egui::TextEdit::singleline(&mut self.jump_text).hint_text(format!("go to {unit}")).desired_width(110.0),
            );
            if jump.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                self.jump_error = match self.jump_text.trim().parse::<i64>() {
                    Ok(v) => self.jump_to_version(v).err(),
                    Err(_) => Some(format!("“{}” is not a {unit} number", self.jump_text.trim())),
                };
                self.playback.playing = false;
            }
            if let Some(error) = &self.jump_error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
            if let Some(pending) = self.pending_version {
                ui.spinner();
                ui.weak(format!("going to {unit} {pending} once it is read"));
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

    /// "🏷": which field of the first event labels the streams of this category.
    fn label_field_menu_ui(&mut self, ui: &mut Ui) {
        let Some((category, payload)) = &self.first_payload else {
            return;
        };
        let candidates = crate::labels::label_candidates(payload);
        if candidates.is_empty() {
            return;
        }
        let category = category.clone();
        let mut chosen = None;
        ui.menu_button("🏷", |ui| {
            ui.weak(format!("Label the {category} streams by this field of their first event:"));
            for field in &candidates {
                let value = crate::labels::label_of(payload, field).unwrap_or_default();
                if ui.button(format!("{field}  ({value})")).clicked() {
                    chosen = Some(field.clone());
                    ui.close();
                }
            }
        })
        .response
        .on_hover_text("Choose the field that labels this category's streams");
        if let Some(field) = chosen {
            self.layout.chosen_label_field = Some((category, field));
        }
    }

    /// The timeline's filter: an event type, a text (type, actor or `vN`), and whether
    /// stepping and playing keep to the events listed.
    fn timeline_filter_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            let shown = self.filter.event_type.clone().unwrap_or_else(|| "all types".to_owned());
            let history = self.history.as_ref();
            let tail = self.tail.as_ref();
            let len = self.len();
            let mut chosen = self.filter.event_type.clone();
            egui::ComboBox::from_label("type").selected_text(shown).width(120.0).show_ui(ui, |ui| {
                ui.selectable_value(&mut chosen, None, "all types");
                // (Worked out only while the list is open.)
                let mut types: Vec<&str> =
                    (0..len).filter_map(|i| summary_in(history, tail, i)).map(|e| &*e.event_type).collect();
                types.sort_unstable();
                types.dedup();
                for t in types {
                    ui.selectable_value(&mut chosen, Some(t.to_owned()), t);
                }
            });
            self.filter.event_type = chosen;
            ui.add(
                egui::TextEdit::singleline(&mut self.filter.text)
                    .hint_text("filter: type, actor, vN")
                    .desired_width(110.0),
            );
            if self.filter.is_active() {
                let count = self.listed().len();
                ui.weak(super::counted(count as i64, "event", "events"));
                ui.checkbox(&mut self.filter.only_these, "step and play these only")
                    .on_hover_text("← → and Play go from listed event to listed event");
                if ui.small_button("×").on_hover_text("Clear the filter").clicked() {
                    self.filter = TimelineFilter::default();
                }
            }
        });
    }

    fn timeline_ui(&mut self, ui: &mut Ui) {
        if self.history.is_none() {
            return;
        }
        ui.horizontal(|ui| {
            ui.strong("Timeline");
            // (The keys give way on a narrow timeline.)
            let keys = RichText::new("← → ↑ ↓ PgUp PgDn Home End, Space plays").monospace().weak();
            ui.add(egui::Label::new(keys).truncate());
        });
        if self.mode == Mode::Stream && self.len() > 0 {
            self.timeline_filter_ui(ui);
        }
        let listed = self.filter.is_active().then(|| self.listed().to_vec());
        let Some(history) = &self.history else {
            return;
        };
        if history.is_empty() {
            ui.weak(match (self.done, self.mode) {
                (true, Mode::Stream) => "This stream has no events.",
                (true, Mode::Projection) => "No event of the store is selected by this projection.",
                (false, _) => "Loading the first page…",
            });
            return;
        }
        let row_height = ui.spacing().interact_size.y;
        let spacing = ui.spacing().item_spacing.y;
        let mut area = egui::ScrollArea::vertical().id_salt("timeline_scroll").auto_shrink([false, false]);
        // egui springs an offset past the content of the frame before back (and the spring's
        // speed outlives it): the scroll waits for a frame whose rows are those of the last.
        let rows = listed.as_ref().map_or(self.len(), Vec::len);
        let rows_changed = std::mem::replace(&mut self.timeline_rows, rows) != rows;
        if self.scroll_to_cursor && !rows_changed {
            self.scroll_to_cursor = false;
            let visible = ui.available_height();
            let row = listed.as_ref().map_or(self.cursor, |l| l.partition_point(|&i| i < self.cursor));
            let offset = row as f32 * (row_height + spacing) - visible / 2.0 + row_height;
            let end = rows as f32 * (row_height + spacing) - visible;
            area = area.vertical_scroll_offset(offset.min(end).max(0.0));
        }
        let failure_index = history.failure().and_then(|f| f.index);
        let mut clicked = None;
        let cursor = self.cursor;
        let projection = self.mode == Mode::Projection;
        let snapshot_versions = &self.snapshots;
        let snapshot_drift = &self.snapshot_drift;
        let tail = self.tail.as_ref();
        // Versions padded to the longest one's width (and the `v`), so that the types line up.
        let last_ordinal = self.len().checked_sub(1).and_then(|i| self.ordinal_at(i)).unwrap_or(0);
        let digits = last_ordinal.to_string().len() + 1;
        area.show_rows(ui, row_height, rows, |ui, range| {
            for row in range {
                let i = listed.as_ref().map_or(row, |l| l[row]);
                let Some(event) = summary_in(Some(history), tail, i) else {
                    // Between the pages read from the start and the newest page.
                    let text = RichText::new("⋯ not read yet").monospace().weak();
                    if ui.selectable_label(i == cursor, text).clicked() {
                        clicked = Some(i);
                    }
                    continue;
                };
                if projection {
                    ui.horizontal(|ui| {
                        let text = format!("#{:<6} {}", event.position.unwrap_or(i as i64 + 1), event.event_type);
                        let mut rich = RichText::new(text).monospace();
                        if failure_index == Some(i) {
                            rich = rich.color(removed_color(ui));
                        }
                        if ui.selectable_label(i == cursor, rich).clicked() {
                            clicked = Some(i);
                        }
                        // (A projection run keeps its events: the stream is at hand.)
                        let stream = history.event(i).map_or(String::new(), |e| e.stream.to_string());
                        ui.weak(format!("{stream} v{}", event.version));
                    });
                    continue;
                }
                let gap = match i.checked_sub(1).and_then(|p| summary_in(Some(history), tail, p)).map(|p| p.version) {
                    Some(previous) if previous.checked_add(1).is_some_and(|next| event.version > next) => {
                        Some(format!("versions {} to {} missing before this one", previous + 1, event.version - 1))
                    }
                    Some(previous) if event.version == previous => Some("duplicate version".to_owned()),
                    _ => None,
                };
                let anomalies: Vec<String> =
                    gap.into_iter().chain(event.anomalies.iter().map(ToString::to_string)).collect();
                let mut markers = Vec::new();
                if !anomalies.is_empty() {
                    markers.push(Marker::Anomaly(anomalies.join("\n")));
                }
                if event.undecodable {
                    markers.push(Marker::Undecodable);
                }
                if snapshot_versions.contains_key(&event.version) {
                    markers.push(match snapshot_drift.get(&event.version) {
                        Some(true) => Marker::DriftedSnapshot,
                        _ => Marker::Snapshot,
                    });
                }
                if event.archived {
                    markers.push(Marker::Archived);
                }
                ui.horizontal(|ui| {
                    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                    markers_ui(ui, &markers);
                    let version = format!("v{}", event.version);
                    let mut rich = RichText::new(format!("{version:<digits$} {}", event.event_type)).monospace();
                    if failure_index == Some(i) {
                        rich = rich.color(removed_color(ui));
                    }
                    let response = ui.selectable_label(i == cursor, rich);
                    if response.clicked() {
                        clicked = Some(i);
                    }
                    // (Time and actor give way on a narrow timeline: the type stays.)
                    let when = event.recorded_at.map(|t| t.format("%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                    let facts = format!("{when} {}", event.actor.as_deref().unwrap_or(""));
                    ui.add(egui::Label::new(RichText::new(facts.trim()).weak()).truncate());
                });
            }
        });
        if let Some(i) = clicked {
            self.playback.playing = false;
            self.follow_newest = false;
            self.pending_version = None;
            self.cursor = i;
        }
    }

    fn event_ui(&mut self, ui: &mut Ui) {
        let head = self.history.as_ref().map_or(0, History::len);
        match self.event_at(self.cursor) {
            Some(event) => {
                let event = event.clone();
                if let Some(link) = event_details_ui(ui, &event) {
                    self.followed_link = Some((link, event));
                }
            }
            None if self.cursor >= self.len() => {}
            None if self.cursor < head && self.load_error.is_some() => {
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

    fn state_ui(&mut self, ui: &mut Ui) -> Option<TreeAction> {
        if self.history.as_ref().is_none_or(History::is_empty) {
            return None;
        }
        let at = self.label_of(self.cursor);
        let state_to_copy = self.cursor_state();
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            ui.heading(format!("State after {at}"));
            if let Some(state) = &state_to_copy
                && ui.small_button("Copy state").clicked()
            {
                ui.ctx().copy_text(crate::diff::pretty(state));
            }
            ui.checkbox(&mut self.show_blame, "Blame").on_hover_text("Show which version last changed each field");
            if self.blame_pending {
                let done = self.history.as_ref().map_or(0.0, |h| h.blame_progress(self.cursor + 1));
                ui.add(egui::ProgressBar::new(done).desired_width(120.0).text("building blame"));
                ui.ctx().request_repaint();
            }
        });
        if self.mode == Mode::Stream {
            self.fold_picker_ui(ui);
        } else {
            let fold = self.history.as_ref().map_or("", |h| h.fold_name());
            ui.weak(format!("the state of {fold} after this event; highlighted fields changed here"));
        }
        // (The fold picker stays usable while a slow fold is on its way.)
        let Some(view) = self.current_view() else {
            let reading = self.history.as_ref().is_some_and(|h| h.wanted_page().is_some());
            if reading && self.load_error.is_some() {
                ui.weak("The events before this one are no longer in memory and cannot be read again (see above).");
            } else if self.view_pending {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.weak(if reading {
                        "Reading the events before this one from the store again…"
                    } else {
                        "Replaying from the nearest checkpoint to this event…"
                    });
                });
            } else {
                ui.weak(
                    "Folding: the state appears when the fold gets to this event (the bar above shows how far it is).",
                );
            }
            return None;
        };
        if let Some(failure) = self.history.as_ref().and_then(|h| h.failure()) {
            egui::Frame::group(ui.style()).fill(ui.visuals().extreme_bg_color).show(ui, |ui| {
                ui.colored_label(ui.visuals().error_fg_color, RichText::new(failure.to_string()).strong());
                ui.label(match failure.index {
                    Some(i) if i > 0 => format!(
                        "The {} before it stay browsable.",
                        if self.mode == Mode::Stream { "versions" } else { "events" }
                    ),
                    _ => "Fix the script: saving the file re-runs it.".to_owned(),
                });
            });
        }
        match &view.state {
            Err(_) => {
                if let Some((count, state)) = &view.last_good {
                    ui.add_space(4.0);
                    ui.horizontal(|ui| {
                        match count.checked_sub(1) {
                            Some(index) => {
                                ui.strong(format!("The last good state, after {}", self.label_of(index)));
                                if ui.small_button("Go there").clicked() {
                                    action = Some(TreeAction::GoToEvent(index));
                                }
                            }
                            None => {
                                ui.strong("The initial state (the fold failed at the first event)");
                            }
                        }
                        if ui.small_button("Copy").clicked() {
                            ui.ctx().copy_text(crate::diff::pretty(state));
                        }
                    });
                    JsonTree::new("last_good_state").show(ui, state);
                }
            }
            Ok(state) => {
                let label = |index: usize| self.label_of(index);
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
        if let Some((stored, drift)) = &view.snapshot {
            let state = view.state.as_ref().ok().map(|s| s.as_ref());
            snapshot_ui(ui, self.label_of(self.cursor), stored, state, drift.as_deref());
        }
        action
    }

    /// The stream's category (from its first event).
    fn category(&self) -> String {
        self.history.as_ref().and_then(|h| h.category()).unwrap_or_default().to_owned()
    }

    /// Chooses a fold script (or the merge fold), keeping the scope kind chosen before.
    pub fn choose_fold(&mut self, script: Option<WatchedScript>) {
        let stream = self.stream.clone().unwrap_or_default();
        let scope = match self.fold.as_ref().map(|f| &f.scope) {
            Some(FoldScope::Stream(_)) => FoldScope::Stream(stream),
            Some(FoldScope::AllStreams) => FoldScope::AllStreams,
            _ => FoldScope::Category(self.category()),
        };
        self.set_fold(script.map(|script| FoldSetting { script, scope }));
    }

    fn fold_picker_ui(&mut self, ui: &mut Ui) {
        let applied = self.history.as_ref().map_or("merge", |h| h.fold_name()).to_owned();
        let mut choice: Option<Option<WatchedScript>> = None;
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::from_label("fold").selected_text(&applied).show_ui(ui, |ui| {
                if ui.selectable_label(applied == "merge", "merge (generic)").clicked() {
                    choice = Some(None);
                }
                for (name, source) in FOLD_EXAMPLES {
                    if ui.selectable_label(applied == *name, format!("{name} (example)")).clicked() {
                        choice = Some(Some(WatchedScript::new(ScriptSource::Example { name, source })));
                    }
                }
                if ui.button("Open a .js file…").clicked() {
                    self.fold_dialog.open(ui.ctx(), "Choose a fold", "JavaScript", &["js", "mjs"]);
                }
            });
            let path = ui.add(
                egui::TextEdit::singleline(&mut self.fold_path).hint_text("or a fold file path").desired_width(160.0),
            );
            if path.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) && !self.fold_path.trim().is_empty() {
                choice = Some(Some(WatchedScript::new(ScriptSource::File(self.fold_path.trim().into()))));
            }
        });
        if let Some(choice) = choice {
            self.choose_fold(choice);
        }
        match &self.fold {
            Some(setting) => {
                let stream = self.stream.clone().unwrap_or_default();
                let category = self.category();
                let mut scope = setting.scope.clone();
                ui.horizontal_wrapped(|ui| {
                    ui.label(format!("{} applies to", setting.script.name()));
                    ui.radio_value(&mut scope, FoldScope::Stream(stream.clone()), "this stream");
                    ui.radio_value(
                        &mut scope,
                        FoldScope::Category(category.clone()),
                        format!("every {category} stream"),
                    );
                    ui.radio_value(&mut scope, FoldScope::AllStreams, "all streams");
                });
                ui.weak(setting.script.origin());
                if scope != setting.scope {
                    let script = setting.script.clone();
                    self.set_fold(Some(FoldSetting { script, scope }));
                }
            }
            None => {
                ui.weak("merge: every JSON-object payload is merged into the state (RFC 7386)");
            }
        }
        if let Some(note) = &self.fold_dialog.note {
            ui.weak(note);
        }
    }

    fn diff_ui(&mut self, ui: &mut Ui) {
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            let at = self.label_of(self.cursor);
            ui.selectable_value(&mut self.tab, DiffTab::Changes, format!("Changes at {at}"));
            let compare = format!("Compare two {}s", self.unit());
            ui.selectable_value(&mut self.tab, DiffTab::Compare, compare);
            if self.tab == DiffTab::Compare {
                ui.separator();
                let ordinal_at = |i: usize| self.ordinal_at(i).unwrap_or(0);
                let (first, last) = (ordinal_at(0), ordinal_at(self.len().saturating_sub(1)));
                let prefix = if self.mode == Mode::Stream { "v" } else { "#" };
                ui.add(egui::DragValue::new(&mut self.compare_a).range(first..=last).prefix(format!("A: {prefix}")));
                ui.add(egui::DragValue::new(&mut self.compare_b).range(first..=last).prefix(format!("B: {prefix}")));
                if ui.small_button("A = cursor").clicked() {
                    self.compare_a = self.cursor_version().unwrap_or(first);
                }
                if ui.small_button("B = cursor").clicked() {
                    self.compare_b = self.cursor_version().unwrap_or(last);
                }
            }
        });
        ui.separator();
        if self.tab == DiffTab::Changes && self.current_view().is_none() {
            ui.weak(if self.view_pending {
                "Replaying: the changes appear in a moment."
            } else {
                "Folding: the changes appear when the fold gets to this event."
            });
            return;
        }
        if let Some(CursorView { hunks, .. }) = &mut self.view {
            hunks.poll();
        }
        if let Some(Comparison { result: Ok((_, hunks)), .. }) = &mut self.comparison {
            hunks.poll();
        }
        let (changes, hunks, error): (&[Change], Option<&LineDiff>, Option<&str>) = match self.tab {
            DiffTab::Changes => match self.current_view() {
                Some(view) => match &view.state {
                    Ok(_) => (&view.changes, Some(&view.hunks), None),
                    Err(e) => (&[], None, Some(e.as_str())),
                },
                None => (&[], None, None),
            },
            DiffTab::Compare => match &self.comparison {
                Some(Comparison { result: Ok((c, h)), .. }) => (c, Some(h), None),
                Some(Comparison { result: Err(e), .. }) => (&[], None, Some(e.as_str())),
                None => (&[], None, None),
            },
        };
        if let Some(error) = error {
            ui.colored_label(ui.visuals().error_fg_color, error);
            return;
        }
        let (added, removed, changed) = crate::diff::change_counts(changes);
        ui.weak(format!("{added} added · {removed} removed · {changed} changed"));
        // (Both lists draw only the rows in view.)
        ui.columns(2, |columns| {
            changes_list_ui(&mut columns[0], "diff", changes);
            match hunks {
                Some(hunks) if hunks.is_lost() => {
                    columns[1].colored_label(columns[1].visuals().error_fg_color, "the line diff failed");
                }
                Some(hunks) => match hunks.value() {
                    Some(hunks) => line_diff_list_ui(&mut columns[1], "diff", hunks),
                    None => {
                        columns[1].horizontal(|ui| {
                            ui.spinner();
                            ui.weak("working out the line diff of these large states…");
                        });
                    }
                },
                None => line_diff_list_ui(&mut columns[1], "diff", &[]),
            }
        });
    }
}

/// Which events the timeline lists: of one type, and whose type, actor or version holds a text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    pub event_type: Option<String>,
    pub text: String,
    /// Stepping and playing go through the listed events only.
    pub only_these: bool,
}

impl TimelineFilter {
    pub fn is_active(&self) -> bool {
        self.event_type.is_some() || !self.text.trim().is_empty()
    }

    fn keeps(&self, event: &EventSummary) -> bool {
        let text = self.text.trim().to_lowercase();
        self.event_type.as_deref().is_none_or(|t| *event.event_type == *t)
            && (text.is_empty()
                || event.event_type.to_lowercase().contains(&text)
                || event.actor.as_deref().is_some_and(|a| a.to_lowercase().contains(&text))
                || format!("v{}", event.version) == text)
    }
}

/// A mark in the timeline's marker column.
#[derive(Clone, Debug, PartialEq)]
enum Marker {
    /// A gap, a duplicate version, or what is wrong with the row.
    Anomaly(String),
    Undecodable,
    Snapshot,
    /// A snapshot seen to differ from the state recomputed at its version.
    DriftedSnapshot,
    Archived,
}

impl Marker {
    fn glyph(&self) -> &'static str {
        match self {
            Marker::Anomaly(_) => "⚠",
            Marker::Undecodable => "⛔",
            Marker::Snapshot | Marker::DriftedSnapshot => "📷",
            Marker::Archived => "🗄",
        }
    }

    fn explanation(&self) -> String {
        match self {
            Marker::Anomaly(what) => what.clone(),
            Marker::Undecodable => "the payload cannot be decoded (see the event)".to_owned(),
            Marker::Snapshot => "the store keeps a snapshot at this version".to_owned(),
            Marker::DriftedSnapshot => {
                "the store keeps a snapshot at this version, and it differs from the state recomputed here".to_owned()
            }
            Marker::Archived => "archived".to_owned(),
        }
    }
}

/// The timeline's marker column: the same width on every row, whatever it holds; two glyphs
/// at most, every mark said on hover.
fn markers_ui(ui: &mut Ui, markers: &[Marker]) {
    let height = ui.spacing().interact_size.y;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(MARKER_WIDTH, height), egui::Sense::hover());
    if markers.is_empty() {
        return;
    }
    let shown: String = markers.iter().take(2).map(Marker::glyph).collect();
    let color = match markers.first() {
        Some(Marker::Anomaly(_) | Marker::Undecodable | Marker::DriftedSnapshot) => ui.visuals().warn_fg_color,
        _ => ui.visuals().text_color(),
    };
    // (Larger than the text: emoji glyphs blur at body size.)
    let font = egui::FontId::proportional(egui::TextStyle::Body.resolve(ui.style()).size * 1.25);
    ui.painter().text(rect.left_center(), egui::Align2::LEFT_CENTER, shown, font, color);
    let said: Vec<String> = markers.iter().map(|m| format!("{} {}", m.glyph(), m.explanation())).collect();
    response.on_hover_text(said.join("\n"));
}

/// A line diff on its way or done.
type LineDiff = Background<Vec<Hunk>>;

/// The line diff of two states: at once when they are small, on a thread when they are not.
fn line_diff_of(ctx: &egui::Context, old: &Arc<Value>, new: &Arc<Value>) -> LineDiff {
    let small = has_at_most_nodes(old, INLINE_DIFF_NODES) && has_at_most_nodes(new, INLINE_DIFF_NODES);
    let (old, new) = (old.clone(), new.clone());
    Background::run(small, ctx, move || line_diff(&old, &new, CONTEXT_LINES))
}

/// The snapshot the store keeps at the cursor, next to the state recomputed here: where they
/// differ, the snapshot has drifted (it is stale, or the fold changed).
fn snapshot_ui(ui: &mut Ui, at: String, stored: &Payload, state: Option<&Value>, drift: Option<&[Change]>) {
    ui.add_space(8.0);
    ui.separator();
    ui.strong(format!("📷 Stored snapshot at {at}"));
    match drift {
        Some([]) => {
            ui.colored_label(super::json_tree::added_color(ui), "✔ matches the state recomputed from the events");
        }
        Some(changes) => {
            let shared = match (stored, state) {
                (Payload::Json(stored), Some(state)) => crate::diff::shared_fields(state, stored),
                _ => None,
            };
            match shared {
                // (Fewer than one field in five in common: another fold's state, not a stale one.)
                Some((shared, all)) if shared * 5 < all => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!(
                            "⚠ this snapshot does not have the shape of the state this fold computes: they share {shared} of \
                             {all} top-level fields. The snapshot was most likely written by another fold: choose it above \
                             to compare."
                        ),
                    );
                }
                _ => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!(
                            "⚠ snapshot drift: {} from the state recomputed from the events (recomputed, then stored)",
                            crate::ui::counted(changes.len() as i64, "difference", "differences")
                        ),
                    );
                    changes_ui(ui, "snapshot_drift", changes);
                }
            }
        }
        None => {}
    }
    egui::CollapsingHeader::new("the stored snapshot").id_salt("stored_snapshot").default_open(drift.is_none()).show(
        ui,
        |ui| {
            payload_ui(ui, "stored_snapshot_tree", stored);
        },
    );
}

impl HistoryPanel {
    /// Loading ended with no event: say why, and what to do.
    fn nothing_loaded_ui(&self, ui: &mut Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() / 3.0);
                match (&self.load_error, self.mode) {
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

/// A link in an event's facts the user followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventLink {
    /// The event whose id is this event's causation id.
    Cause,
    /// The events that share this correlation id (in Audit).
    Correlated(String),
}

/// The event at the cursor: type, version, times, actor, payload and metadata; its correlation
/// and causation ids are links.
pub fn event_details_ui(ui: &mut Ui, event: &Event) -> Option<EventLink> {
    let mut link = None;
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
        if let Some(id) = event.metadata_str("correlation_id") {
            ui.weak("correlation");
            let shown =
                ui.link(RichText::new(id).monospace()).on_hover_text("The events with this correlation id, in Audit");
            if shown.clicked() {
                link = Some(EventLink::Correlated(id.to_owned()));
            }
            ui.end_row();
        }
        if let Some(id) = event.metadata_str("causation_id") {
            ui.weak("causation");
            let shown = ui.link(RichText::new(id).monospace()).on_hover_text("Open the event that caused this one");
            if shown.clicked() {
                link = Some(EventLink::Cause);
            }
            ui.end_row();
        }
        fact(ui, "archived", event.archived.then(|| "yes: the store keeps it but marks it archived".to_owned()));
    });
    for anomaly in &event.anomalies {
        let text = RichText::new(format!("⚠ odd row: {anomaly}")).color(ui.visuals().warn_fg_color);
        ui.add(egui::Label::new(text).wrap());
    }
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
    link
}

fn payload_ui(ui: &mut Ui, id: &str, payload: &Payload) {
    match payload {
        Payload::Json(value) => {
            JsonTree::new(id).show(ui, value);
        }
        Payload::Undecodable { bytes, reason } => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Could not decode: {reason}"));
            ui.weak(format!("{} bytes, shown raw:", bytes.len()));
            // Worked out once per payload shown (egui's frame cache), not every frame.
            let raw = ui.ctx().memory_mut(|m| m.caches.cache::<RawViewCache>().get(bytes.as_slice()).clone());
            ui.add(egui::Label::new(RichText::new(&*raw.hex).monospace()).selectable(true));
            if let Some(text) = raw.text {
                ui.weak("As text (bytes that are not UTF-8 shown as \\xNN):");
                ui.add(egui::Label::new(RichText::new(&*text).monospace()).selectable(true));
            }
        }
    }
}

/// How undecodable bytes are shown: a hex dump of the first KiB, and the first 4 KiB as text
/// when they look like text.
#[derive(Clone)]
struct RawView {
    hex: Arc<str>,
    text: Option<Arc<str>>,
}

#[derive(Default)]
struct RawViewer;

impl egui::cache::ComputerMut<&[u8], RawView> for RawViewer {
    fn compute(&mut self, bytes: &[u8]) -> RawView {
        let shown = &bytes[..bytes.len().min(4096)];
        RawView {
            hex: hex_dump(bytes, 64).into(),
            text: looks_textual(shown).then(|| escape_invalid_utf8(shown).into()),
        }
    }
}

type RawViewCache = egui::cache::FrameCache<RawView, RawViewer>;

/// Whether bytes are mostly text (so a text view helps): nearly all of them valid UTF-8 and
/// few control characters. Ciphertext and other binary data are not.
pub fn looks_textual(bytes: &[u8]) -> bool {
    let valid: usize = bytes.utf8_chunks().map(|c| c.valid().len()).sum();
    let controls = bytes.iter().filter(|b| **b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t')).count();
    !bytes.is_empty() && valid * 10 >= bytes.len() * 9 && controls * 20 <= bytes.len()
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
