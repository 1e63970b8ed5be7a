//! The streams panel: every stream with its event count, last version and last time; a search
//! box answered by the database as you type (debounced); sorting; the number of matches; a
//! virtualised list that loads further pages by keyset as it is scrolled. On a big store, an
//! order no index gives (most events, most recent) is worked out in the background from one
//! pass over the store, with progress and a cancel, while the list shown stays usable.
//! Each stream shows its category and business label (see [`crate::labels`]), read from its
//! first event for the rows in view; a search also finds the streams seen so far by label, and
//! when nothing matches it offers to search the payloads in Audit. Where the store keeps
//! snapshots, "Check snapshots" marks the streams whose snapshots drift ([`DriftCheck`]).

use eframe::egui::{self, RichText, Ui};

use super::drift_check::{DriftAction, DriftCheck};
use crate::model::StreamSummary;
use crate::store::StoreCounts;
use crate::store::query::{StreamCursor, StreamQuery, StreamSort};
use crate::worker::{Reply, Request, RequestId, Worker};

/// Wait this long after the last keystroke before asking the database.
const DEBOUNCE_SECONDS: f64 = 0.25;
/// Streams per page.
pub const PAGE: i64 = 500;
/// How many streams a background sort keeps (the first in its order).
pub const TOP_STREAMS: usize = 5_000;
/// How many streams' first events one request reads (for their labels).
const LABELS_PER_REQUEST: usize = 100;
/// A list up to this long gets every row's label, not only those in view.
const LABEL_WHOLE_LIST: usize = 2_000;
/// How many streams' summaries and labels are kept for searching by label.
const KNOWN_STREAMS: usize = 100_000;

/// What the list knows of a stream from its first event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamLabel {
    /// The aggregate type, or an id prefix that is a word (not a hex run).
    pub category: Option<String>,
    pub label: Option<String>,
    /// The field of the first event the label is read from.
    pub field: Option<String>,
}

/// A sort of all streams running in the background.
struct Sorting {
    request: RequestId,
    /// How many streams it has read so far.
    read: usize,
    /// The order of the rows shown meanwhile (the one to go back to on cancel).
    previous: StreamSort,
}

/// What the panel asks the app to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamsAction {
    OpenStream(String),
    /// Open a stream at a version (a drifting snapshot).
    OpenVersion(String, i64),
    /// Nothing matched this search: look for it in the payloads (Audit).
    SearchPayloads(String),
    /// Check the store's snapshots with the fold in use (the app knows it: it calls
    /// [`DriftCheck::start`] on [`StreamsPanel::drift`]).
    CheckSnapshots,
}

#[derive(Default)]
pub struct StreamsPanel {
    search: String,
    /// The search the rows answer.
    applied_search: Option<String>,
    /// When the search text last changed (egui time), for the debounce.
    edited_at: Option<f64>,
    sort: StreamSort,
    rows: Vec<StreamSummary>,
    next: Option<StreamCursor>,
    page_request: Option<RequestId>,
    count_request: Option<RequestId>,
    count: Option<i64>,
    /// Whether `count` is the database's estimate.
    count_estimated: bool,
    /// The store's stream count as the store was opened with it (an estimate for a big store,
    /// `None` when there is none): shown for an empty search instead of counting again.
    store_streams: Option<(i64, bool)>,
    selected: Option<String>,
    error: Option<String>,
    /// Whether the store has a recorded-at column (the "most recent" sort needs one).
    has_time: bool,
    /// Whether the store's counts are estimates (a big store: nothing counts all of it unasked).
    store_estimated: bool,
    sorting: Option<Sorting>,
    /// The rows are the first streams of a background sort, and there are more.
    top_only: bool,
    /// The order the rows are in.
    rows_sort: StreamSort,
    /// Each stream's category and label, once its first event is read.
    labels: std::collections::HashMap<String, StreamLabel>,
    /// The label field of each category: the user's choice, or the one found in the first
    /// event seen of it (`None`: no field labels it).
    label_fields: std::collections::HashMap<String, Option<String>>,
    pub label_overrides: std::collections::BTreeMap<String, String>,
    labels_request: Option<RequestId>,
    /// The streams whose first events that request reads.
    labels_asked: Vec<String>,
    /// The summaries of the streams listed so far (found by label in later searches).
    known: std::collections::HashMap<String, StreamSummary>,
    /// How many of the rows were found by their label (put first).
    label_matches: usize,
    /// The selected stream is to be scrolled into view (once it is listed).
    scroll_to_selected: bool,
    /// Only the streams of this category are shown.
    category: Option<String>,
    /// Whether the store keeps snapshots (they can be checked for drift).
    has_snapshots: bool,
    pub drift: DriftCheck,
    /// A label given where a stream id was expected (`--stream ORD-1042`), and the version to
    /// open: the stream whose label it is opens once its first event is read.
    wanted_label: Option<(String, Option<i64>)>,
    /// The stream found by that label, to open.
    found_by_label: Option<(String, Option<i64>)>,
}

impl StreamsPanel {
    /// The panel of a store just opened, with its counts (for the empty search's count).
    pub fn new(has_time: bool, has_snapshots: bool, counts: StoreCounts) -> StreamsPanel {
        let store_streams = counts.streams.map(|n| (n, counts.estimated));
        StreamsPanel { has_time, has_snapshots, store_streams, store_estimated: counts.estimated, ..Default::default() }
    }

    /// The store's counts changed (counted exactly on request): the empty search's count too.
    pub fn set_store_counts(&mut self, counts: StoreCounts) {
        self.store_streams = counts.streams.map(|n| (n, counts.estimated));
        self.store_estimated = counts.estimated;
        if self.applied_search.as_deref() == Some("")
            && let Some((count, estimated)) = self.store_streams
        {
            self.count = Some(count);
            self.count_estimated = estimated;
        }
    }

    pub fn selected(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// A panel showing these rows as the whole answer to an empty search (benchmarks and tests).
    pub fn with_rows(rows: Vec<StreamSummary>) -> StreamsPanel {
        StreamsPanel { count: Some(rows.len() as i64), rows, applied_search: Some(String::new()), ..Default::default() }
    }

    /// Marks a stream as the selected one, and scrolls the list to it.
    pub fn select(&mut self, stream: &str) {
        self.selected = Some(stream.to_owned());
        self.scroll_to_selected = true;
    }

    pub fn rows(&self) -> &[StreamSummary] {
        &self.rows
    }

    pub fn match_count(&self) -> Option<i64> {
        self.count
    }

    /// Whether a sort runs in the background.
    pub fn is_sorting(&self) -> bool {
        self.sorting.is_some()
    }

    /// What a stream's first event says of it: its category, and its label by the category's
    /// label field (found in this event when the category has none yet).
    fn label_from(&mut self, event: &crate::model::Event) -> StreamLabel {
        let category = event.category().to_owned();
        let payload = match &*event.payload {
            crate::model::Payload::Json(value) => Some(value),
            _ => None,
        };
        // (A category's field is found in the first event that has one: one odd stream does not
        // leave its whole category unlabelled.)
        let field = match self.label_overrides.get(&category) {
            Some(chosen) => Some(chosen.clone()),
            None => match self.label_fields.get(&category) {
                Some(Some(found)) => Some(found.clone()),
                _ => {
                    let found = payload.and_then(|p| crate::labels::label_field(&category, p));
                    if found.is_some() {
                        self.label_fields.insert(category.clone(), found.clone());
                    }
                    found
                }
            },
        };
        let label = field.as_ref().and_then(|f| payload.and_then(|p| crate::labels::label_of(p, f)));
        // (An id prefix that is a hex run, as in a UUID, says nothing.)
        let shown_category = (event.aggregate_type.is_some()
            || !category.chars().all(|c| c.is_ascii_hexdigit()) && category != event.stream.0)
            .then_some(category);
        StreamLabel { category: shown_category, label, field }
    }

    /// A stream's category and label, once read.
    /// A followed stream grew: its row (when listed) counts the new events, its last version and
    /// time. (The store's totals in the status bar are estimates and stay as they are.)
    pub fn grew(&mut self, stream: &str, arrived: super::history::Arrived) {
        let Some(row) = self.rows.iter_mut().find(|r| r.stream.0 == stream) else { return };
        row.events += arrived.events as i64;
        row.last_version = row.last_version.max(arrived.last_version);
        row.last_recorded_at = arrived.last_recorded_at.or(row.last_recorded_at);
    }

    pub fn label(&self, stream: &str) -> Option<&StreamLabel> {
        self.labels.get(stream)
    }

    /// Forgets the labels (the user chose another label field): they are read again.
    pub fn forget_labels(&mut self) {
        self.labels.clear();
        self.label_fields.clear();
        self.labels_request = None;
    }

    /// Puts first the streams seen so far whose label the search finds (and its id does not).
    fn put_label_matches_first(&mut self) {
        self.label_matches = 0;
        let term = self.applied_search.clone().unwrap_or_default();
        if term.is_empty() {
            return;
        }
        let listed: std::collections::HashSet<&str> = self.rows.iter().map(|r| r.stream.0.as_str()).collect();
        let mut found: Vec<StreamSummary> = self
            .labels
            .iter()
            .filter(|(stream, l)| {
                !listed.contains(stream.as_str())
                    && l.label.as_deref().is_some_and(|label| crate::labels::label_matches(label, &term))
            })
            .filter_map(|(stream, _)| self.known.get(stream).cloned())
            .collect();
        found.sort_by(|a, b| a.stream.0.cmp(&b.stream.0));
        self.label_matches = found.len();
        self.rows.splice(0..0, found);
    }

    /// Looks for the stream labelled `label` among the streams as they are listed and labelled,
    /// and opens it (at `version`) once found.
    pub fn find_label(&mut self, label: &str, version: Option<i64>) {
        self.wanted_label = Some((label.to_owned(), version));
        self.check_wanted_label();
    }

    fn check_wanted_label(&mut self) {
        let Some((wanted, version)) = &self.wanted_label else {
            return;
        };
        let found = self
            .labels
            .iter()
            .filter(|(_, l)| l.label.as_deref().is_some_and(|label| label.eq_ignore_ascii_case(wanted)))
            .map(|(stream, _)| stream.clone())
            .min();
        if let Some(stream) = found {
            self.found_by_label = Some((stream, *version));
            self.wanted_label = None;
        } else if self.next.is_none()
            && self.page_request.is_none()
            && !self.rows.is_empty()
            && self.rows.len() <= LABEL_WHOLE_LIST
            && self.rows.iter().all(|r| self.labels.contains_key(&r.stream.0))
        {
            self.error = Some(format!("No stream id contains “{wanted}”, and no stream is labelled so."));
            self.wanted_label = None;
        }
    }

    /// Asks for a stream's label if it is not known (a stream opened from elsewhere).
    pub fn want_label(&mut self, stream: &str, worker: &mut Worker) {
        if self.labels_request.is_none() && !self.labels.contains_key(stream) {
            self.labels_asked = vec![stream.to_owned()];
            self.labels_request = Some(worker.send(Request::FirstEvents { streams: self.labels_asked.clone() }));
        }
    }

    /// Asks for the first events of the rows in view whose labels are not known yet.
    fn request_labels(&mut self, range: std::ops::Range<usize>, worker: &mut Worker) {
        if self.labels_request.is_some() {
            return;
        }
        let wanted: Vec<String> = self.rows[range]
            .iter()
            .filter(|r| !self.labels.contains_key(&r.stream.0))
            .take(LABELS_PER_REQUEST)
            .map(|r| r.stream.0.clone())
            .collect();
        if !wanted.is_empty() {
            self.labels_asked = wanted.clone();
            self.labels_request = Some(worker.send(Request::FirstEvents { streams: wanted }));
        }
    }

    /// Starts over with the current search and sort.
    fn reload(&mut self, worker: &mut Worker) {
        let search = self.search.trim().to_owned();
        if let Some(sorting) = self.sorting.take() {
            worker.send(Request::Cancel { id: sorting.request });
        }
        if self.store_estimated && matches!(self.sort, StreamSort::Recent | StreamSort::MostEvents) {
            // On a big store every page of this order would aggregate the whole store: one pass
            // in the background instead, the rows shown meanwhile kept.
            let request =
                worker.send(Request::TopStreams { search: search.clone(), sort: self.sort, top: TOP_STREAMS });
            self.sorting = Some(Sorting { request, read: 0, previous: self.rows_sort });
            if self.applied_search.as_deref() != Some(search.as_str()) {
                // Rows of another search would mislead: only a new order keeps them meanwhile.
                self.rows.clear();
                self.next = None;
                self.page_request = None;
            }
            self.applied_search = Some(search.clone());
            self.error = None;
            self.count_request = (!search.is_empty()).then(|| worker.send(Request::CountStreams { search }));
            return;
        }
        self.rows_sort = self.sort;
        self.top_only = false;
        self.label_matches = 0;
        self.rows.clear();
        self.next = None;
        self.error = None;
        self.count = None;
        self.applied_search = Some(search.clone());
        self.page_request = Some(worker.send(Request::Streams {
            query: StreamQuery { search: search.clone(), sort: self.sort, after: None, limit: PAGE },
        }));
        // The whole store's count is known from opening it (a big store's estimate): counting
        // again would read all of it.
        self.count_estimated = false;
        if search.is_empty() && (self.store_streams.is_some() || self.store_estimated) {
            if let Some((count, estimated)) = self.store_streams {
                self.count = Some(count);
                self.count_estimated = estimated;
            }
            self.count_request = None;
            return;
        }
        self.count_request = Some(worker.send(Request::CountStreams { search }));
    }

    fn request_next_page(&mut self, worker: &mut Worker) {
        if self.page_request.is_some() {
            return;
        }
        if let (Some(after), Some(search)) = (self.next.clone(), self.applied_search.clone()) {
            self.page_request = Some(worker.send(Request::Streams {
                // (In the rows' order: while another is worked out in the background, the rows
                // shown go on in theirs.)
                query: StreamQuery { search, sort: self.rows_sort, after: Some(after), limit: PAGE },
            }));
        }
    }

    /// Takes a reply meant for this panel; returns false when it is not one of ours (or stale).
    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let reply = self.drift.on_reply(id, reply)?;
        if let Some(sorting) = self.sorting.as_mut().filter(|s| s.request == id) {
            match reply {
                Reply::StreamsRead(read) => sorting.read = read,
                Reply::TopStreams(top) => {
                    self.sorting = None;
                    // (A page of the order shown meanwhile may still be on its way: not wanted.)
                    self.page_request = None;
                    self.top_only = top.more;
                    self.rows = top.streams;
                    self.next = None;
                    self.rows_sort = self.sort;
                    if self.applied_search.as_deref() == Some("")
                        && let Some((count, estimated)) = self.store_streams
                    {
                        self.count = Some(count);
                        self.count_estimated = estimated;
                    }
                }
                Reply::Failed(message) => {
                    self.sort = sorting.previous;
                    self.sorting = None;
                    if !matches!(message, crate::worker::Failure::Cancelled(_)) {
                        self.error = Some(message.to_string());
                    }
                }
                _ => {}
            }
            return None;
        }
        if Some(id) == self.page_request {
            self.page_request = None;
            match reply {
                Reply::Streams(page) => {
                    let first_page = self.rows.is_empty();
                    for row in &page.streams {
                        if self.known.len() < KNOWN_STREAMS || self.known.contains_key(&row.stream.0) {
                            self.known.insert(row.stream.0.clone(), row.clone());
                        }
                    }
                    self.rows.extend(page.streams);
                    self.next = page.next;
                    if first_page {
                        self.put_label_matches_first();
                    }
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
        if Some(id) == self.labels_request {
            self.labels_request = None;
            let asked = std::mem::take(&mut self.labels_asked);
            match reply {
                Reply::FirstEvents(firsts) => {
                    for (stream, first) in firsts {
                        let label = first.map(|event| self.label_from(&event)).unwrap_or_default();
                        self.labels.insert(stream, label);
                    }
                    self.check_wanted_label();
                }
                // (Not asked again every frame: those streams go without a label.)
                _ => self.labels.extend(asked.into_iter().map(|stream| (stream, StreamLabel::default()))),
            }
            return None;
        }
        if Some(id) == self.count_request {
            self.count_request = None;
            if let Reply::StreamCount { count, .. } = reply {
                self.count = Some(count);
            }
            return None;
        }
        Some(reply)
    }

    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker) -> Option<StreamsAction> {
        let now = ui.input(|i| i.time);
        if self.applied_search.is_none() {
            self.reload(worker);
        }
        let mut action = None;
        if let Some((stream, version)) = self.found_by_label.take() {
            self.select(&stream);
            action = Some(match version {
                Some(version) => StreamsAction::OpenVersion(stream, version),
                None => StreamsAction::OpenStream(stream),
            });
        }
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.heading("Streams");
            if let Some(count) = self.count {
                let text = match self.applied_search.as_deref() {
                    Some("") | None => super::counted(count, "stream", "streams"),
                    Some(_) => super::counted(count + self.label_matches as i64, "match", "matches"),
                };
                ui.weak(if self.count_estimated { format!("≈ {text}") } else { text });
                if self.label_matches > 0 {
                    ui.weak(format!("({} by label)", self.label_matches));
                }
            }
        });
        let search = ui.add(
            egui::TextEdit::singleline(&mut self.search)
                .hint_text("Search stream ids and labels (substring)")
                .desired_width(f32::INFINITY),
        );
        if search.changed() {
            self.edited_at = Some(now);
        }
        if let Some(at) = self.edited_at {
            if now - at >= DEBOUNCE_SECONDS {
                self.edited_at = None;
                if self.applied_search.as_deref() != Some(self.search.trim()) {
                    self.reload(worker);
                }
            } else {
                ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(DEBOUNCE_SECONDS - (now - at)));
            }
        }
        ui.horizontal(|ui| {
            let before = self.sort;
            egui::ComboBox::from_label("Sort").selected_text(self.sort.label()).show_ui(ui, |ui| {
                for sort in StreamSort::ALL {
                    if sort == StreamSort::Recent && !self.has_time {
                        continue;
                    }
                    ui.selectable_value(&mut self.sort, sort, sort.label());
                }
            });
            if self.sort != before {
                self.reload(worker);
            }
            let mut categories: Vec<&str> = self.labels.values().filter_map(|l| l.category.as_deref()).collect();
            categories.sort_unstable();
            categories.dedup();
            if !categories.is_empty() || self.category.is_some() {
                let shown = self.category.clone().unwrap_or_else(|| "all categories".to_owned());
                let mut chosen = self.category.clone();
                egui::ComboBox::from_label("category")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut chosen, None, "all categories");
                        for category in categories {
                            ui.selectable_value(&mut chosen, Some(category.to_owned()), category);
                        }
                    })
                    .response
                    .on_hover_text("Only the streams of a category (of those listed so far)");
                self.category = chosen;
            }
            if self.page_request.is_some() || self.count_request.is_some() {
                ui.spinner();
            }
        });
        if self.has_snapshots {
            match self.drift.ui(ui, worker) {
                Some(DriftAction::Start) => action = Some(StreamsAction::CheckSnapshots),
                Some(DriftAction::Open(stream, version)) => action = Some(StreamsAction::OpenVersion(stream, version)),
                None => {}
            }
        }
        if let Some(sorting) = &self.sorting {
            let mut cancel = false;
            ui.horizontal_wrapped(|ui| {
                ui.spinner();
                let of = self.store_streams.map(|(n, _)| format!(" of ≈{n}")).unwrap_or_default();
                ui.label(format!("Sorting every stream ({} read{of})…", sorting.read));
                cancel = ui.button("Cancel").on_hover_text("Keep the list as it is").clicked();
            });
            ui.weak("This order needs a pass over the whole store; the list below stays usable meanwhile.");
            if cancel {
                worker.send(Request::Cancel { id: sorting.request });
                self.sort = sorting.previous;
                self.sorting = None;
            }
        }
        if self.top_only {
            ui.weak(format!("The first {} streams in this order; a search narrows them.", self.rows.len()));
        }
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        if let Some((label, _)) = &self.wanted_label {
            ui.horizontal_wrapped(|ui| {
                ui.spinner();
                ui.label(format!("No stream id contains “{label}”: looking for it among the streams' labels…"));
            });
        }
        if self.next.is_some() {
            ui.weak(format!("{} loaded; more load as you scroll", self.rows.len()));
        }
        ui.separator();
        if self.drift.only_drifting {
            let labels = &self.labels;
            let label_of = |stream: &str| labels.get(stream).and_then(|l| l.label.clone());
            if let Some(DriftAction::Open(stream, version)) = self.drift.list_ui(ui, self.selected.as_deref(), label_of)
            {
                self.selected = Some(stream.clone());
                action = Some(StreamsAction::OpenVersion(stream, version));
            }
            return action;
        }
        if self.rows.is_empty() && self.page_request.is_none() && self.sorting.is_none() && self.error.is_none() {
            match self.applied_search.clone().filter(|s| !s.is_empty()) {
                Some(search) => {
                    ui.label(format!("No stream id, nor the label of a stream listed so far, contains “{search}”."));
                    let offer = format!("Search the payloads for “{search}” in Audit");
                    if ui.button(offer).on_hover_text("Reads every payload: slow on a big store").clicked() {
                        return Some(StreamsAction::SearchPayloads(search));
                    }
                }
                None => {
                    ui.weak("This store has no streams yet.");
                }
            }
            return None;
        }
        // Two lines a row: the id, then its count, last version and last time.
        let row_height = ui.spacing().interact_size.y
            + ui.text_style_height(&egui::TextStyle::Body)
            + 2.0 * ui.spacing().item_spacing.y;
        // The category filter keeps the rows of one category (of those whose first event is read).
        let shown: Option<Vec<usize>> = self.category.as_ref().map(|wanted| {
            (0..self.rows.len())
                .filter(|&i| self.labels.get(&self.rows[i].stream.0).and_then(|l| l.category.as_ref()) == Some(wanted))
                .collect()
        });
        let total = shown.as_ref().map_or(self.rows.len(), Vec::len);
        let mut wants_more = false;
        let mut in_view = 0..0;
        let mut area = egui::ScrollArea::vertical().id_salt("streams_list").auto_shrink([false, false]);
        if self.scroll_to_selected
            && let Some(index) = self.selected.as_ref().and_then(|s| self.rows.iter().position(|r| r.stream.0 == *s))
        {
            self.scroll_to_selected = false;
            let row = row_height + ui.spacing().item_spacing.y;
            area = area.vertical_scroll_offset((index as f32 * row - ui.available_height() / 3.0).max(0.0));
        }
        area.show_rows(ui, row_height, total, |ui, range| {
            // (Filtered, the list is of the streams listed so far: scrolling reads no more pages.)
            if range.end + 50 >= total && shown.is_none() {
                wants_more = true;
            }
            in_view = range.clone();
            for index in range {
                let row = &self.rows[shown.as_ref().map_or(index, |s| s[index])];
                let selected = self.selected.as_deref() == Some(row.stream.as_str());
                ui.vertical(|ui| {
                    // (One line each, cut with … where the panel is narrow: rows keep their height.)
                    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                    let response =
                        ui.selectable_label(selected, RichText::new(&row.stream.0).monospace()).on_hover_text(format!(
                            "{}\n{}{} events, versions {} to {}{}",
                            row.stream,
                            if row.events_at_least { "over " } else { "" },
                            if row.events_at_least { row.events - 1 } else { row.events },
                            row.first_version,
                            row.last_version,
                            row.last_recorded_at
                                .map(|t| format!(", last at {}", crate::model::format_time(t)))
                                .unwrap_or_default()
                        ));
                    response.context_menu(|ui| {
                        if ui.button("Copy stream id").clicked() {
                            ui.ctx().copy_text(row.stream.0.clone());
                            ui.close();
                        }
                    });
                    if response.clicked() {
                        action = Some(StreamsAction::OpenStream(row.stream.0.clone()));
                    }
                    let last_time =
                        row.last_recorded_at.map(|t| format!(" · {}", t.format("%Y-%m-%d %H:%M"))).unwrap_or_default();
                    // (A long stream is counted only so far: its version says how far it goes.)
                    let events = if row.events_at_least {
                        format!("{}+ events", row.events - 1)
                    } else {
                        super::counted(row.events, "event", "events")
                    };
                    let line = ui.horizontal(|ui| {
                        ui.add_space(ui.spacing().button_padding.x);
                        if let Some(check) = self.drift.drift_of(&row.stream.0) {
                            let at = check.first_drift().map(|v| format!(" (first at v{v})")).unwrap_or_default();
                            ui.colored_label(ui.visuals().warn_fg_color, "⚠")
                                .on_hover_text(format!("A stored snapshot differs from the events{at}"));
                        }
                        let known = self.labels.get(&row.stream.0);
                        if let Some(category) = known.and_then(|l| l.category.as_deref()) {
                            ui.weak(category);
                        }
                        if let Some(label) = known.and_then(|l| l.label.as_deref()) {
                            ui.label(RichText::new(label).strong());
                        }
                        let facts = format!("{events} · v{}{last_time}", row.last_version);
                        ui.add(egui::Label::new(RichText::new(facts).weak()).truncate());
                    });
                    // (The label line opens the stream too.)
                    if line.response.interact(egui::Sense::click()).clicked() {
                        action = Some(StreamsAction::OpenStream(row.stream.0.clone()));
                    }
                });
            }
        });
        if wants_more {
            self.request_next_page(worker);
        }
        // A list of a few thousand is labelled whole (so that a search finds any of it by label);
        // a longer one, the rows in view.
        let labelled = match &shown {
            _ if self.rows.len() <= LABEL_WHOLE_LIST => 0..self.rows.len(),
            // (Filtered: the rows in view are the filter's; the next unread rows are labelled.)
            Some(_) => {
                let unread = self.rows.iter().position(|r| !self.labels.contains_key(&r.stream.0));
                unread.map_or(0..0, |i| i..self.rows.len())
            }
            None => in_view,
        };
        self.request_labels(labelled, worker);
        if let Some(StreamsAction::OpenStream(id)) = &action {
            self.selected = Some(id.clone());
        }
        action
    }
}
