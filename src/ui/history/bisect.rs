//! The bisect bar: "first version where [condition]" over the loaded stream (see
//! [`crate::bisect`]): the condition is asked of the checkpoint states by binary search, then of
//! one interval's states, a few milliseconds a frame; the cursor goes to the event found, where
//! the event, its diff and its cause are shown. A state field's menu fills it in ("when did this
//! first have this value").

use super::*;
use crate::bisect::{Condition, Search, Step};

#[derive(Default)]
pub(super) struct BisectBar {
    pub(super) open: bool,
    pub(super) text: String,
    /// The condition being searched for, and the search (it starts once the stream is folded).
    running: Option<(Condition, Option<Search>)>,
    /// What the last search found, in words (or why it could not).
    outcome: Option<Result<String, String>>,
}

impl HistoryPanel {
    /// Starts searching for the first version where `text` holds.
    pub fn bisect(&mut self, text: &str) {
        self.bisect.open = true;
        self.bisect.text = text.to_owned();
        self.bisect.outcome = None;
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
        // (The whole stream first: a search over part of it could answer wrongly.)
        if !self.loader.done || history.is_folding() || history.folded() < history.len() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
            return;
        }
        let search = search.get_or_insert_with(|| Search::new(history.folded(), history.interval()));
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
        let asked = crate::ui::counted(search.evaluations as i64, "state checked", "states checked");
        let (events, text) = (history.folded(), condition.text.clone());
        self.bisect.running = None;
        self.bisect.outcome = Some(Ok(match found {
            Some(0) => format!("`{text}` already holds of the initial state, before any event ({asked})"),
            Some(count) => {
                self.playback.playing = false;
                self.set_cursor(count - 1);
                format!("`{text}` first holds after {} ({asked} of {events})", self.label_of(count - 1))
            }
            None => format!("`{text}` never holds in the {events} events ({asked})"),
        }));
    }

    /// The bar under the state's heading.
    pub(super) fn bisect_ui(&mut self, ui: &mut Ui) {
        if !self.bisect.open {
            return;
        }
        let mut find = false;
        ui.label("First version where");
        ui.horizontal(|ui| {
            let width = (ui.available_width() - 150.0).max(120.0);
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
        match &self.bisect.outcome {
            Some(Ok(found)) => {
                ui.label(found);
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
    }
}
