//! The timeline: one row per event (version, type, time and actor; a fixed column of marks for
//! gaps, undecodable payloads, snapshots and archived events), virtualised, filtered by event
//! type or text, the cursor's row kept in view.

use super::*;

/// Which events the timeline lists: of one type, and whose type, actor or version holds a text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    pub event_type: Option<String>,
    pub text: String,
    /// Stepping and playing go through the listed events only.
    pub only_these: bool,
    /// Only the events marked as having changed a path of the state.
    pub marked_only: bool,
}

impl TimelineFilter {
    pub fn is_active(&self) -> bool {
        self.event_type.is_some() || !self.text.trim().is_empty() || self.marked_only
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
pub(super) enum Marker {
    /// A gap, a duplicate version, or what is wrong with the row.
    Anomaly(String),
    Undecodable,
    Snapshot,
    /// The event changed the path the user marked.
    ChangedPath(String),
    /// A snapshot seen to differ from the state recomputed at its version.
    DriftedSnapshot,
    Archived,
    /// The event does not fit the schema its type mostly follows (what is wrong).
    BreaksContract(String),
    /// Appended while the user looked elsewhere (following the stream).
    Arrived,
    /// The user bookmarked this version (the note).
    Bookmark(String),
}

impl Marker {
    fn glyph(&self) -> &'static str {
        match self {
            Marker::Anomaly(_) => "⚠",
            Marker::Undecodable => "⛔",
            Marker::Snapshot | Marker::DriftedSnapshot => "📷",
            Marker::ChangedPath(_) => "✏",
            Marker::Archived => "🗄",
            Marker::BreaksContract(_) => "📜",
            Marker::Arrived => "🆕",
            Marker::Bookmark(_) => "🔖",
        }
    }

    fn explanation(&self) -> String {
        match self {
            Marker::Anomaly(what) => what.clone(),
            Marker::Undecodable => "the payload cannot be decoded (see the event)".to_owned(),
            Marker::Snapshot => "the store keeps a snapshot at this version".to_owned(),
            Marker::ChangedPath(path) => format!("this event changed {path}"),
            Marker::DriftedSnapshot => {
                "the store keeps a snapshot at this version, and it differs from the state recomputed here".to_owned()
            }
            Marker::Archived => "archived".to_owned(),
            Marker::BreaksContract(what) => format!("does not fit its type's schema (Types view): {what}"),
            Marker::Arrived => "appended while you looked elsewhere (📡 Follow)".to_owned(),
            Marker::Bookmark(note) if note.is_empty() => "bookmarked".to_owned(),
            Marker::Bookmark(note) => format!("bookmarked: {note}"),
        }
    }
}

/// The timeline's marker column: the same width on every row, whatever it holds; two glyphs
/// at most, every mark said on hover.
pub(super) fn markers_ui(ui: &mut Ui, markers: &[Marker]) {
    let height = ui.spacing().interact_size.y;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(MARKER_WIDTH, height), egui::Sense::hover());
    if markers.is_empty() {
        return;
    }
    let shown: String = markers.iter().take(2).map(Marker::glyph).collect();
    let color = match markers.first() {
        Some(Marker::Anomaly(_) | Marker::Undecodable | Marker::DriftedSnapshot | Marker::BreaksContract(_)) => {
            ui.visuals().warn_fg_color
        }
        Some(Marker::ChangedPath(_)) => crate::ui::json_tree::changed_color(ui),
        _ => ui.visuals().text_color(),
    };
    // (Larger than the text: emoji glyphs blur at body size.)
    let font = egui::FontId::proportional(egui::TextStyle::Body.resolve(ui.style()).size * 1.25);
    ui.painter().text(rect.left_center(), egui::Align2::LEFT_CENTER, shown, font, color);
    let said: Vec<String> = markers.iter().map(|m| format!("{} {}", m.glyph(), m.explanation())).collect();
    response.on_hover_text(said.join("\n"));
}

/// The timeline's own state: the versions marked for a path, the rows the filter keeps, the
/// scroll to the cursor, and the "go to version" field.
#[derive(Default)]
pub(super) struct TimelineView {
    /// The events that changed a path the user asked about.
    pub(super) marks: Option<PathMarks>,
    /// The indices the filter keeps, worked out for this filter and this many events.
    pub(super) filtered: Option<(TimelineFilter, usize, Vec<usize>)>,
    /// The cursor's row is to be scrolled into view.
    pub(super) scroll_to_cursor: bool,
    /// How many rows the timeline drew at the last frame.
    pub(super) timeline_rows: usize,
    pub(super) jump_text: String,
    pub(super) jump_error: Option<String>,
}

impl HistoryPanel {
    /// The timeline's filter: an event type, a text (type, actor or `vN`), and whether
    /// stepping and playing keep to the events listed.
    pub(super) fn timeline_filter_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            let shown = self.filter.event_type.clone().unwrap_or_else(|| "all types".to_owned());
            let history = self.history.as_ref();
            let tail = self.loader.tail.as_ref();
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
                ui.weak(crate::ui::counted(count as i64, "event", "events"));
                ui.checkbox(&mut self.filter.only_these, "step and play these only")
                    .on_hover_text("The arrow keys and Play go from listed event to listed event");
                if ui.small_button("×").on_hover_text("Clear the filter").clicked() {
                    self.filter = TimelineFilter::default();
                }
            }
        });
    }

    /// The path whose changes are marked: how many events changed it, whether the search goes
    /// on, listing only them, and clearing the marks.
    fn marks_ui(&mut self, ui: &mut Ui) {
        let Some(marks) = &self.timeline.marks else {
            return;
        };
        let mut clear = false;
        ui.horizontal_wrapped(|ui| {
            let changed = crate::ui::counted(marks.found.len() as i64, "event", "events");
            let color = crate::ui::json_tree::changed_color(ui);
            ui.label(RichText::new(format!("✏ {changed} changed {}", marks.path)).color(color));
            if !marks.done {
                ui.spinner();
            }
            if let Some(error) = &marks.error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
            ui.checkbox(&mut self.filter.marked_only, "list only these");
            clear = ui.small_button("×").on_hover_text("Clear the marks").clicked();
        });
        if clear {
            self.timeline.marks = None;
            self.filter.marked_only = false;
        }
    }

    pub(super) fn timeline_ui(&mut self, ui: &mut Ui) {
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
            self.marks_ui(ui);
        }
        let listed = self.filter.is_active().then(|| self.listed().to_vec());
        let changed: Option<(String, HashSet<usize>)> =
            self.timeline.marks.as_ref().map(|m| (m.path.clone(), m.found.iter().copied().collect()));
        let Some(history) = &self.history else {
            return;
        };
        if history.is_empty() {
            ui.weak(match (self.loader.done, self.mode) {
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
        let rows_changed = std::mem::replace(&mut self.timeline.timeline_rows, rows) != rows;
        if self.timeline.scroll_to_cursor && !rows_changed {
            self.timeline.scroll_to_cursor = false;
            let visible = ui.available_height();
            let row = listed.as_ref().map_or(self.cursor, |l| l.partition_point(|&i| i < self.cursor));
            let offset = row as f32 * (row_height + spacing) - visible / 2.0 + row_height;
            let end = rows as f32 * (row_height + spacing) - visible;
            area = area.vertical_scroll_offset(offset.min(end).max(0.0));
        }
        let failure_index = history.failure().and_then(|f| f.index);
        let mut clicked = None;
        let mut picked: Option<(bool, i64)> = None;
        let mut fixture_wanted: Option<(i64, i64)> = None;
        let stream_mode = self.mode == Mode::Stream;
        let comparing = self.diff.tab == DiffTab::Compare;
        let compare = (self.diff.compare_a, self.diff.compare_b);
        let cursor = self.cursor;
        let projection = self.mode == Mode::Projection;
        let snapshot_versions = &self.snapshots;
        let snapshot_drift = &self.snapshot_drift;
        let breaches = &self.contract_breaches.1;
        let unseen_from = self.follow.unseen_from;
        let bookmarks = &self.bookmarks;
        let tail = self.loader.tail.as_ref();
        // Versions padded to the longest one's width (and the `v`), so that the types line up.
        let last_ordinal = self.len().checked_sub(1).and_then(|i| self.ordinal_at(i)).unwrap_or(0);
        let digits = last_ordinal.to_string().len() + 1;
        // The narrowest a row's time and actor are shown at: the date and the minute.
        let least_facts_width = ui.fonts_mut(|f| {
            let font = egui::TextStyle::Body.resolve(ui.style());
            f.layout_no_wrap("00-00 00:00…".to_owned(), font, egui::Color32::WHITE).size().x
        });
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
                if let Some(what) = breaches.get(&event.version) {
                    markers.push(Marker::BreaksContract(what.clone()));
                }
                if unseen_from.is_some_and(|from| i >= from) {
                    markers.insert(0, Marker::Arrived);
                }
                let ordinal = if projection { event.position.unwrap_or(i as i64 + 1) } else { event.version };
                if let Some(note) = bookmarks.get(&ordinal) {
                    markers.insert(0, Marker::Bookmark(note.clone()));
                }
                if let Some((path, changed)) = &changed
                    && changed.contains(&i)
                {
                    markers.insert(0, Marker::ChangedPath(path.clone()));
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
                    response.context_menu(|ui| {
                        if ui.button(format!("Compare from here (A = v{})", event.version)).clicked() {
                            picked = Some((true, event.version));
                            ui.close();
                        }
                        if ui.button(format!("Compare to here (B = v{})", event.version)).clicked() {
                            picked = Some((false, event.version));
                            ui.close();
                        }
                        if stream_mode {
                            ui.separator();
                            let range = if comparing {
                                (compare.0.min(compare.1), compare.0.max(compare.1))
                            } else {
                                (event.version, event.version)
                            };
                            let label = if range.0 == range.1 {
                                format!("✂ Test fixture of v{} (given the events before it)", range.0)
                            } else {
                                format!("✂ Test fixture of v{} to v{} (A to B)", range.0, range.1)
                            };
                            if ui.button(label).clicked() {
                                fixture_wanted = Some(range);
                                ui.close();
                            }
                        }
                    });
                    // A and B of the comparison, marked on their rows.
                    for (mark, at) in [("A", compare.0), ("B", compare.1)] {
                        if comparing && at == event.version {
                            ui.label(RichText::new(mark).strong().color(ui.visuals().selection.stroke.color));
                        }
                    }
                    // (Time and actor give way on a narrow timeline: the type stays. Where not
                    // even the date and minute fit, they go, rather than show "0…".)
                    let when = event.recorded_at.map(|t| t.format("%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                    let facts = format!("{when} {}", event.actor.as_deref().unwrap_or(""));
                    let facts = facts.trim();
                    if !facts.is_empty() && ui.available_width() >= least_facts_width {
                        ui.add(egui::Label::new(RichText::new(facts).weak()).truncate());
                    }
                    if !facts.is_empty() {
                        response.on_hover_text(facts);
                    }
                });
            }
        });
        if let Some((from, to)) = fixture_wanted {
            self.open_fixture(from, to);
        }
        if let Some((a, version)) = picked {
            self.diff.tab = DiffTab::Compare;
            if a {
                self.diff.compare_a = version;
            } else {
                self.diff.compare_b = version;
            }
        }
        if let Some(i) = clicked {
            self.playback.playing = false;
            self.loader.follow_newest = false;
            self.loader.pending_version = None;
            self.cursor = i;
        }
    }

    /// The indices of the events the timeline lists (all, or those the filter keeps).
    pub fn listed(&mut self) -> &[usize] {
        let len = self.len();
        // (The marked events count too: they are found over frames.)
        let len_key = len + self.timeline.marks.as_ref().map_or(0, |m| m.found.len() << 32);
        let stale =
            self.timeline.filtered.as_ref().is_none_or(|(filter, n, _)| *filter != self.filter || *n != len_key);
        if stale {
            let marked: Option<HashSet<usize>> = self
                .filter
                .marked_only
                .then(|| self.timeline.marks.as_ref().map(|m| m.found.iter().copied().collect()).unwrap_or_default());
            let keep: Vec<usize> = (0..len)
                .filter(|&i| {
                    summary_in(self.history.as_ref(), self.loader.tail.as_ref(), i)
                        .is_some_and(|e| self.filter.keeps(e))
                })
                .filter(|i| marked.as_ref().is_none_or(|m| m.contains(i)))
                .collect();
            self.timeline.filtered = Some((self.filter.clone(), len_key, keep));
        }
        self.timeline.filtered.as_ref().map_or(&[], |(_, _, keep)| keep.as_slice())
    }
}
