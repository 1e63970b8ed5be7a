//! The streams panel: every stream with its event count, last version and last time; a search
//! box answered by the database as you type (debounced); sorting; the number of matches; a
//! virtualised list that loads further pages by keyset as it is scrolled. On a big store, an
//! order no index gives (most events, most recent) is worked out in the background from one
//! pass over the store, with progress and a cancel, while the list shown stays usable.

use eframe::egui::{self, RichText, Ui};

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
}

impl StreamsPanel {
    /// The panel of a store just opened, with its counts (for the empty search's count).
    pub fn new(has_time: bool, counts: StoreCounts) -> StreamsPanel {
        let store_streams = counts.streams.map(|n| (n, counts.estimated));
        StreamsPanel { has_time, store_streams, store_estimated: counts.estimated, ..Default::default() }
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

    /// Marks a stream as the selected one.
    pub fn select(&mut self, stream: &str) {
        self.selected = Some(stream.to_owned());
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
                    self.rows.extend(page.streams);
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
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.heading("Streams");
            if let Some(count) = self.count {
                let text = match self.applied_search.as_deref() {
                    Some("") | None => super::counted(count, "stream", "streams"),
                    Some(_) => super::counted(count, "match", "matches"),
                };
                ui.weak(if self.count_estimated { format!("≈ {text}") } else { text });
            }
        });
        let search = ui.add(
            egui::TextEdit::singleline(&mut self.search)
                .hint_text("Search stream ids (substring)")
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
            if self.page_request.is_some() || self.count_request.is_some() {
                ui.spinner();
            }
        });
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
        if self.next.is_some() {
            ui.weak(format!("{} loaded; more load as you scroll", self.rows.len()));
        }
        ui.separator();
        if self.rows.is_empty() && self.page_request.is_none() && self.sorting.is_none() && self.error.is_none() {
            ui.weak(match self.applied_search.as_deref() {
                Some(s) if !s.is_empty() => format!("No stream id contains “{s}”."),
                _ => "This store has no streams yet.".to_owned(),
            });
            return None;
        }
        // Two lines a row: the id, then its count, last version and last time.
        let row_height = ui.spacing().interact_size.y
            + ui.text_style_height(&egui::TextStyle::Body)
            + 2.0 * ui.spacing().item_spacing.y;
        let total = self.rows.len();
        let mut wants_more = false;
        egui::ScrollArea::vertical().id_salt("streams_list").auto_shrink([false, false]).show_rows(
            ui,
            row_height,
            total,
            |ui, range| {
                if range.end + 50 >= total {
                    wants_more = true;
                }
                for row in &self.rows[range] {
                    let selected = self.selected.as_deref() == Some(row.stream.as_str());
                    ui.vertical(|ui| {
                        let response = ui
                            .selectable_label(selected, RichText::new(&row.stream.0).monospace())
                            .on_hover_text(format!(
                                "{}\n{} events, versions {} to {}{}",
                                row.stream,
                                row.events,
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
                        let last_time = row
                            .last_recorded_at
                            .map(|t| format!(" · {}", t.format("%Y-%m-%d %H:%M")))
                            .unwrap_or_default();
                        let events = super::counted(row.events, "event", "events");
                        ui.horizontal(|ui| {
                            ui.add_space(ui.spacing().button_padding.x);
                            ui.weak(format!("{events} · v{}{last_time}", row.last_version));
                        });
                    });
                }
            },
        );
        if wants_more {
            self.request_next_page(worker);
        }
        if let Some(StreamsAction::OpenStream(id)) = &action {
            self.selected = Some(id.clone());
        }
        action
    }
}
