//! The state at the cursor: the folded state as a tree (with blame), the stored snapshot and its
//! drift, and the fold picker (the merge fold, a bundled example or a file, and where it applies).

use super::*;

/// The fold picker: the fold chosen for streams (a script and where it applies), and the file
/// dialog or typed path it is being chosen with.
#[derive(Default)]
pub(super) struct FoldPicker {
    /// The fold for streams, when one was chosen (stream mode).
    pub(super) fold: Option<FoldSetting>,
    pub(super) fold_dialog: FileDialog,
    pub(super) fold_path: String,
}

impl HistoryPanel {
    pub(super) fn state_ui(&mut self, ui: &mut Ui) -> Option<TreeAction> {
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
            if self.mode == Mode::Stream {
                ui.toggle_value(&mut self.bisect.open, "🔎 Bisect")
                    .on_hover_text("Find the first version where a condition on the state holds");
                let tip = "Cut a given/when/then test from this version (with Compare on, from A to B): \
                           the events before it, the events of the range and the state after them";
                if ui.button("✂ Fixture").on_hover_text(tip).clicked()
                    && let Some(version) = self.cursor_version()
                {
                    let (from, to) = if self.diff.tab == DiffTab::Compare {
                        (self.diff.compare_a, self.diff.compare_b)
                    } else {
                        (version, version)
                    };
                    self.open_fixture(from, to);
                }
            }
            if self.blame_pending {
                let done = self.history.as_ref().map_or(0.0, |h| h.blame_progress(self.cursor + 1));
                ui.add(egui::ProgressBar::new(done).desired_width(120.0).text("building blame"));
                ui.ctx().request_repaint();
            }
        });
        if self.mode == Mode::Stream {
            self.bisect_ui(ui);
            self.fold_picker_ui(ui);
        } else {
            let fold = self.history.as_ref().map_or("", |h| h.fold_name());
            ui.weak(format!("the state of {fold} after this event; highlighted fields changed here"));
        }
        // (The fold picker stays usable while a slow fold is on its way.)
        let Some(view) = self.current_view() else {
            let reading = self.history.as_ref().is_some_and(|h| h.wanted_page().is_some());
            if reading && self.loader.load_error.is_some() {
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
                    _ => match self.picker.fold.as_ref().map(|f| &f.script.source) {
                        _ if self.mode != Mode::Stream => "Fix the script: saving the file re-runs it.".to_owned(),
                        Some(ScriptSource::File(_)) => "Fix the script: saving the file re-runs it.".to_owned(),
                        _ => "Choose another fold, or fix the script in a file of your own.".to_owned(),
                    },
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
                if self.mode == Mode::Stream {
                    tree = tree.offer_marking();
                }
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
    pub(super) fn category(&self) -> String {
        self.history.as_ref().and_then(|h| h.category()).unwrap_or_default().to_owned()
    }

    /// Chooses a fold script (or the merge fold), keeping the scope kind chosen before.
    pub fn choose_fold(&mut self, script: Option<WatchedScript>) {
        let stream = self.stream.clone().unwrap_or_default();
        let scope = match self.picker.fold.as_ref().map(|f| &f.scope) {
            Some(FoldScope::Stream(_)) => FoldScope::Stream(stream),
            Some(FoldScope::AllStreams) => FoldScope::AllStreams,
            _ => FoldScope::Category(self.category()),
        };
        self.set_fold(script.map(|script| FoldSetting { script, scope }));
    }

    pub(super) fn fold_picker_ui(&mut self, ui: &mut Ui) {
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
                    self.picker.fold_dialog.open(ui.ctx(), "Choose a fold", "JavaScript", &["js", "mjs"]);
                }
            });
            let path = ui.add(
                egui::TextEdit::singleline(&mut self.picker.fold_path)
                    .hint_text("or a fold file path")
                    .desired_width(160.0),
            );
            if path.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) && !self.picker.fold_path.trim().is_empty()
            {
                choice = Some(Some(WatchedScript::new(ScriptSource::File(self.picker.fold_path.trim().into()))));
            }
        });
        if let Some(choice) = choice {
            self.choose_fold(choice);
        }
        match &self.picker.fold {
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
        if let Some(note) = &self.picker.fold_dialog.note {
            ui.weak(note);
        }
    }
}
