//! The What-if view: a retroactive rule tried before anyone runs it (see [`crate::whatif`]). A
//! what-if script (a bundled example or a file) runs over the store's streams in the background,
//! with progress and Cancel; nothing is written. The streams it would change are listed; for
//! one, the events it would append or skip, what would change in its state, and the state before
//! and after, folded with the history's fold where it applies. A second tab compares a SQL
//! projection's rows on the store as it is and as the script would leave it (`read_model`).

mod read_model;

use std::collections::HashSet;

use eframe::egui::{self, RichText, Ui};

use super::history::{FoldScope, FoldSetting};
use super::json_tree::JsonTree;
use super::scripts::{FileDialog, ScriptSource, WHATIF_EXAMPLES, WatchedScript};
use super::sql::SqlPanel;
use crate::diff::{Change, structural_diff};
use crate::whatif::Outcome;
use crate::worker::{Reply, Request, RequestId, ScriptFold, Worker};
pub use read_model::ReadModelCompare;

/// What the view shows of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhatIfTab {
    /// The streams the script would change, one at a time.
    #[default]
    Streams,
    /// A SQL projection's rows now and if the script ran.
    ReadModel,
}

/// What the view asks of the app.
pub enum WhatIfAction {
    /// Open a stream in its history (at its last version).
    OpenStream(String),
}

#[derive(Default)]
pub struct WhatIfPanel {
    script: Option<WatchedScript>,
    dialog: FileDialog,
    request: Option<RequestId>,
    /// Streams shown to the script so far.
    progress: Option<usize>,
    outcome: Option<(Outcome, Vec<Vec<Change>>)>,
    error: Option<String>,
    selected: usize,
    pub tab: WhatIfTab,
    pub read_model: ReadModelCompare,
}

impl WhatIfPanel {
    pub fn is_running(&self) -> bool {
        self.request.is_some() || self.read_model.is_running()
    }

    /// The last run's result.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref().map(|(o, _)| o)
    }

    /// Chooses the script (a bundled example's name, or a file).
    pub fn choose(&mut self, source: ScriptSource) {
        self.script = Some(WatchedScript::new(source));
        self.error = None;
    }

    pub fn cancel(&mut self, worker: &mut Worker) {
        if let Some(request) = self.request.take() {
            worker.send(Request::Cancel { id: request });
        }
        self.progress = None;
        self.read_model.cancel(worker);
    }

    /// Runs the chosen script, with `fold` for the states (the merge fold where it does not apply).
    pub fn run(&mut self, worker: &mut Worker, fold: Option<ScriptFold>) {
        let Some(script) = &self.script else {
            return;
        };
        let source = match script.text() {
            Ok(source) => source,
            Err(e) => {
                self.error = Some(format!("cannot read {}: {e}", script.name()));
                return;
            }
        };
        let name = script.name();
        self.cancel(worker);
        self.read_model.forget(worker);
        self.request = Some(worker.send(Request::WhatIf { name, source, fold }));
        self.progress = Some(0);
        self.error = None;
    }

    /// Takes a reply to the run; any other is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let reply = self.read_model.on_reply(id, reply)?;
        if self.request != Some(id) {
            return Some(reply);
        }
        match reply {
            Reply::WhatIfProgress { streams } => self.progress = Some(streams),
            Reply::WhatIf(outcome) => {
                self.request = None;
                self.progress = None;
                let changes = outcome.touched.iter().map(|t| structural_diff(&t.before, &t.after)).collect();
                self.selected = 0;
                self.outcome = Some((*outcome, changes));
            }
            Reply::Failed(failure) => {
                self.request = None;
                self.progress = None;
                if !matches!(failure, crate::worker::Failure::Cancelled(_)) {
                    self.error = Some(failure.to_string());
                }
            }
            _ => {}
        }
        None
    }

    /// `fold`: the history's fold, for the states (its file is read only when Run is clicked);
    /// `sql`: the SQL view, whose query, limits and permissions the read-model tab uses.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        worker: &mut Worker,
        fold: Option<&FoldSetting>,
        sql: &mut SqlPanel,
    ) -> Option<WhatIfAction> {
        if let Some(path) = self.dialog.poll() {
            self.choose(ScriptSource::File(path));
        }
        self.toolbar_ui(ui, worker, fold);
        self.dialog.fallback_ui(ui);
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.separator();
        let Some((outcome, changes)) = &self.outcome else {
            if self.request.is_none() {
                ui.add_space(24.0);
                ui.vertical_centered(|ui| {
                    ui.heading("What if…");
                    ui.label(
                        "Try a retroactive rule before anyone runs it: a script sees each stream's events and says \
                         which events it would append (or skip). Nothing is written: each stream it would change is \
                         folded as it is and as it would be.",
                    );
                    ui.weak("Pick an example above (the tax job extended by a week), or your own .js file.");
                });
            }
            return None;
        };
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!(
                "{}: {} of {} touched — {} would be appended, {} skipped",
                outcome.script,
                outcome.streams_touched,
                super::counted(outcome.streams_seen as i64, "stream", "streams"),
                super::counted(outcome.events_appended as i64, "event", "events"),
                outcome.events_skipped
            ));
        });
        if let Some((stream, error)) = outcome.failures.first() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "Failed on {} (first, {stream}: {error})",
                    super::counted(outcome.failed_streams as i64, "stream", "streams")
                ),
            );
        }
        if outcome.touched.is_empty() {
            ui.label("The script would change no stream.");
            return None;
        }
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, WhatIfTab::Streams, "Streams");
            ui.selectable_value(&mut self.tab, WhatIfTab::ReadModel, "Read model (SQL)")
                .on_hover_text("A SQL projection's rows now and if the script ran");
        });
        if self.tab == WhatIfTab::ReadModel {
            self.read_model.ui(ui, worker, outcome, sql);
            return None;
        }
        let mut action = None;
        egui::Panel::left("whatif_streams").resizable(true).default_size(300.0).min_size(180.0).show(ui, |ui| {
            egui::ScrollArea::vertical().id_salt("whatif_streams").show(ui, |ui| {
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                for (i, t) in outcome.touched.iter().enumerate() {
                    let name = t.label.as_deref().unwrap_or(&t.stream);
                    let text = format!("{name}  +{} −{}", t.appended.len(), t.skipped.len());
                    let row = ui.selectable_label(self.selected == i, RichText::new(text).monospace());
                    if row.on_hover_text(&t.stream).clicked() {
                        self.selected = i;
                    }
                }
            });
        });
        let t = outcome.touched.get(self.selected)?;
        let changed = &changes[self.selected];
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().id_salt("whatif_stream").show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    if let Some(label) = &t.label {
                        ui.heading(label);
                    }
                    ui.label(RichText::new(&t.stream).monospace().weak());
                    if ui.link("Open in the history").clicked() {
                        action = Some(WhatIfAction::OpenStream(t.stream.clone()));
                    }
                });
                if !t.skipped.is_empty() {
                    let versions: Vec<String> = t.skipped.iter().map(|v| format!("v{v}")).collect();
                    ui.label(format!("Would skip {}", versions.join(", ")));
                }
                for event in &t.appended {
                    ui.label(format!(
                        "Would append v{} {}",
                        event["version"],
                        event["type"].as_str().unwrap_or_default()
                    ));
                    ui.add(
                        egui::Label::new(
                            RichText::new(serde_json::to_string(&event["data"]).unwrap_or_default()).monospace().weak(),
                        )
                        .wrap(),
                    );
                }
                ui.add_space(6.0);
                ui.strong("What would change in the state");
                super::diff_view::changes_ui(ui, "whatif", changed);
                ui.add_space(6.0);
                let paths: HashSet<String> = changed.iter().map(|c| c.path.clone()).collect();
                ui.columns(2, |columns| {
                    columns[0].strong("State now");
                    JsonTree::new("whatif_before").show(&mut columns[0], &t.before);
                    columns[1].strong("State if the script ran");
                    JsonTree::new("whatif_after").changed(&paths).show(&mut columns[1], &t.after);
                });
            });
        });
        action
    }

    fn toolbar_ui(&mut self, ui: &mut Ui, worker: &mut Worker, fold: Option<&FoldSetting>) {
        ui.horizontal_wrapped(|ui| {
            let chosen = self.script.as_ref().map_or("choose a script".to_owned(), WatchedScript::name);
            egui::ComboBox::from_label("what-if script").width(200.0).selected_text(chosen).show_ui(ui, |ui| {
                for (name, source) in WHATIF_EXAMPLES {
                    if ui.selectable_label(false, *name).clicked() {
                        self.choose(ScriptSource::Example { name, source });
                    }
                }
            });
            if ui.button("Open a file…").clicked() {
                self.dialog.open(ui.ctx(), "Open a what-if script", "JavaScript", &["js"]);
            }
            if let Some(streams) = self.progress {
                ui.spinner();
                ui.label(format!("{} shown to the script…", super::counted(streams as i64, "stream", "streams")));
                if ui.button("Cancel").clicked() {
                    self.cancel(worker);
                }
                return;
            }
            let fold_name = fold.map_or("merge".to_owned(), |f| f.script.name());
            let run = ui.add_enabled(self.script.is_some(), egui::Button::new("▶ Run"));
            let tip = format!("Run it over the store (read-only); the states are folded with {fold_name}");
            if run.on_hover_text(tip).clicked() {
                match fold.map(script_fold).transpose() {
                    Ok(fold) => self.run(worker, fold),
                    Err(e) => self.error = Some(e),
                }
            }
        });
    }
}

/// The history's fold as the worker takes it, its file read now. A fold for "the category of the
/// first stream opened with it", before any was opened, is taken for every stream the script sees.
fn script_fold(setting: &FoldSetting) -> Result<ScriptFold, String> {
    let name = setting.script.name();
    let source = setting.script.text().map_err(|e| format!("the fold {name} cannot be read: {e}"))?;
    let scope = match &setting.scope {
        FoldScope::Category(c) if c.is_empty() => FoldScope::AllStreams,
        other => other.clone(),
    };
    Ok(ScriptFold { name, source, scope })
}
