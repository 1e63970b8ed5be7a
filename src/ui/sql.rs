//! The SQL preview view: a SQL editor with syntax colouring, the examples one click away, open
//! and save `.sql` files; Run previews the definition read-only (time-out and row cap shown and
//! adjustable, with a cancel button); the result as a virtualised, sortable table (a clicked
//! row's values open as JSON), as a line or bar chart, and compared with the deployed relation;
//! export as CSV or JSON.

use std::sync::Arc;
use std::time::Duration;

use eframe::egui::{self, Color32, RichText, Ui, text::LayoutJob};
use egui_extras::{Column, TableBuilder};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoint, PlotPoints};

use super::diff_view::line_diff_ui;
use super::json_tree::{JsonTree, added_color, changed_color, removed_color};
use super::scripts::{FileDialog, SQL_EXAMPLES_POSTGRES, SQL_EXAMPLES_SQLITE};
use super::sql_safety::PreviewSafety;
use crate::projection::sql::{
    Comparison, PreviewError, PreviewLimits, ResultSet, TokenKind, compare, line_column, tokens,
};
use crate::store::cell::Cell;
use crate::store::pg_guard::RolePrivileges;
use crate::store::query::Dialect;
use crate::worker::{PreviewReply, Reply, Request, RequestId, Worker};

/// Which result view is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultTab {
    Table,
    Plot,
    Compare,
}

/// What a file dialog was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialogPurpose {
    OpenSql,
    SaveSql,
    ExportCsv,
    ExportJson,
}

pub struct SqlPanel {
    pub text: String,
    dialect: Dialect,
    pub limits: PreviewLimits,
    /// The role's powers and what the user allows, sent with every preview.
    pub safety: PreviewSafety,
    request: Option<RequestId>,
    /// The last run's outcome, shared so that a frame borrows it rather than copying its rows.
    outcome: Option<Arc<PreviewReply>>,
    /// The text that was run (error positions refer to it).
    ran_text: String,
    /// Sorting: the column and whether ascending; `order` maps view rows to result rows.
    sort: Option<(usize, bool)>,
    order: Vec<usize>,
    selected_row: Option<usize>,
    /// The selected row as JSON (JSON texts expanded), with the row it is of.
    selected_json: Option<(usize, serde_json::Value)>,
    pub tab: ResultTab,
    plot_x: usize,
    plot_y: Vec<bool>,
    /// Per column of the result: whether every value is a number (worked out once per run).
    numeric: Vec<bool>,
    /// The x axis labels for a column (`plot_x`), kept until another column goes across.
    x_labels: Option<(usize, Arc<Vec<String>>)>,
    /// The plotted series (name, points), for the axes they were built for: rebuilt when the
    /// axes or the result change, not per frame.
    plot_series: Option<(PlotAxes, Vec<PlotSeries>)>,
    bars: bool,
    compare_key: Option<String>,
    comparison: Option<Result<Comparison, String>>,
    /// The row of the comparison shown in full, and its line diff when it changed.
    compare_selected: Option<(CompareEntry, Vec<crate::diff::Hunk>)>,
    dialog: FileDialog,
    dialog_purpose: Option<DialogPurpose>,
    /// An export being written: its note arrives when the file is.
    export: Option<std::sync::mpsc::Receiver<String>>,
    path: String,
    note: Option<String>,
}

impl SqlPanel {
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn new(dialect: Dialect, role: Option<RolePrivileges>) -> SqlPanel {
        let examples = examples(dialect);
        SqlPanel {
            text: examples.first().map(|(_, s)| (*s).to_owned()).unwrap_or_default(),
            dialect,
            limits: PreviewLimits::default(),
            safety: PreviewSafety::new(role),
            request: None,
            outcome: None,
            ran_text: String::new(),
            sort: None,
            order: Vec::new(),
            selected_row: None,
            selected_json: None,
            tab: ResultTab::Table,
            plot_x: 0,
            numeric: Vec::new(),
            x_labels: None,
            plot_series: None,
            compare_selected: None,
            plot_y: Vec::new(),
            bars: false,
            compare_key: None,
            comparison: None,
            dialog: FileDialog::default(),
            dialog_purpose: None,
            export: None,
            path: String::new(),
            note: None,
        }
    }

    pub fn is_running(&self) -> bool {
        self.request.is_some()
    }

    /// The rows of the last run.
    pub fn result(&self) -> Option<&Result<ResultSet, PreviewError>> {
        self.outcome.as_ref().map(|o| &o.result)
    }

    pub fn comparison(&self) -> Option<&Result<Comparison, String>> {
        self.comparison.as_ref()
    }

    /// The plotted columns: x and the y columns chosen.
    pub fn plot_columns(&self) -> (usize, Vec<usize>) {
        (self.plot_x, self.plot_y.iter().enumerate().filter(|(_, on)| **on).map(|(i, _)| i).collect())
    }

    /// Runs the text in the editor.
    pub fn run(&mut self, worker: &mut Worker) {
        self.cancel(worker);
        self.ran_text = self.text.clone();
        self.request = Some(worker.send(Request::Preview {
            text: self.text.clone(),
            limits: self.limits,
            permissions: self.safety.permissions.clone(),
        }));
    }

    pub fn cancel(&mut self, worker: &mut Worker) {
        if let Some(id) = self.request.take() {
            worker.send(Request::Cancel { id });
            self.note = Some("cancelled".to_owned());
        }
    }

    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if Some(id) != self.request {
            return Some(reply);
        }
        self.request = None;
        self.note = None;
        match reply {
            Reply::Preview(outcome) => self.take_outcome(*outcome),
            Reply::Failed(message) => self.take_outcome(PreviewReply {
                definition: None,
                result: Err(PreviewError::Database { message: message.to_string(), position: None }),
                deployed: None,
            }),
            _ => {}
        }
        None
    }

    fn take_outcome(&mut self, outcome: PreviewReply) {
        self.sort = None;
        self.selected_row = None;
        self.selected_json = None;
        self.order = match &outcome.result {
            Ok(rs) => (0..rs.rows.len()).collect(),
            Err(_) => Vec::new(),
        };
        if let Ok(rs) = &outcome.result {
            // Plot: the first column across, the numeric ones up.
            self.plot_x = 0;
            self.numeric = (0..rs.columns.len()).map(|i| rs.is_numeric(i)).collect();
            self.plot_y = self.numeric.iter().enumerate().map(|(i, numeric)| i > 0 && *numeric).collect();
            self.x_labels = None;
            self.plot_series = None;
            if self.compare_key.as_ref().is_none_or(|k| rs.column_index(k).is_none()) {
                self.compare_key = rs.columns.first().map(|c| c.name.clone());
            }
        }
        self.outcome = Some(Arc::new(outcome));
        self.recompare();
    }

    /// Compares the result with the deployed relation by the chosen key.
    pub fn set_compare_key(&mut self, key: &str) {
        self.compare_key = Some(key.to_owned());
        self.recompare();
    }

    fn recompare(&mut self) {
        self.comparison = match (self.outcome.as_deref(), &self.compare_key) {
            (Some(PreviewReply { result: Ok(rows), deployed: Some(Ok(deployed)), .. }), Some(key)) => {
                Some(compare(deployed, rows, key))
            }
            (Some(PreviewReply { deployed: Some(Err(e)), .. }), _) => {
                Some(Err(format!("reading the deployed relation failed: {e}")))
            }
            _ => None,
        };
        self.compare_selected = None;
    }

    fn sort_by(&mut self, column: usize) {
        let ascending = !matches!(self.sort, Some((c, true)) if c == column);
        self.sort = Some((column, ascending));
        let Some(PreviewReply { result: Ok(rs), .. }) = self.outcome.as_deref() else {
            return;
        };
        // Each cell's sort key, worked out once per sort (not per comparison): numbers (in
        // number order) before texts (in text order), NULL last — a total order even where a
        // SQLite column mixes numbers and texts.
        let keys: Vec<SortCell> = rs
            .rows
            .iter()
            .map(|row| match &row[column] {
                Cell::Null => SortCell::Null,
                cell => match cell.as_f64() {
                    Some(number) => SortCell::Number(number),
                    None => SortCell::Text(cell.to_display()),
                },
            })
            .collect();
        self.order.sort_by(|&a, &b| {
            let ordering = keys[a].cmp(&keys[b]);
            if ascending { ordering } else { ordering.reverse() }
        });
    }

    fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some(path) = self.dialog.poll() else {
            return;
        };
        let written = match self.dialog_purpose.take() {
            Some(DialogPurpose::OpenSql) => match crate::model::read_user_file(&path) {
                Ok(text) => {
                    self.text = text;
                    self.path = path.display().to_string();
                    return;
                }
                Err(e) => {
                    self.note = Some(e);
                    return;
                }
            },
            Some(DialogPurpose::SaveSql) => std::fs::write(&path, &self.text),
            Some(purpose @ (DialogPurpose::ExportCsv | DialogPurpose::ExportJson)) => {
                // Up to a million rows: written on a thread of its own, not in a frame.
                let Some(outcome) = self.outcome.clone() else { return };
                let (done, finished) = std::sync::mpsc::channel();
                let ctx = ctx.clone();
                self.note = Some(format!("writing {}…", path.display()));
                std::thread::spawn(move || {
                    let Ok(rs) = &outcome.result else { return };
                    let text = match purpose {
                        DialogPurpose::ExportCsv => rs.to_csv(),
                        _ => crate::diff::pretty(&rs.to_json()),
                    };
                    let _ = done.send(written_note(std::fs::write(&path, text), &path));
                    ctx.request_repaint();
                });
                self.export = Some(finished);
                return;
            }
            None => return,
        };
        self.note = Some(written_note(written, &path));
    }

    fn poll_export(&mut self) {
        use std::sync::mpsc::TryRecvError;
        let Some(finished) = &self.export else {
            return;
        };
        match finished.try_recv() {
            Ok(note) => self.note = Some(note),
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => {
                self.note =
                    Some("the export stopped before writing the file: run the query and export again".to_owned())
            }
        }
        self.export = None;
    }

    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker) {
        self.poll_dialog(ui.ctx());
        self.poll_export();
        egui::Panel::top("sql_editor").resizable(true).default_size(300.0).show(ui, |ui| self.editor_ui(ui, worker));
        egui::CentralPanel::default().show(ui, |ui| self.results_ui(ui));
    }

    fn editor_ui(&mut self, ui: &mut Ui, worker: &mut Worker) {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.strong("SQL projection");
            let mut chosen = None;
            egui::ComboBox::from_label("example").selected_text("examples…").show_ui(ui, |ui| {
                for (name, source) in examples(self.dialect) {
                    if ui.selectable_label(false, *name).clicked() {
                        chosen = Some(*source);
                    }
                }
            });
            if let Some(source) = chosen {
                self.text = source.to_owned();
                self.run(worker);
            }
            if ui.button("Open .sql…").clicked() {
                self.dialog_purpose = Some(DialogPurpose::OpenSql);
                self.dialog.open(ui.ctx(), "Open a SQL projection", "SQL", &["sql"]);
            }
            if ui.button("Save .sql…").clicked() {
                self.dialog_purpose = Some(DialogPurpose::SaveSql);
                self.dialog.save(ui.ctx(), "Save the SQL projection", "SQL", &["sql"], "projection.sql");
            }
            let path = ui
                .add(egui::TextEdit::singleline(&mut self.path).hint_text("or a .sql file path").desired_width(180.0));
            if path.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                match crate::model::read_user_file(std::path::Path::new(self.path.trim())) {
                    Ok(text) => self.text = text,
                    Err(e) => self.note = Some(e),
                }
            }
        });
        ui.horizontal(|ui| {
            let mut timeout_ms = self.limits.timeout.as_millis() as u64;
            ui.add(
                egui::DragValue::new(&mut timeout_ms).range(10..=600_000).speed(100).prefix("time-out ").suffix(" ms"),
            );
            self.limits.timeout = Duration::from_millis(timeout_ms);
            ui.add(egui::DragValue::new(&mut self.limits.max_rows).range(1..=1_000_000).speed(100).prefix("row cap "));
            ui.separator();
            let run_keys = ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter));
            if self.is_running() {
                ui.spinner();
                if ui.button("Cancel").clicked() {
                    self.cancel(worker);
                }
            } else if ui.button("▶ Run").on_hover_text("Preview read-only (Ctrl+Enter)").clicked() || run_keys {
                self.run(worker);
            }
            ui.weak(match self.dialect {
                Dialect::Sqlite => "read-only: SQLite checks it is one query that only reads; nothing is created",
                Dialect::Postgres => {
                    "read-only: PostgreSQL's parser and catalog check it, then it runs in a transaction that is \
                     rolled back; nothing is created"
                }
            });
        });
        self.safety.ui(ui);
        if let Some(note) = &self.note {
            ui.weak(note);
        }
        self.dialog.fallback_ui(ui);
        if let Some(PreviewReply { result: Err(error), .. }) = self.outcome.as_deref() {
            let located = match error {
                PreviewError::Database { position: Some(p), .. } => {
                    let (line, column) = line_column(&self.ran_text, *p);
                    format!("line {line}, column {column}: ")
                }
                _ => String::new(),
            };
            ui.colored_label(ui.visuals().error_fg_color, format!("{located}{error}"));
            let error = error.clone();
            if self.safety.offer_ui(&error, ui) {
                self.text = self.ran_text.clone();
                self.run(worker);
            }
        }
        let dark = ui.visuals().dark_mode;
        let mut layouter = |ui: &Ui, text: &dyn egui::TextBuffer, wrap_width: f32| {
            // Highlighted once per change of the text (egui's frame cache), not every frame.
            let mut job =
                ui.ctx().memory_mut(|m| m.caches.cache::<HighlightCache>().get((text.as_str(), dark)).clone());
            job.wrap.max_width = wrap_width;
            ui.fonts_mut(|f| f.layout_job(job))
        };
        egui::ScrollArea::vertical().id_salt("sql_editor_scroll").show(ui, |ui| {
            ui.add(
                egui::TextEdit::multiline(&mut self.text)
                    .code_editor()
                    .hint_text("SELECT … or CREATE VIEW name AS SELECT …")
                    .desired_rows(10)
                    .desired_width(f32::INFINITY)
                    .layouter(&mut layouter),
            );
        });
    }

    fn results_ui(&mut self, ui: &mut Ui) {
        let Some(outcome) = &self.outcome else {
            ui.weak("Run the query to preview its rows. Examples for this store's dialect are in the menu above.");
            return;
        };
        let Ok(rs) = &outcome.result else {
            return;
        };
        let relation = outcome.definition.as_ref().and_then(|d| d.relation.clone());
        let deployed = outcome.deployed.is_some();
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!(
                    "{} rows{}",
                    rs.rows.len(),
                    if rs.truncated { " (row cap reached: more exist)" } else { "" }
                ))
                .strong(),
            );
            ui.weak(format!("in {:.1} ms", rs.elapsed.as_secs_f64() * 1e3));
            ui.separator();
            ui.selectable_value(&mut self.tab, ResultTab::Table, "Table");
            ui.selectable_value(&mut self.tab, ResultTab::Plot, "Plot");
            let compare_label = match (&relation, deployed) {
                (Some(r), true) => format!("Compare with deployed {r}"),
                (Some(r), false) => format!("{r} is not deployed"),
                (None, _) => "Compare (needs CREATE VIEW name AS …)".to_owned(),
            };
            ui.add_enabled_ui(deployed, |ui| {
                ui.selectable_value(&mut self.tab, ResultTab::Compare, compare_label);
            });
            ui.separator();
            if ui.button("Export CSV…").clicked() {
                self.dialog_purpose = Some(DialogPurpose::ExportCsv);
                self.dialog.save(ui.ctx(), "Export the rows as CSV", "CSV", &["csv"], "preview.csv");
            }
            if ui.button("Export JSON…").clicked() {
                self.dialog_purpose = Some(DialogPurpose::ExportJson);
                self.dialog.save(ui.ctx(), "Export the rows as JSON", "JSON", &["json"], "preview.json");
            }
            if ui.button("Copy CSV").clicked() {
                ui.ctx().copy_text(rs.to_csv());
            }
        });
        ui.separator();
        match self.tab {
            ResultTab::Table => self.table_ui(ui),
            ResultTab::Plot => self.plot_ui(ui),
            ResultTab::Compare => self.compare_ui(ui),
        }
    }

    fn table_ui(&mut self, ui: &mut Ui) {
        let outcome = self.outcome.clone();
        let Some(PreviewReply { result: Ok(rs), .. }) = outcome.as_deref() else {
            return;
        };
        if let Some(index) = self.selected_row
            && let Some(row) = rs.rows.get(index)
        {
            // The row as JSON, worked out once per selection.
            if self.selected_json.as_ref().is_none_or(|(at, _)| *at != index) {
                self.selected_json = Some((index, expand_json_text(rs.row_json(row))));
            }
            let mut close = false;
            if let Some((_, expanded)) = &self.selected_json {
                egui::Panel::right("sql_row").resizable(true).default_size(320.0).show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.strong(format!("Row {}", index + 1));
                        if ui.small_button("Copy row").clicked() {
                            ui.ctx().copy_text(crate::diff::pretty(expanded));
                        }
                        close = ui.small_button("Close").clicked();
                    });
                    egui::ScrollArea::both().id_salt("sql_row_scroll").show(ui, |ui| {
                        JsonTree::new("sql_row_tree").show(ui, expanded);
                    });
                });
            }
            if close {
                self.selected_row = None;
            }
        }
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        let mut clicked_header = None;
        let mut clicked_row = None;
        ui.scope(|ui| {
            ui.style_mut().interaction.selectable_labels = false;
            let mut table = TableBuilder::new(ui)
                .id_salt("sql_results")
                .striped(true)
                .resizable(true)
                .sense(egui::Sense::click())
                .cell_layout(egui::Layout::left_to_right(egui::Align::Center));
            for _ in &rs.columns {
                table = table.column(Column::initial(140.0).at_least(40.0).clip(true));
            }
            table
                .header(row_height * 1.8, |mut header| {
                    for (i, column) in rs.columns.iter().enumerate() {
                        header.col(|ui| {
                            let arrow = match self.sort {
                                Some((c, true)) if c == i => " ⏶",
                                Some((c, false)) if c == i => " ⏷",
                                _ => "",
                            };
                            ui.vertical(|ui| {
                                if ui
                                    .add(
                                        egui::Button::new(RichText::new(format!("{}{arrow}", column.name)).strong())
                                            .frame(false),
                                    )
                                    .clicked()
                                {
                                    clicked_header = Some(i);
                                }
                                ui.weak(RichText::new(column.type_name.to_lowercase()).small());
                            });
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_height, self.order.len(), |mut row| {
                        let index = self.order[row.index()];
                        row.set_selected(self.selected_row == Some(index));
                        for cell in &rs.rows[index] {
                            row.col(|ui| {
                                ui.add(egui::Label::new(cell_text(ui, cell)).truncate());
                            });
                        }
                        if row.response().clicked() {
                            clicked_row = Some(index);
                        }
                    });
                });
        });
        if let Some(column) = clicked_header {
            self.sort_by(column);
        }
        if let Some(row) = clicked_row {
            self.selected_row = if self.selected_row == Some(row) { None } else { Some(row) };
        }
    }

    fn plot_ui(&mut self, ui: &mut Ui) {
        let Some(PreviewReply { result: Ok(rs), .. }) = self.outcome.as_deref() else {
            return;
        };
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("across (x)")
                .selected_text(rs.columns.get(self.plot_x).map_or("", |c| c.name.as_str()))
                .show_ui(ui, |ui| {
                    for (i, column) in rs.columns.iter().enumerate() {
                        ui.selectable_value(&mut self.plot_x, i, &column.name);
                    }
                });
            ui.separator();
            ui.label("up (y):");
            for (i, column) in rs.columns.iter().enumerate() {
                if self.numeric.get(i).copied().unwrap_or(false)
                    && let Some(on) = self.plot_y.get_mut(i)
                {
                    ui.checkbox(on, &column.name);
                }
            }
            ui.separator();
            ui.radio_value(&mut self.bars, false, "line");
            ui.radio_value(&mut self.bars, true, "bars");
        });
        let numeric_x = self.numeric.get(self.plot_x).copied().unwrap_or(false);
        if self.x_labels.as_ref().is_none_or(|(column, _)| *column != self.plot_x) {
            let labels = rs.rows.iter().map(|r| r.get(self.plot_x).map(Cell::to_display).unwrap_or_default());
            self.x_labels = Some((self.plot_x, Arc::new(labels.collect())));
        }
        let labels = self.x_labels.as_ref().map(|(_, labels)| labels.clone()).unwrap_or_default();
        let x_of = |i: usize, row: &[Cell]| {
            if numeric_x { row.get(self.plot_x).and_then(Cell::as_f64).unwrap_or(i as f64) } else { i as f64 }
        };
        let axes = PlotAxes { x: self.plot_x, y: self.plot_y.clone() };
        if self.plot_series.as_ref().is_none_or(|(built_for, _)| *built_for != axes) {
            let series = axes
                .y
                .iter()
                .enumerate()
                .filter(|(_, on)| **on)
                .map(|(c, _)| {
                    let points = rs
                        .rows
                        .iter()
                        .enumerate()
                        .filter_map(|(i, row)| Some(PlotPoint::new(x_of(i, row), row.get(c)?.as_f64()?)))
                        .collect();
                    (rs.columns[c].name.clone(), points)
                })
                .collect();
            self.plot_series = Some((axes, series));
        }
        let series: &[PlotSeries] = self.plot_series.as_ref().map_or(&[], |(_, series)| series);
        if series.is_empty() {
            ui.weak(if self.numeric.iter().any(|n| *n) {
                "Choose one or more numeric columns to plot."
            } else {
                "No numeric column to plot: these rows hold no column of numbers."
            });
            return;
        }
        let bars = self.bars;
        let count = series.len() as f64;
        let mut plot = Plot::new("sql_plot").legend(Legend::default());
        if !numeric_x {
            plot = plot.x_axis_formatter(move |mark, _| {
                if mark.value.fract() == 0.0 {
                    labels.get(mark.value as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            });
        }
        plot.show(ui, |plot_ui| {
            for (k, (name, points)) in series.iter().enumerate() {
                if bars {
                    let width = 0.8 / count;
                    let offset = (k as f64 - (count - 1.0) / 2.0) * width;
                    let bars = points.iter().map(|p| Bar::new(p.x + offset, p.y).width(width)).collect();
                    plot_ui.bar_chart(BarChart::new(name.as_str(), bars));
                } else {
                    plot_ui.line(Line::new(name.as_str(), PlotPoints::Borrowed(points)));
                }
            }
        });
    }

    fn compare_ui(&mut self, ui: &mut Ui) {
        let Some(PreviewReply { result: Ok(rs), .. }) = self.outcome.as_deref() else {
            return;
        };
        let columns: Vec<String> = rs.columns.iter().map(|c| c.name.clone()).collect();
        let mut key = self.compare_key.clone().unwrap_or_default();
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("rows are matched by").selected_text(&key).show_ui(ui, |ui| {
                for column in &columns {
                    ui.selectable_value(&mut key, column.clone(), column);
                }
            });
        });
        if Some(&key) != self.compare_key.as_ref() {
            self.set_compare_key(&key);
        }
        match &self.comparison {
            None => {
                ui.weak("Nothing to compare with.");
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            Some(Ok(c)) => {
                ui.horizontal(|ui| {
                    ui.colored_label(added_color(ui), format!("{} added", c.added.len()));
                    ui.colored_label(removed_color(ui), format!("{} removed", c.removed.len()));
                    ui.colored_label(changed_color(ui), format!("{} changed", c.changed.len()));
                    ui.weak(format!("{} unchanged", c.unchanged));
                    if c.incomplete {
                        ui.colored_label(
                            ui.visuals().warn_fg_color,
                            "a side reached the row cap: rows beyond it were not compared",
                        );
                    }
                });
                ui.separator();
                let entries = c.added.len() + c.removed.len() + c.changed.len();
                if entries == 0 {
                    ui.weak("The query gives the deployed rows exactly.");
                    return;
                }
                let entry_at = |i: usize| {
                    if i < c.added.len() {
                        CompareEntry::Added(i)
                    } else if i < c.added.len() + c.removed.len() {
                        CompareEntry::Removed(i - c.added.len())
                    } else {
                        CompareEntry::Changed(i - c.added.len() - c.removed.len())
                    }
                };
                let mut selected = self.compare_selected.as_ref().map_or(entry_at(0), |(entry, _)| *entry);
                ui.columns(2, |columns| {
                    // One line per row that differs (only those in view are drawn).
                    let row_height = columns[0].text_style_height(&egui::TextStyle::Monospace) + 4.0;
                    egui::ScrollArea::vertical().id_salt("sql_compare").auto_shrink([false, false]).show_rows(
                        &mut columns[0],
                        row_height,
                        entries,
                        |ui, range| {
                            for i in range {
                                let entry = entry_at(i);
                                let (label, color) = match entry {
                                    CompareEntry::Added(k) => (format!("+ {}", c.added[k][&c.key]), added_color(ui)),
                                    CompareEntry::Removed(k) => {
                                        (format!("− {}", c.removed[k][&c.key]), removed_color(ui))
                                    }
                                    CompareEntry::Changed(k) => (format!("~ {}", c.changed[k].0), changed_color(ui)),
                                };
                                let text = RichText::new(label).color(color).monospace();
                                if ui.selectable_label(entry == selected, text).clicked() {
                                    selected = entry;
                                }
                            }
                        },
                    );
                    let details = &mut columns[1];
                    egui::ScrollArea::both().id_salt("sql_compare_row").auto_shrink([false, false]).show(
                        details,
                        |ui| match selected {
                            CompareEntry::Added(k) => {
                                JsonTree::new("added_row").show(ui, &c.added[k]);
                            }
                            CompareEntry::Removed(k) => {
                                JsonTree::new("removed_row").show(ui, &c.removed[k]);
                            }
                            CompareEntry::Changed(k) => {
                                // Worked out for the row on show, not for every changed row.
                                if self.compare_selected.as_ref().is_none_or(|(entry, _)| *entry != selected) {
                                    let (_, old, new) = &c.changed[k];
                                    self.compare_selected = Some((selected, crate::diff::line_diff(old, new, 2)));
                                }
                                if let Some((_, hunks)) = &self.compare_selected {
                                    line_diff_ui(ui, hunks);
                                }
                            }
                        },
                    );
                });
                if self.compare_selected.as_ref().is_none_or(|(entry, _)| *entry != selected) {
                    self.compare_selected = Some((selected, Vec::new()));
                }
            }
        }
    }
}

/// A cell as the table sorts it.
#[derive(Debug, PartialEq)]
enum SortCell {
    Number(f64),
    Text(String),
    Null,
}

impl Eq for SortCell {}

impl PartialOrd for SortCell {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortCell {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use SortCell::*;
        use std::cmp::Ordering::*;
        match (self, other) {
            (Number(p), Number(q)) => p.total_cmp(q),
            (Text(x), Text(y)) => x.cmp(y),
            (Null, Null) => Equal,
            (Number(_), _) | (Text(_), Null) => Less,
            (_, Number(_)) | (Null, Text(_)) => Greater,
        }
    }
}

/// A plotted column: its name and points.
type PlotSeries = (String, Vec<PlotPoint>);

/// The axes a plot's series were built for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PlotAxes {
    x: usize,
    y: Vec<bool>,
}

/// One row of the comparison with the deployed relation: added, removed or changed (its index
/// in that list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CompareEntry {
    Added(usize),
    Removed(usize),
    Changed(usize),
}

/// The bundled examples for a dialect.
pub fn examples(dialect: Dialect) -> &'static [(&'static str, &'static str)] {
    match dialect {
        Dialect::Postgres => SQL_EXAMPLES_POSTGRES,
        Dialect::Sqlite => SQL_EXAMPLES_SQLITE,
    }
}

/// A JSON-text value inside a row, opened up so the tree can expand it.
fn expand_json_text(row: serde_json::Value) -> serde_json::Value {
    match row {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| match &v {
                    serde_json::Value::String(s) if s.starts_with(['{', '[']) => {
                        (k, serde_json::from_str(s).unwrap_or(v))
                    }
                    _ => (k, v),
                })
                .collect(),
        ),
        other => other,
    }
}

fn cell_text(ui: &Ui, cell: &Cell) -> RichText {
    match cell {
        Cell::Null => RichText::new("null").weak().monospace(),
        Cell::Int(_) | Cell::Float(_) | Cell::Decimal(_) => RichText::new(cell.to_display()).monospace(),
        Cell::Json(_) => RichText::new(cell.to_display()).monospace().color(ui.visuals().hyperlink_color),
        _ => RichText::new(cell.to_display()),
    }
}

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "AS",
    "WITH",
    "CREATE",
    "VIEW",
    "MATERIALIZED",
    "TABLE",
    "OR",
    "REPLACE",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "FULL",
    "CROSS",
    "ON",
    "USING",
    "AND",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "ASC",
    "DESC",
    "FILTER",
    "OVER",
    "PARTITION",
    "BETWEEN",
    "LIKE",
    "ILIKE",
    "EXISTS",
    "CAST",
    "TRUE",
    "FALSE",
    "VALUES",
    "RECURSIVE",
    "LATERAL",
    "WINDOW",
    "ROWS",
    "RANGE",
    "INTERVAL",
];

/// Colours SQL for the editor: keywords, strings, numbers, comments and quoted names.
/// Highlights SQL for egui's frame cache (kept while it is drawn, recomputed when the text
/// changes).
#[derive(Default)]
struct Highlighter;

impl egui::cache::ComputerMut<(&str, bool), LayoutJob> for Highlighter {
    fn compute(&mut self, (text, dark): (&str, bool)) -> LayoutJob {
        highlight_sql(text, dark)
    }
}

type HighlightCache = egui::cache::FrameCache<LayoutJob, Highlighter>;

pub fn highlight_sql(text: &str, dark: bool) -> LayoutJob {
    let font = egui::FontId::monospace(13.0);
    let (plain, keyword, string, number, comment, quoted) = if dark {
        (
            Color32::from_gray(220),
            Color32::from_rgb(0xff, 0x7b, 0x72),
            Color32::from_rgb(0xa5, 0xd6, 0xff),
            Color32::from_rgb(0x79, 0xc0, 0xff),
            Color32::from_gray(130),
            Color32::from_rgb(0xd2, 0xa8, 0xff),
        )
    } else {
        (
            Color32::from_gray(30),
            Color32::from_rgb(0xcf, 0x22, 0x2e),
            Color32::from_rgb(0x0a, 0x30, 0x69),
            Color32::from_rgb(0x05, 0x50, 0xae),
            Color32::from_gray(110),
            Color32::from_rgb(0x82, 0x50, 0xdf),
        )
    };
    let mut job = LayoutJob::default();
    for (kind, range) in tokens(text) {
        let piece = &text[range];
        let color = match kind {
            TokenKind::Word if KEYWORDS.contains(&piece.to_ascii_uppercase().as_str()) => keyword,
            TokenKind::String => string,
            TokenKind::Number => number,
            TokenKind::Comment => comment,
            TokenKind::QuotedIdent => quoted,
            _ => plain,
        };
        job.append(piece, 0.0, egui::TextFormat { font_id: font.clone(), color, ..Default::default() });
    }
    job
}

/// What the status line says after a file was written.
fn written_note(written: std::io::Result<()>, path: &std::path::Path) -> String {
    match written {
        Ok(()) => format!("wrote {}", path.display()),
        Err(e) => format!("could not write {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_keeps_every_character() {
        let text = "SELECT 'a;b', 42 -- note\nFROM \"T\" /* c */ WHERE x = 1;";
        let job = highlight_sql(text, true);
        assert_eq!(job.text, text);
        assert!(job.sections.len() > 10);
    }

    #[test]
    fn mixed_cells_sort_in_one_total_order() {
        // 3 < 10 < '20', and no way back to 3: numbers first, then texts, NULL last.
        let mut cells =
            vec![SortCell::Text("20".into()), SortCell::Null, SortCell::Number(10.0), SortCell::Number(3.0)];
        cells.sort();
        assert_eq!(
            cells,
            vec![SortCell::Number(3.0), SortCell::Number(10.0), SortCell::Text("20".into()), SortCell::Null]
        );
    }
}
