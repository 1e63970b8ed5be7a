//! The What-if view's read-model tab: a SQL projection (the SQL view's query, a bundled example
//! or a file) runs read-only on the store as it is and as the what-if would leave it, and the
//! rows are compared by a key column (see [`crate::whatif::read_model`]). The SQL view's limits,
//! role warning and permissions apply, as to any preview.

use eframe::egui::{self, RichText, Ui};
use serde_json::Value;

use crate::projection::sql::PreviewError;
use crate::ui::scripts::{FileDialog, ScriptSource, WatchedScript};
use crate::ui::sql::SqlPanel;
use crate::whatif::Outcome;
use crate::whatif::read_model::ReadModelChange;
use crate::worker::{Reply, Request, RequestId, Worker};

#[derive(Default)]
pub struct ReadModelCompare {
    /// The projection: `None` for the SQL view's query.
    source: Option<WatchedScript>,
    dialog: FileDialog,
    /// The column rows are matched by (empty: the first).
    key: String,
    request: Option<RequestId>,
    /// The last comparison, with the name of the projection it ran and the text (for positions).
    result: Option<(String, String, Result<ReadModelChange, PreviewError>)>,
}

impl ReadModelCompare {
    pub fn is_running(&self) -> bool {
        self.request.is_some()
    }

    /// The last comparison, when it ran.
    pub fn change(&self) -> Option<&ReadModelChange> {
        self.result.as_ref().and_then(|(_, _, r)| r.as_ref().ok())
    }

    /// Chooses the projection (`None`: the SQL view's query).
    pub fn choose(&mut self, source: Option<ScriptSource>) {
        self.source = source.map(WatchedScript::new);
    }

    pub fn cancel(&mut self, worker: &mut Worker) {
        if let Some(request) = self.request.take() {
            worker.send(Request::Cancel { id: request });
        }
    }

    /// A new what-if run makes the last comparison stale.
    pub fn forget(&mut self, worker: &mut Worker) {
        self.cancel(worker);
        self.result = None;
    }

    fn source_name(&self) -> String {
        self.source.as_ref().map_or("the SQL view's query".to_owned(), WatchedScript::name)
    }

    /// Runs the chosen projection both ways.
    pub fn run(&mut self, worker: &mut Worker, outcome: &Outcome, sql: &SqlPanel) {
        let name = self.source_name();
        let text = match &self.source {
            None => Ok(sql.text.clone()),
            Some(script) => script.text(),
        };
        let text = match text {
            Ok(text) => text,
            Err(e) => {
                let error = PreviewError::Refused(format!("cannot read {name}: {e}"));
                self.result = Some((name, String::new(), Err(error)));
                return;
            }
        };
        self.cancel(worker);
        let key = Some(self.key.trim().to_owned()).filter(|k| !k.is_empty());
        self.request = Some(worker.send(Request::WhatIfReadModel {
            outcome: Box::new(outcome.clone()),
            text: text.clone(),
            key,
            limits: sql.limits,
            permissions: sql.safety.permissions.clone(),
        }));
        self.result = Some((name, text, Err(PreviewError::Cancelled)));
    }

    /// Takes the reply to the comparison; any other is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if self.request != Some(id) {
            return Some(reply);
        }
        match reply {
            Reply::WhatIfReadModel(change) => {
                self.request = None;
                if let Some((_, _, result)) = &mut self.result {
                    *result = *change;
                }
            }
            Reply::Failed(failure) => {
                self.request = None;
                if let Some((_, _, result)) = &mut self.result {
                    *result = Err(PreviewError::Refused(failure.to_string()));
                }
            }
            _ => {}
        }
        None
    }

    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker, outcome: &Outcome, sql: &mut SqlPanel) {
        if let Some(path) = self.dialog.poll() {
            self.choose(Some(ScriptSource::File(path)));
        }
        ui.label(
            "Run a SQL projection on the store as it is and as the script would leave it, and compare the rows. \
             The events table is shadowed inside the read-only query: nothing is written.",
        );
        let mut run = false;
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::from_label("projection").width(220.0).selected_text(self.source_name()).show_ui(ui, |ui| {
                if ui.selectable_label(self.source.is_none(), "the SQL view's query").clicked() {
                    self.choose(None);
                }
                let chosen = self.source.as_ref().map(WatchedScript::name);
                for (name, source) in crate::ui::sql::examples(sql.dialect()) {
                    if ui.selectable_label(chosen.as_deref() == Some(*name), *name).clicked() {
                        self.choose(Some(ScriptSource::Example { name, source }));
                    }
                }
            });
            if ui.button("Open a file…").clicked() {
                self.dialog.open(ui.ctx(), "Open a SQL projection", "SQL", &["sql"]);
            }
            ui.label("match rows by");
            ui.add(egui::TextEdit::singleline(&mut self.key).hint_text("first column").desired_width(110.0));
            if self.request.is_some() {
                ui.spinner();
                ui.label("running it twice…");
                if ui.button("Cancel").clicked() {
                    self.cancel(worker);
                    self.result = None;
                }
            } else {
                run = ui.button("▶ Compare read model").clicked();
            }
        });
        self.dialog.fallback_ui(ui);
        sql.safety.ui(ui);
        if run {
            self.run(worker, outcome, sql);
        }
        ui.separator();
        let Some((name, text, result)) = &self.result else {
            ui.weak("Choose a projection (order_totals shows the tax job's effect on each order) and compare.");
            return;
        };
        if self.request.is_some() {
            return;
        }
        let error = match result {
            Ok(change) => return change_ui(ui, name, change),
            Err(error) => error,
        };
        let mut message = format!("{name}: {error}");
        if let PreviewError::Database { position: Some(p), .. } = error {
            let (line, column) = crate::projection::sql::line_column(text, *p);
            message = format!("{name}, line {line}, column {column}: {error}");
        }
        ui.colored_label(ui.visuals().error_fg_color, message);
        if sql.safety.offer_ui(error, ui) {
            self.run(worker, outcome, sql);
        }
    }
}

/// The comparison: counts, warnings, then each changed row's differing columns and the rows
/// that would appear or go.
fn change_ui(ui: &mut Ui, name: &str, change: &ReadModelChange) {
    let c = &change.comparison;
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!(
            "{name}, rows matched by {}: {} would change, {} appear, {} go; {} unchanged",
            c.key,
            super::super::counted(c.changed.len() as i64, "row", "rows"),
            c.added.len(),
            c.removed.len(),
            c.unchanged
        ));
        if ui.button("📋 Copy as JSON").on_hover_text("The whole comparison, as `whatif --sql` prints it").clicked()
            && let Ok(json) = serde_json::to_string_pretty(change)
        {
            ui.ctx().copy_text(json);
        }
    });
    for warning in &change.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {warning}"));
    }
    if c.incomplete {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "⚠ a run hit the row cap (the SQL view's limit): rows beyond it were not compared",
        );
    }
    if c.changed.is_empty() && c.added.is_empty() && c.removed.is_empty() {
        ui.label("The script would not change this read model.");
        return;
    }
    egui::ScrollArea::vertical().id_salt("whatif_read_model").show(ui, |ui| {
        if !c.changed.is_empty() {
            egui::Grid::new("whatif_read_model_changed").striped(true).num_columns(4).show(ui, |ui| {
                ui.strong(&c.key);
                ui.strong("column");
                ui.strong("now");
                ui.strong("if the script ran");
                ui.end_row();
                for (key, now, if_run) in &c.changed {
                    for column in &change.columns {
                        let (before, after) = (now.get(column), if_run.get(column));
                        if before == after {
                            continue;
                        }
                        ui.label(RichText::new(key).monospace());
                        ui.label(column);
                        ui.label(RichText::new(cell_text(before)).monospace());
                        ui.label(RichText::new(cell_text(after)).monospace().strong());
                        ui.end_row();
                    }
                }
            });
        }
        for (sign, rows) in [("+ would appear", &c.added), ("− would go", &c.removed)] {
            for row in rows {
                ui.label(format!("{sign}: {}", cell_text(row.get(&c.key))));
                ui.add(egui::Label::new(RichText::new(row.to_string()).monospace().weak()).wrap());
            }
        }
    });
}

fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "NULL".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}
