//! The projections view: pick a JavaScript projection (a bundled example or a watched file),
//! run it read-only over the store in global order — paged, with progress and cancel — and step
//! through the run like a stream: the event at the cursor, the projection's state (or each
//! partition's), and what the event changed. Saving the file runs it again.

use eframe::egui::{self, Key, RichText, Ui};

use super::history::{HistoryPanel, LOAD_PAGE};
use super::scripts::{FileDialog, PROJECTION_EXAMPLES, ScriptSource, WatchedScript};
use crate::projection::{JsProjection, Source};
use crate::worker::{Reply, Request, RequestId, Worker};

/// A run in progress (or finished).
struct Run {
    request: Option<RequestId>,
    source: Source,
    read: usize,
    done: bool,
}

#[derive(Default)]
pub struct ProjectionPanel {
    script: Option<WatchedScript>,
    path: String,
    dialog: FileDialog,
    /// Why the script could not be loaded.
    error: Option<String>,
    run: Option<Run>,
    view: Option<HistoryPanel>,
    /// Counts the runs started (a new run's view is given its bookmarks again).
    runs: u64,
}

impl ProjectionPanel {
    pub fn script(&self) -> Option<&WatchedScript> {
        self.script.as_ref()
    }

    pub fn view(&self) -> Option<&HistoryPanel> {
        self.view.as_ref()
    }

    pub fn view_mut(&mut self) -> Option<&mut HistoryPanel> {
        self.view.as_mut()
    }

    /// Which run the view shows (a number that changes with every run started).
    pub fn run_number(&self) -> u64 {
        self.runs
    }

    /// How the settings keep the chosen script (a bookmark of a run names it so).
    pub fn remembered_script(&self) -> Option<super::settings::RememberedScript> {
        use super::settings::RememberedScript;
        Some(match &self.script.as_ref()?.source {
            ScriptSource::File(path) => RememberedScript::File(path.clone()),
            ScriptSource::Example { name, .. } => RememberedScript::Example((*name).to_owned()),
            ScriptSource::Lesson { name, .. } => RememberedScript::Lesson(name.clone()),
        })
    }

    /// The script a bookmark names (`None`: a bundled example this build no longer has, or a
    /// script of a lesson that is not playing).
    pub fn script_of(
        remembered: &super::settings::RememberedScript,
        lesson: Option<&crate::lesson::Lesson>,
    ) -> Option<ScriptSource> {
        use super::settings::RememberedScript;
        match remembered {
            RememberedScript::File(path) => Some(ScriptSource::File(path.clone())),
            RememberedScript::Lesson(name) => lesson
                .and_then(|l| {
                    l.scripts.iter().find(|s| s.kind == crate::lesson::ScriptKind::Projection && s.name == *name)
                })
                .map(|s| ScriptSource::Lesson { name: s.name.clone(), source: s.source.clone() }),
            RememberedScript::Example(wanted) => PROJECTION_EXAMPLES
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(name, source)| ScriptSource::Example { name, source }),
        }
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether a run is reading the store.
    pub fn is_running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| !r.done)
    }

    /// How many events of the store the run has read.
    pub fn events_read(&self) -> usize {
        self.run.as_ref().map_or(0, |r| r.read)
    }

    /// Chooses a script and runs it.
    pub fn choose(&mut self, script: WatchedScript, worker: &mut Worker) {
        self.script = Some(script);
        self.start(worker);
    }

    /// Stops the run in progress, if any.
    pub fn cancel(&mut self, worker: &mut Worker) {
        if let Some(run) = &mut self.run
            && let Some(id) = run.request.take()
            && !run.done
        {
            worker.send(Request::Cancel { id });
            run.done = true;
            if let Some(view) = &mut self.view {
                view.set_failed(format!("cancelled after {} events; what was read stays browsable", run.read));
            }
        }
    }

    /// (Re)starts the run of the chosen script from the beginning of the store.
    pub fn start(&mut self, worker: &mut Worker) {
        self.cancel(worker);
        self.run = None;
        self.view = None;
        self.runs += 1;
        self.error = None;
        let Some(script) = &self.script else {
            return;
        };
        let name = script.name();
        let projection =
            match script.text().and_then(|text| JsProjection::from_source(&name, &text).map_err(|e| e.to_string())) {
                Ok(projection) => projection,
                Err(message) => {
                    self.error = Some(message);
                    return;
                }
            };
        let source = projection.source().clone();
        self.view = Some(HistoryPanel::for_projection(&name, Box::new(projection)));
        // The database leaves out the events the source does not read.
        let request = worker.send(Request::LoadLog { page_size: LOAD_PAGE, selection: source.selection(None) });
        self.run = Some(Run { request: Some(request), source, read: 0, done: false });
    }

    /// Takes a reply meant for this panel; false when it is not ours.
    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let (Some(run), Some(view)) = (&mut self.run, &mut self.view) else {
            return Some(reply);
        };
        if run.request != Some(id) {
            return Some(reply);
        }
        match reply {
            Reply::LogStarted { total } => view.set_total(total),
            Reply::EventsPage { events, done, .. } => {
                run.read += events.len();
                run.done = done;
                let selected = events.into_iter().filter(|e| run.source.selects(e)).collect();
                view.push_events(selected, done);
                view.set_progress(run.read);
            }
            Reply::Failed(message) => {
                run.done = true;
                view.set_failed(message.to_string());
            }
            _ => {}
        }
        None
    }

    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker) {
        let now = ui.input(|i| i.time);
        if self.script.as_mut().is_some_and(|s| s.changed(ui.ctx(), now)) {
            self.start(worker);
        }
        if let Some(path) = self.dialog.poll() {
            self.choose(WatchedScript::new(ScriptSource::File(path)), worker);
        }
        egui::Panel::top("projection_picker").show(ui, |ui| self.picker_ui(ui, worker));
        match &mut self.view {
            Some(view) => view.ui(ui),
            None => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.vertical_centered(|ui| {
                        ui.add_space(ui.available_height() / 4.0);
                        if let Some(error) = &self.error {
                            ui.colored_label(ui.visuals().error_fg_color, RichText::new("The projection does not load").strong());
                            ui.add(egui::Label::new(RichText::new(error).monospace().color(ui.visuals().error_fg_color)).selectable(true));
                            ui.label("Fix the script: saving the file runs it again.");
                        } else {
                            ui.heading("Preview a projection");
                            ui.label("Pick an example or a .js file above. It runs read-only over the whole store in global order;");
                            ui.label("emit() and linkTo() are only recorded as “would emit”. Then step through the run like a stream.");
                        }
                    });
                });
            }
        }
    }

    fn picker_ui(&mut self, ui: &mut Ui, worker: &mut Worker) {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.strong("Projection");
            let current = self.script.as_ref().map_or("choose…".to_owned(), WatchedScript::name);
            let mut chosen = None;
            egui::ComboBox::from_label("script").selected_text(current).show_ui(ui, |ui| {
                for (name, source) in PROJECTION_EXAMPLES {
                    if ui.selectable_label(false, format!("{name} (example)")).clicked() {
                        chosen = Some(WatchedScript::new(ScriptSource::Example { name, source }));
                    }
                }
                if ui.button("Open a .js file…").clicked() {
                    self.dialog.open(ui.ctx(), "Choose a projection", "JavaScript", &["js", "mjs"]);
                }
            });
            let path = ui.add(
                egui::TextEdit::singleline(&mut self.path).hint_text("or a projection file path").desired_width(200.0),
            );
            if path.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) && !self.path.trim().is_empty() {
                chosen = Some(WatchedScript::new(ScriptSource::File(self.path.trim().into())));
            }
            if let Some(script) = chosen {
                self.choose(script, worker);
            }
            if self.script.is_some() {
                if self.is_running() {
                    if ui.button("Cancel").clicked() {
                        self.cancel(worker);
                    }
                } else if ui.button("Run again").clicked() {
                    self.start(worker);
                }
            }
            if let Some(run) = &self.run {
                ui.weak(format!(
                    "reads {} · {} events read{}",
                    run.source.describe(),
                    run.read,
                    if run.done { "" } else { "…" }
                ));
            }
        });
        if let Some(script) = &self.script {
            ui.weak(script.origin());
        }
        if let Some(note) = &self.dialog.note {
            ui.weak(note);
        }
        ui.add_space(2.0);
    }
}
