//! The connect screen: open a SQLite file (native dialog, or a typed path when no dialog is
//! available), type a PostgreSQL URL, reopen a recent store, or open the workshop store.
//! Connection errors show here in words, with the password masked.

use eframe::egui::{self, RichText, Ui};

use super::scripts::FileDialog;
use crate::store::Target;

/// What the connect screen asks the app to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectAction {
    Open(Target),
    OpenWorkshop,
    /// Go back to the store that is still open.
    Back,
    /// Map the tables of the database that matched no layout.
    Map,
}

#[derive(Default)]
pub struct ConnectPanel {
    pub path: String,
    pub url: String,
    pub error: Option<String>,
    /// The store being opened, shown with a spinner.
    pub opening: Option<String>,
    dialog: FileDialog,
}

impl ConnectPanel {
    fn poll_dialog(&mut self) -> Option<ConnectAction> {
        let path = self.dialog.poll()?;
        self.path = path.display().to_string();
        Some(ConnectAction::Open(Target::Sqlite(path)))
    }

    /// `can_map` names the database that opened but matched no layout, if any.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        recent: &[String],
        can_go_back: bool,
        can_map: Option<&str>,
    ) -> Option<ConnectAction> {
        let mut action = self.poll_dialog();
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(24.0);
                ui.heading(RichText::new("eventscope").size(28.0));
                ui.label("Open an event store to step through its streams' histories.");
                ui.add_space(12.0);
            });
            ui.set_max_width(720.0);
            if let Some(opening) = &self.opening {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Opening {opening} …"));
                });
            }
            if let Some(error) = &self.error {
                egui::Frame::group(ui.style()).fill(ui.visuals().extreme_bg_color).show(ui, |ui| {
                    ui.colored_label(ui.visuals().error_fg_color, RichText::new("Could not open the store").strong());
                    ui.add(egui::Label::new(RichText::new(error).color(ui.visuals().error_fg_color)).selectable(true));
                    if let Some(store) = can_map
                        && ui.button(format!("Map the tables of {store} by hand…")).clicked()
                    {
                        action = Some(ConnectAction::Map);
                    }
                });
                ui.add_space(8.0);
            }
            ui.group(|ui| {
                ui.strong("SQLite file");
                ui.horizontal(|ui| {
                    if ui.button("Choose a file…").clicked() {
                        self.dialog.open(
                            ui.ctx(),
                            "Open a SQLite event store",
                            "SQLite",
                            &["sqlite", "sqlite3", "db", "db3"],
                        );
                    }
                    if self.dialog.is_open() {
                        ui.spinner();
                        ui.weak("waiting for the file dialog");
                    }
                });
                if let Some(note) = &self.dialog.note {
                    ui.weak(note);
                }
                ui.horizontal(|ui| {
                    let field = ui.add(
                        egui::TextEdit::singleline(&mut self.path)
                            .hint_text("/path/to/store.sqlite")
                            .desired_width(480.0),
                    );
                    let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if (ui.button("Open file").clicked() || enter) && !self.path.trim().is_empty() {
                        action = Some(match Target::parse(&self.path) {
                            Ok(target) => ConnectAction::Open(target),
                            Err(e) => {
                                self.error = Some(e.to_string());
                                return;
                            }
                        });
                    }
                });
            });
            ui.add_space(8.0);
            ui.group(|ui| {
                ui.strong("PostgreSQL");
                ui.horizontal(|ui| {
                    // The password is typed but never shown: each of its characters is drawn as •.
                    let mut dotted = |ui: &egui::Ui, text: &dyn egui::TextBuffer, _wrap: f32| {
                        let job = egui::text::LayoutJob::simple_singleline(
                            crate::store::dot_passwords(text.as_str()),
                            egui::TextStyle::Body.resolve(ui.style()),
                            ui.visuals().text_color(),
                        );
                        ui.fonts_mut(|f| f.layout_job(job))
                    };
                    let field = ui.add(
                        egui::TextEdit::singleline(&mut self.url)
                            .hint_text("postgres://user:password@host:5432/database?sslmode=prefer")
                            .layouter(&mut dotted)
                            .desired_width(480.0),
                    );
                    let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if (ui.button("Connect").clicked() || enter) && !self.url.trim().is_empty() {
                        match Target::parse(&self.url) {
                            Ok(target @ Target::Postgres(_)) => action = Some(ConnectAction::Open(target)),
                            Ok(_) => {
                                self.error =
                                    Some("a PostgreSQL URL starts with postgres:// or postgresql://".to_owned())
                            }
                            Err(e) => self.error = Some(e.to_string()),
                        }
                    }
                });
                ui.weak("The session is read-only; the password is never shown or saved.");
            });
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Open the workshop store").on_hover_text("The bundled e-commerce order domain").clicked() {
                    action = Some(ConnectAction::OpenWorkshop);
                }
                if can_go_back && ui.button("Back to the open store").clicked() {
                    action = Some(ConnectAction::Back);
                }
            });
            if !recent.is_empty() {
                ui.add_space(12.0);
                ui.strong("Recent stores");
                for entry in recent {
                    if ui.link(RichText::new(entry).monospace()).clicked() {
                        match Target::parse(entry) {
                            Ok(target) => {
                                // A URL comes back without its password: it is put in the field,
                                // so that it can be added there if the server asks for one.
                                if let Target::Postgres(url) = &target {
                                    self.url = url.clone();
                                }
                                action = Some(ConnectAction::Open(target));
                            }
                            Err(e) => self.error = Some(e.to_string()),
                        }
                    }
                }
            }
        });
        action
    }
}
