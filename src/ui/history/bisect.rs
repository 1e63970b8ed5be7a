//! The bisect bar: "first version where [condition]" over the loaded stream (see
//! [`crate::bisect`]): the condition is asked of the checkpoint states by binary search, then of
//! one interval's states, a few milliseconds a frame; the cursor goes to the event found, where
//! the event, its diff and its cause are shown. A state field's menu fills it in ("when did this
//! first have this value"). "In every … stream" asks it of each stream of the category, in the
//! background, and lists where it holds, each a click away.

use super::*;
use crate::bisect::{Bisection, Condition, Search, Step};

#[derive(Default)]
pub(super) struct BisectBar {
    pub(super) open: bool,
    pub(super) text: String,
    /// The condition being searched for, and the search (it starts once the stream is folded).
    running: Option<(Condition, Option<Search>)>,
    /// What the last search found, in words (or why it could not).
    outcome: Option<Result<String, String>>,
    /// The search asks every state in turn (for a condition that may stop holding again).
    every_state: bool,
    /// The last search found nothing at the states it asked (it can be asked of every state).
    never: bool,
    /// The search over a category's streams (kept while they are opened one by one).
    category: Option<CategorySearch>,
    /// Asked for by a click, sent by [`HistoryPanel::pump`] (which has the worker).
    category_wanted: Option<String>,
    cancel_wanted: bool,
    /// A stream to open at a version (taken by the app).
    pub(super) open_request: Option<(String, i64)>,
}

/// A condition asked of every stream of a category, in the background.
struct CategorySearch {
    request: Option<RequestId>,
    category: String,
    condition: String,
    checked: usize,
    holding: Vec<Bisection>,
    /// How many streams there were, once all are checked; and those that could not be.
    total: Option<usize>,
    failures: usize,
    error: Option<String>,
}

impl BisectBar {
    /// What stays when another stream is opened: the condition and the category's results.
    pub(super) fn carried(&mut self) -> BisectBar {
        BisectBar {
            open: self.open,
            text: std::mem::take(&mut self.text),
            category: self.category.take(),
            ..BisectBar::default()
        }
    }
}

impl HistoryPanel {
    /// Starts searching for the first version where `text` holds.
    pub fn bisect(&mut self, text: &str) {
        self.bisect.every_state = false;
        self.start_bisect(text);
    }

    /// Starts asking `text` of every state in turn.
    pub fn bisect_every_state(&mut self, text: &str) {
        self.bisect.every_state = true;
        self.start_bisect(text);
    }

    fn start_bisect(&mut self, text: &str) {
        self.bisect.open = true;
        self.bisect.text = text.to_owned();
        self.bisect.outcome = None;
        self.bisect.never = false;
        self.bisect.running = None;
        match Condition::new(text) {
            Ok(condition) => self.bisect.running = Some((condition, None)),
            Err(e) => self.bisect.outcome = Some(Err(e.to_string())),
        }
    }

    /// Whether a bisection runs, and what the last one found.
    pub fn bisect_outcome(&self) -> (bool, Option<&Result<String, String>>) {
        (self.bisect.running.is_some(), self.bisect.outcome.as_ref())
    }

    /// Goes on with the search within the frame's budget; the cursor goes to what it finds.
    pub(super) fn advance_bisect(&mut self, ctx: &egui::Context) {
        let Some((condition, search)) = self.bisect.running.as_mut() else {
            return;
        };
        let Some(history) = self.history.as_mut() else {
            return;
        };
        // (The whole stream first: a search over part of it could answer wrongly. Where the fold
        // failed, the events before the failure are what can be asked.)
        if !self.loader.done || history.is_folding() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
            return;
        }
        let every_state = self.bisect.every_state;
        let search = search.get_or_insert_with(|| match every_state {
            true => Search::linear(history.folded()),
            false => Search::new(history.folded(), history.interval()),
        });
        let deadline = std::time::Instant::now() + FOLD_BUDGET;
        let found = loop {
            match search.step() {
                Step::Done(found) => break Some(found),
                Step::Ask(_) if std::time::Instant::now() >= deadline => break None,
                Step::Ask(count) => match history.state_after_within(count, FOLD_BUDGET) {
                    Ok(Some(state)) => {
                        let version = count.checked_sub(1).and_then(|i| history.summary(i)).map(|e| e.version);
                        match condition.holds(&state, version) {
                            Ok(holds) => search.answer(holds),
                            Err(e) => {
                                let at = version.map_or("the initial state".to_owned(), |v| format!("v{v}"));
                                self.bisect.outcome = Some(Err(format!("at {at}: {e}")));
                                self.bisect.running = None;
                                return;
                            }
                        }
                    }
                    Ok(None) => break None,
                    Err(failure) => {
                        self.bisect.outcome = Some(Err(failure.to_string()));
                        self.bisect.running = None;
                        return;
                    }
                },
            }
        };
        let Some(found) = found else {
            ctx.request_repaint();
            return;
        };
        let mut asked = format!("asked of {} of its {} states", search.evaluations, history.folded() + 1);
        if let Some(failure) = history.failure() {
            asked += &format!("; the fold failed at {failure}, so only the events before it were asked");
        }
        let (events, text) = (history.folded(), condition.text.clone());
        self.bisect.running = None;
        self.bisect.outcome = Some(Ok(match found {
            Some(0) => format!("`{text}` already holds of the initial state, before any event ({asked})"),
            Some(count) => {
                self.playback.playing = false;
                self.set_cursor(count - 1);
                format!("`{text}` first holds after {} ({asked})", self.label_of(count - 1))
            }
            None if every_state => format!("`{text}` never holds in the {events} events ({asked})"),
            None => {
                self.bisect.never = true;
                format!(
                    "`{text}` does not hold at the states asked ({asked}). Like git bisect, the search takes a \
                     condition to keep holding once it holds: one that holds for a while and stops can be missed."
                )
            }
        }));
    }

    /// Sends the category search asked for, or its cancel (called by [`HistoryPanel::pump`]).
    pub(super) fn pump_bisect(&mut self, worker: &mut Worker) {
        if std::mem::take(&mut self.bisect.cancel_wanted)
            && let Some(request) = self.bisect.category.as_mut().and_then(|c| c.request.take())
        {
            worker.send(Request::Cancel { id: request });
        }
        let Some(category) = self.bisect.category_wanted.take() else {
            return;
        };
        if let Some(request) = self.bisect.category.as_ref().and_then(|c| c.request) {
            worker.send(Request::Cancel { id: request });
        }
        let script = self.picker.fold.as_ref().and_then(|setting| {
            let source = setting.script.text().ok()?;
            Some(crate::worker::ScriptFold { name: setting.script.name(), source, scope: setting.scope.clone() })
        });
        let condition = self.bisect.text.clone();
        let request =
            worker.send(Request::BisectCategory { category: category.clone(), condition: condition.clone(), script });
        self.bisect.category = Some(CategorySearch {
            request: Some(request),
            category,
            condition,
            checked: 0,
            holding: Vec::new(),
            total: None,
            failures: 0,
            error: None,
        });
    }

    /// Takes a reply to the category search; any other is handed back.
    pub(super) fn bisect_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let Some(search) = self.bisect.category.as_mut().filter(|c| c.request == Some(id)) else {
            return Some(reply);
        };
        match reply {
            Reply::BisectProgress { checked, found } => {
                search.checked = checked;
                search.holding.extend(found.map(|f| *f));
            }
            Reply::CategoryBisection(found) => {
                search.request = None;
                search.total = Some(found.streams_checked);
                search.checked = found.streams_checked;
                search.failures = found.failures.len();
                search.holding = found.holding;
            }
            Reply::Failed(failure) => {
                search.request = None;
                if !matches!(failure, crate::worker::Failure::Cancelled(_)) {
                    search.error = Some(failure.to_string());
                }
            }
            _ => {}
        }
        None
    }

    /// A stream of the category search's list to open, at the version found.
    pub fn take_open_request(&mut self) -> Option<(String, i64)> {
        self.bisect.open_request.take()
    }

    /// The streams of the category search where the condition holds, so far.
    pub fn category_bisection(&self) -> Option<(usize, Option<usize>, &[Bisection])> {
        self.bisect.category.as_ref().map(|c| (c.checked, c.total, c.holding.as_slice()))
    }

    /// The bar under the state's heading.
    pub(super) fn bisect_ui(&mut self, ui: &mut Ui) {
        if !self.bisect.open {
            return;
        }
        let mut find = false;
        ui.label("First version where");
        ui.horizontal(|ui| {
            // (Room for Find, and while it runs the spinner and Cancel.)
            let reserved = if self.bisect.running.is_some() { 190.0 } else { 90.0 };
            let width = (ui.available_width() - reserved).max(100.0);
            let field = ui.add(
                egui::TextEdit::singleline(&mut self.bisect.text)
                    .hint_text("state.balance < 0")
                    .code_editor()
                    .desired_width(width),
            );
            find = field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            let hint = "A JavaScript expression over `state` (and `version`). Like git bisect, it is asked at \
                        checkpoints, then of one interval's states: it is taken to keep holding once it holds";
            find |= ui.button("🔎 Find").on_hover_text(hint).clicked();
            if self.bisect.running.is_some() {
                ui.spinner();
                if ui.button("Cancel").clicked() {
                    self.bisect.running = None;
                }
            }
        });
        if find && !self.bisect.text.trim().is_empty() {
            let text = self.bisect.text.clone();
            self.bisect(&text);
        }
        // (Left-aligned: the column's justified layout would spread a wrapped line's words.)
        ui.with_layout(egui::Layout::top_down(egui::Align::Min), |ui| match &self.bisect.outcome {
            Some(Ok(found)) => {
                ui.label(found);
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        });
        if self.bisect.never && self.bisect.running.is_none() && ui.button("Ask every state").clicked() {
            let text = self.bisect.text.clone();
            self.bisect_every_state(&text);
        }
        let category = self.category();
        if !category.is_empty() && !self.bisect.text.trim().is_empty() && self.bisect.running.is_none() {
            let button = ui.button(format!("🔎 In every {category} stream")).on_hover_text(
                "Ask the condition of each stream of this category (in the background), and list those where it holds",
            );
            if button.clicked() {
                self.bisect.category_wanted = Some(category);
            }
        }
        self.category_results_ui(ui);
    }

    fn category_results_ui(&mut self, ui: &mut Ui) {
        let Some(search) = &self.bisect.category else {
            return;
        };
        let mut open = None;
        ui.horizontal_wrapped(|ui| {
            let holding = search.holding.len();
            let streams = |n: usize| crate::ui::counted(n as i64, "stream", "streams");
            match search.total {
                Some(total) => ui.strong(format!(
                    "`{}` holds in {holding} of the {} {} {}",
                    search.condition,
                    total,
                    search.category,
                    if total == 1 { "stream" } else { "streams" }
                )),
                None => ui.label(format!(
                    "Checking {}: {} so far, holding in {holding}…",
                    search.category,
                    streams(search.checked)
                )),
            };
            if search.request.is_some() {
                ui.spinner();
                if ui.button("Cancel").clicked() {
                    self.bisect.cancel_wanted = true;
                }
            }
            if search.failures > 0 {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("({} could not be asked)", streams(search.failures)),
                );
            }
        });
        if let Some(error) = &search.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        egui::ScrollArea::vertical().id_salt("bisect_category").max_height(140.0).show(ui, |ui| {
            for found in &search.holding {
                let at = match (found.holds_initially, found.version) {
                    (true, _) => "from the start".to_owned(),
                    (false, Some(v)) => format!("v{v} {}", found.event_type.as_deref().unwrap_or("")),
                    (false, None) => "at an event without a version".to_owned(),
                };
                let current = self.stream.as_deref() == Some(found.stream.as_str());
                let row = ui.selectable_label(current, RichText::new(format!("{} · {at}", found.stream)).monospace());
                if row.clicked() {
                    open = Some((found.stream.clone(), found.version.unwrap_or(1)));
                }
            }
        });
        if open.is_some() {
            self.bisect.open_request = open;
        }
    }
}
