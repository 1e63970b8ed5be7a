//! The mapping form, for a database no recogniser knows: pick the table, then which column holds
//! the stream, version, type, payload (and, where there are, metadata, time, position); check the
//! mapping on the first events; save it as a layout file that `--layout FILE` also accepts; open
//! the store with it.

use eframe::egui::{self, RichText, Ui};

use super::scripts::FileDialog;
use crate::model::Event;
use crate::store::Target;
use crate::store::layout::{Catalog, CatalogTable, ColumnKind, ColumnRef, Columns, Layout, StreamKey, TableName};
use crate::worker::{Reply, Request, RequestId, Worker};

/// What the mapping form asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum MappingAction {
    Open(Box<Layout>),
    Cancel,
}

/// The roles a column can play, and the names that suggest them.
const ROLES: [(&str, bool, &[&str]); 7] = [
    ("stream", true, &["stream_id", "stream", "aggregate_id", "entity_id", "entity", "subject"]),
    ("version", true, &["version", "sequence", "seq", "revision", "stream_position", "position"]),
    ("type", true, &["event_type", "type", "kind", "name"]),
    ("payload", true, &["payload", "data", "body", "event_data", "state"]),
    ("metadata", false, &["metadata", "meta", "headers", "meta_data"]),
    ("time", false, &["recorded_at", "created_at", "timestamp", "time", "at", "created"]),
    ("position", false, &["global_position", "position", "id", "seq_id", "global_index"]),
];

pub struct MappingPanel {
    target: Target,
    catalog: Option<std::sync::Arc<Catalog>>,
    catalog_request: Option<RequestId>,
    table: usize,
    /// For each role, the chosen column index in the table.
    roles: [Option<usize>; 7],
    pub name: String,
    sample_request: Option<RequestId>,
    sample: Option<Result<Vec<Event>, String>>,
    dialog: FileDialog,
    note: Option<String>,
}

impl MappingPanel {
    pub fn new(target: Target, worker: &mut Worker) -> MappingPanel {
        let catalog_request = Some(worker.send(Request::Catalog { target: target.clone() }));
        MappingPanel {
            target,
            catalog: None,
            catalog_request,
            table: 0,
            roles: [None; 7],
            name: "custom".to_owned(),
            sample_request: None,
            sample: None,
            dialog: FileDialog::default(),
            note: None,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.as_deref()
    }

    pub fn sample(&self) -> Option<&Result<Vec<Event>, String>> {
        self.sample.as_ref()
    }

    fn current_table(&self) -> Option<&CatalogTable> {
        self.catalog.as_ref()?.tables.get(self.table)
    }

    /// Chooses a table (by name) and guesses the columns' roles from their names.
    pub fn choose_table(&mut self, name: &str) {
        if let Some(i) = self.catalog.as_ref().and_then(|c| c.tables.iter().position(|t| t.name == name)) {
            self.table = i;
            self.guess();
        }
    }

    /// Sets a role's column by name (the form does this through its menus).
    pub fn set_role(&mut self, role: &str, column: &str) {
        let index = self.current_table().and_then(|t| t.columns.iter().position(|c| c.name == column));
        if let Some(r) = ROLES.iter().position(|(name, _, _)| *name == role) {
            self.roles[r] = index;
        }
    }

    fn guess(&mut self) {
        let Some(table) = self.current_table().cloned() else {
            return;
        };
        let mut taken = Vec::new();
        for (r, (_, _, hints)) in ROLES.iter().enumerate() {
            self.roles[r] = hints.iter().find_map(|hint| {
                table.columns.iter().position(|c| c.name.eq_ignore_ascii_case(hint) && !taken.contains(&c.name))
            });
            if let Some(i) = self.roles[r] {
                taken.push(table.columns[i].name.clone());
            }
        }
        self.name = table.name.clone();
        self.sample = None;
    }

    /// The layout the form describes, or what is missing.
    pub fn layout(&self) -> Result<Layout, String> {
        let table = self.current_table().ok_or("choose a table")?;
        let column = |r: usize| -> Option<ColumnRef> {
            self.roles[r]
                .and_then(|i| table.columns.get(i))
                .map(|c| ColumnRef::main(&c.name, ColumnKind::from_type_name(&c.type_name)))
        };
        let required = |r: usize| column(r).ok_or_else(|| format!("choose the {} column", ROLES[r].0));
        Ok(Layout {
            name: if self.name.trim().is_empty() { table.name.clone() } else { self.name.trim().to_owned() },
            description: format!("mapped by hand ({})", table.qualified_name()),
            library: "custom".to_owned(),
            table: TableName::of(table),
            joins: Vec::new(),
            columns: Columns {
                stream: StreamKey::Column(required(0)?),
                version: required(1)?,
                event_type: required(2)?,
                payload: required(3)?,
                metadata: column(4),
                metadata_columns: Vec::new(),
                recorded_at: column(5),
                position: column(6),
                aggregate_type: None,
                archived: None,
            },
            conditions: Vec::new(),
            codec: Default::default(),
            snapshots: None,
            row_key: Default::default(),
            server: Default::default(),
            stream_versions_unique: false,
        })
    }

    /// Reads the first events with the mapping.
    pub fn check(&mut self, worker: &mut Worker) {
        match self.layout() {
            Ok(layout) => {
                self.sample = None;
                self.sample_request =
                    Some(worker.send(Request::SampleLayout { target: self.target.clone(), layout: Box::new(layout) }));
            }
            Err(e) => self.sample = Some(Err(e)),
        }
    }

    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if Some(id) == self.catalog_request {
            self.catalog_request = None;
            match reply {
                Reply::Catalog(catalog) => {
                    self.catalog = Some(std::sync::Arc::new(catalog));
                    self.guess();
                }
                Reply::Failed(message) => self.note = Some(message.to_string()),
                _ => {}
            }
            return None;
        }
        if Some(id) == self.sample_request {
            self.sample_request = None;
            self.sample = Some(match reply {
                Reply::Sample(events) => Ok(events),
                Reply::Failed(message) => Err(message.to_string()),
                _ => Err("no answer".to_owned()),
            });
            return None;
        }
        Some(reply)
    }

    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker) -> Option<MappingAction> {
        if let Some(path) = self.dialog.poll() {
            self.note = Some(match self.layout().map(|l| serde_json::to_string_pretty(&l)) {
                Ok(Ok(text)) => match std::fs::write(&path, text) {
                    Ok(()) => format!("saved {} — open the store with --layout {}", path.display(), path.display()),
                    Err(e) => format!("could not write {}: {e}", path.display()),
                },
                Ok(Err(e)) => e.to_string(),
                Err(e) => e,
            });
        }
        let mut action = None;
        ui.heading("Map this database's tables");
        ui.label(format!(
            "{} has no layout eventscope recognises. Say which table holds the events and which column plays which part.",
            self.target.display()
        ));
        if let Some(note) = self.note.as_ref().or(self.dialog.note.as_ref()) {
            ui.weak(note);
        }
        let Some(catalog) = self.catalog.clone() else {
            ui.spinner();
            return None;
        };
        if catalog.tables.is_empty() {
            ui.colored_label(ui.visuals().error_fg_color, "This database has no tables.");
            if ui.button("Back").clicked() {
                action = Some(MappingAction::Cancel);
            }
            return action;
        }
        let mut chosen_table = None;
        egui::Grid::new("mapping_grid").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
            ui.label("table");
            egui::ComboBox::from_id_salt("mapping_table")
                .selected_text(catalog.tables[self.table].qualified_name())
                .show_ui(ui, |ui| {
                    for table in &catalog.tables {
                        if ui.selectable_label(false, table.qualified_name()).clicked() {
                            chosen_table = Some(table.name.clone());
                        }
                    }
                });
            ui.end_row();
            let table = &catalog.tables[self.table];
            for (r, (role, required, _)) in ROLES.iter().enumerate() {
                ui.label(if *required {
                    RichText::new(*role).strong()
                } else {
                    RichText::new(format!("{role} (optional)"))
                });
                let shown = self.roles[r]
                    .and_then(|i| table.columns.get(i))
                    .map_or("—".to_owned(), |c| format!("{} ({})", c.name, c.type_name));
                egui::ComboBox::from_id_salt(("mapping_role", r)).selected_text(shown).show_ui(ui, |ui| {
                    if !required {
                        ui.selectable_value(&mut self.roles[r], None, "—");
                    }
                    for (i, column) in table.columns.iter().enumerate() {
                        ui.selectable_value(
                            &mut self.roles[r],
                            Some(i),
                            format!("{} ({})", column.name, column.type_name),
                        );
                    }
                });
                ui.end_row();
            }
            ui.label("layout name");
            ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(200.0)).on_hover_text("layout name");
            ui.end_row();
        });
        if let Some(name) = chosen_table {
            self.choose_table(&name);
        }
        ui.horizontal(|ui| {
            if ui.button("Check with the first events").clicked() {
                self.check(worker);
            }
            if self.sample_request.is_some() {
                ui.spinner();
            }
            if ui.button("Save layout file…").clicked() {
                self.dialog.save(
                    ui.ctx(),
                    "Save the layout",
                    "Layout",
                    &["json"],
                    &format!("{}.layout.json", self.name.trim()),
                );
            }
            match self.layout() {
                Ok(layout) => {
                    if ui.button("Open with this layout").clicked() {
                        action = Some(MappingAction::Open(Box::new(layout)));
                    }
                }
                Err(e) => {
                    ui.weak(e);
                }
            }
            if ui.button("Cancel").clicked() {
                action = Some(MappingAction::Cancel);
            }
        });
        match &self.sample {
            Some(Ok(events)) if events.is_empty() => {
                ui.weak("The mapping works, but the table has no rows.");
            }
            Some(Ok(events)) => {
                ui.label(RichText::new(format!("The first {} events read with this mapping:", events.len())).strong());
                egui::Grid::new("mapping_sample").striped(true).num_columns(4).show(ui, |ui| {
                    for e in events {
                        ui.monospace(e.stream.as_str());
                        ui.monospace(format!("v{}", e.version));
                        ui.label(&e.event_type);
                        ui.weak(match &*e.payload {
                            crate::model::Payload::Json(v) => short(&v.to_string()),
                            crate::model::Payload::Undecodable { reason, .. } => reason.clone(),
                        });
                        ui.end_row();
                    }
                });
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
        action
    }
}

fn short(text: &str) -> String {
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text.to_owned()
    }
}
