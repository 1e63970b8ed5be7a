//! The Types view: event contracts (see [`crate::schema`]). "Infer schemas" reads the whole log
//! in the background (with progress and Cancel) — never on opening the view, as it reads every
//! event — infers the JSON Schema each event type (and schema version) mostly follows, then
//! checks every event against it. Each type lists its fields (how often each appears, its types,
//! examples), the events that do not fit (each a click from its history) and the schema, to
//! copy or save.

use eframe::egui::{self, RichText, Ui};

use super::scripts::FileDialog;
use crate::schema::{Breach, Check, InferredType};
use crate::worker::{Reply, Request, RequestId, Worker};

/// What the view asks of the app.
pub enum TypesAction {
    /// Open an event in its history.
    OpenEvent { stream: String, version: i64 },
    /// Show these events in Audit (as its filter).
    ShowInAudit(crate::audit::EventSet),
}

#[derive(Default)]
pub struct TypesPanel {
    request: Option<RequestId>,
    /// The phase and the events read in it.
    progress: Option<(&'static str, u64)>,
    survey: Option<Survey>,
    error: Option<String>,
    selected: usize,
    /// Counts the surveys received (0: none yet).
    generation: u64,
    dialog: FileDialog,
    saved: Option<Result<String, String>>,
}

/// A survey's result, with each type's outliers found once.
struct Survey {
    types: Vec<InferredType>,
    check: Check,
    /// Indices into `check.breaches`, by type.
    outliers: Vec<Vec<usize>>,
    /// Each type's schema as pretty JSON.
    schema_texts: Vec<String>,
}

impl Survey {
    fn new(types: Vec<InferredType>, check: Check) -> Survey {
        let outliers = types
            .iter()
            .map(|t| {
                let file = t.key.file_name();
                check.breaches.iter().enumerate().filter(|(_, b)| b.schema == file).map(|(i, _)| i).collect()
            })
            .collect();
        let schema_texts =
            types.iter().map(|t| serde_json::to_string_pretty(&t.schema).unwrap_or_default() + "\n").collect();
        Survey { types, check, outliers, schema_texts }
    }
}

impl TypesPanel {
    /// Whether a survey runs.
    pub fn is_running(&self) -> bool {
        self.request.is_some()
    }

    /// The types inferred, each with how many of its events do not fit.
    pub fn inferred(&self) -> Vec<(String, u64, usize)> {
        self.survey
            .iter()
            .flat_map(|s| s.types.iter().zip(&s.outliers).map(|(t, o)| (t.key.label(), t.events, o.len())))
            .collect()
    }

    /// Which survey is shown (0: none yet).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The events of a stream found not to fit their type's schema, by version, with what is
    /// wrong (for the history's timeline).
    pub fn breaches_in(&self, stream: &str) -> std::collections::HashMap<i64, String> {
        let Some(survey) = &self.survey else {
            return Default::default();
        };
        survey.check.breaches.iter().filter(|b| b.stream == stream).map(|b| (b.version, breach_text(b))).collect()
    }

    /// Stops a running survey (another store is opened).
    pub fn cancel(&mut self, worker: &mut Worker) {
        if let Some(request) = self.request.take() {
            worker.send(Request::Cancel { id: request });
        }
    }

    pub fn start(&mut self, worker: &mut Worker) {
        if let Some(request) = self.request.take() {
            worker.send(Request::Cancel { id: request });
        }
        self.request = Some(worker.send(Request::SurveySchemas));
        self.progress = Some(("inferring", 0));
        self.error = None;
    }

    /// Takes a reply to the survey; any other is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if self.request != Some(id) {
            return Some(reply);
        }
        match reply {
            Reply::SchemaProgress { phase, events } => self.progress = Some((phase, events)),
            Reply::SchemaSurvey(survey) => {
                let (types, check) = *survey;
                self.request = None;
                self.progress = None;
                self.selected = self.selected.min(types.len().saturating_sub(1));
                self.survey = Some(Survey::new(types, check));
                self.generation += 1;
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

    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker) -> Option<TypesAction> {
        if let Some(path) = self.dialog.poll()
            && let Some(survey) = &self.survey
            && let Some(text) = survey.schema_texts.get(self.selected)
        {
            self.saved = Some(match crate::model::write_user_file(&path, text, crate::model::Existing::Replace) {
                Ok(()) => Ok(format!("Saved to {}", path.display())),
                Err(e) => Err(e),
            });
        }
        let toolbar_action = self.toolbar_ui(ui, worker);
        self.dialog.fallback_ui(ui);
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let Some(survey) = &self.survey else {
            if self.request.is_none() {
                ui.add_space(24.0);
                ui.vertical_centered(|ui| {
                    ui.heading("Event contracts");
                    ui.label(
                        "Infer the JSON Schema each event type mostly follows — every field with how often it \
                         appears, its types and examples — and find the events that do not fit.",
                    );
                    ui.weak("It reads every event of the store once to infer, once more to check.");
                });
            }
            return None;
        };
        if survey.types.is_empty() {
            ui.label("The store has no events.");
            return None;
        }
        let mut action = None;
        egui::Panel::left("types_list").resizable(true).default_size(260.0).min_size(180.0).show(ui, |ui| {
            egui::ScrollArea::vertical().id_salt("types_list").show(ui, |ui| {
                for (i, t) in survey.types.iter().enumerate() {
                    let outliers = survey.outliers[i].len();
                    let label = t.key.label();
                    let name = if label.is_empty() { "(no type)" } else { label.as_str() };
                    let mut text = format!("{name}  {}", t.events);
                    if outliers > 0 {
                        text += &format!("  ⚠ {outliers}");
                    }
                    let row = ui.selectable_label(self.selected == i, RichText::new(text).monospace());
                    if row.clicked() {
                        self.selected = i;
                        self.saved = None;
                    }
                }
            });
        });
        egui::CentralPanel::default().show(ui, |ui| {
            action = self.type_ui(ui);
        });
        toolbar_action.or(action)
    }

    fn toolbar_ui(&mut self, ui: &mut Ui, worker: &mut Worker) -> Option<TypesAction> {
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            if let Some((phase, events)) = self.progress {
                ui.spinner();
                let phase = if phase == "checking" { "Checking every event" } else { "Inferring the schemas" };
                ui.label(format!("{phase}: {events} events read…"));
                if ui.button("Cancel").clicked()
                    && let Some(request) = self.request.take()
                {
                    worker.send(Request::Cancel { id: request });
                    self.progress = None;
                }
                return;
            }
            let label = if self.survey.is_some() { "🔁 Infer again" } else { "🔎 Infer schemas" };
            let tip = "Read every event of the store (in the background): infer each type's schema, then check \
                       every event against it";
            if ui.button(label).on_hover_text(tip).clicked() {
                self.start(worker);
            }
            if let Some(survey) = &self.survey {
                let check = &survey.check;
                let fit = match check.breaking {
                    0 => "every one fits its type's schema".to_owned(),
                    1 => "1 event does not fit".to_owned(),
                    n => format!("{n} events do not fit"),
                };
                ui.label(format!(
                    "{} from {}; {fit}",
                    super::counted(survey.types.len() as i64, "type", "types"),
                    super::counted(check.events as i64, "event", "events"),
                ));
                if !check.breaches.is_empty() {
                    let tip = "List them in Audit (a filter there), with their times, actors and causes";
                    if ui.button("📜 Outliers in Audit").on_hover_text(tip).clicked() {
                        action = Some(show_in_audit("contract outliers", check.breaches.iter()));
                    }
                }
            }
        });
        ui.separator();
        action
    }

    fn type_ui(&mut self, ui: &mut Ui) -> Option<TypesAction> {
        let survey = self.survey.as_ref()?;
        let t = survey.types.get(self.selected)?;
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            ui.heading(t.key.label());
            ui.label(format!(
                "{}; first in {} v{}",
                super::counted(t.events as i64, "event", "events"),
                t.first.stream,
                t.first.version
            ));
            if t.not_json > 0 {
                ui.colored_label(ui.visuals().warn_fg_color, format!("{} not JSON", t.not_json));
            }
        });
        // (Both ways: a long field path or many types may be wider than a small window.)
        egui::ScrollArea::both().id_salt("type_details").show(ui, |ui| {
            ui.strong("Fields");
            egui::Grid::new("type_fields").striped(true).num_columns(4).show(ui, |ui| {
                ui.weak("path");
                ui.weak("present");
                ui.weak("types");
                ui.weak("examples");
                ui.end_row();
                for field in t.fields.iter().take(500) {
                    let share = field.present as f64 / field.of.max(1) as f64;
                    let mut path = RichText::new(shortened(&field.path, 48)).monospace();
                    if share < crate::schema::REQUIRED_SHARE {
                        path = path.italics();
                    }
                    let required = if share < crate::schema::REQUIRED_SHARE {
                        "optional: fewer than 95 % of the events have it"
                    } else {
                        "required: at least 95 % of the events have it"
                    };
                    ui.label(path).on_hover_text(format!("{}\n{required}", field.path));
                    ui.label(format!("{} of {} ({:.0} %)", field.present, field.of, share * 100.0));
                    let types: Vec<String> = field.types.iter().map(|(name, n)| format!("{name} {n}")).collect();
                    ui.label(types.join(", "));
                    let examples: Vec<String> = field.examples.iter().map(|e| e.to_string()).collect();
                    ui.add(egui::Label::new(RichText::new(examples.join("  ")).weak()).truncate());
                    ui.end_row();
                }
            });
            ui.add_space(8.0);
            let outliers = &survey.outliers[self.selected];
            if outliers.is_empty() {
                ui.label("✔ Every event of this type fits its schema.");
            } else {
                ui.strong(if outliers.len() == 1 {
                    "⚠ 1 event that does not fit (click to open)".to_owned()
                } else {
                    format!("⚠ {} events that do not fit (click to open)", outliers.len())
                });
                if ui.small_button("📜 Show in Audit").clicked() {
                    let name = format!("{} outliers", t.key.label());
                    action = Some(show_in_audit(&name, outliers.iter().map(|&i| &survey.check.breaches[i])));
                }
                for &i in outliers {
                    let breach = &survey.check.breaches[i];
                    let text = format!("{} v{} — {}", breach.stream, breach.version, breach_text(breach));
                    if ui.link(RichText::new(text).monospace()).clicked() {
                        action =
                            Some(TypesAction::OpenEvent { stream: breach.stream.clone(), version: breach.version });
                    }
                }
            }
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                ui.strong("Schema");
                if ui.small_button("📋 Copy").clicked() {
                    ui.ctx().copy_text(survey.schema_texts[self.selected].clone());
                    self.saved = Some(Ok("Copied".to_owned()));
                }
                if ui.small_button("💾 Save…").clicked() {
                    self.dialog.save(ui.ctx(), "Save the schema", "JSON Schema", &["json"], &t.key.file_name());
                }
                match &self.saved {
                    Some(Ok(said)) => {
                        ui.label(said);
                    }
                    Some(Err(e)) => {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                    None => {}
                }
            });
            ui.weak("Check a store against saved schemas with `eventscope schemas STORE --check DIR`.");
            // (Wide lines scroll sideways rather than run off the window.)
            egui::ScrollArea::horizontal().id_salt("schema_text").show(ui, |ui| {
                ui.add(egui::Label::new(RichText::new(&survey.schema_texts[self.selected]).monospace()).extend());
            });
        });
        action
    }
}

/// What is wrong with an event, in one line: `/path: message; …`.
fn breach_text(breach: &Breach) -> String {
    let errors: Vec<String> = breach
        .errors
        .iter()
        .map(|(path, message)| if path.is_empty() { message.clone() } else { format!("{path}: {message}") })
        .collect();
    errors.join("; ")
}

/// An Audit filter for these breaches' events (the first [`crate::audit::EventSet::MAX`]).
fn show_in_audit<'a>(name: &str, breaches: impl Iterator<Item = &'a crate::schema::Breach>) -> TypesAction {
    let (mut set, cut) = crate::audit::EventSet::new(name, breaches.map(|b| (b.stream.clone(), b.version)));
    if cut {
        set.name = format!("{name} (the first {})", crate::audit::EventSet::MAX);
    }
    TypesAction::ShowInAudit(set)
}

/// A long text cut in its middle to at most `max` characters, so that both its start and its
/// end (a field path's leaf) stay readable.
fn shortened(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head = max * 2 / 5;
    let tail = max - head - 1;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}
