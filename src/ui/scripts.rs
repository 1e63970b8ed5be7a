//! Scripts the window runs: the bundled examples (compiled in from `assets/`) and files the
//! person picks, which are watched so that saving them in an editor re-runs them.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::SystemTime;

use eframe::egui;

/// The example folds in `assets/folds`.
pub const FOLD_EXAMPLES: &[(&str, &str)] = &[("order.js", include_str!("../../assets/folds/order.js"))];

/// The example SQL projections in `assets/sql`, for PostgreSQL and for SQLite.
pub const SQL_EXAMPLES_POSTGRES: &[(&str, &str)] = &[
    ("orders_by_region.postgres.sql", include_str!("../../assets/sql/orders_by_region.postgres.sql")),
    ("revenue_per_day.postgres.sql", include_str!("../../assets/sql/revenue_per_day.postgres.sql")),
    ("order_totals.postgres.sql", include_str!("../../assets/sql/order_totals.postgres.sql")),
];
pub const SQL_EXAMPLES_SQLITE: &[(&str, &str)] = &[
    ("orders_by_region.sqlite.sql", include_str!("../../assets/sql/orders_by_region.sqlite.sql")),
    ("revenue_per_day.sqlite.sql", include_str!("../../assets/sql/revenue_per_day.sqlite.sql")),
    ("order_totals.sqlite.sql", include_str!("../../assets/sql/order_totals.sqlite.sql")),
];

/// The example projections in `assets/projections`.
pub const PROJECTION_EXAMPLES: &[(&str, &str)] = &[
    ("orders_by_region.js", include_str!("../../assets/projections/orders_by_region.js")),
    ("refunds_per_customer.js", include_str!("../../assets/projections/refunds_per_customer.js")),
];

/// The what-if examples in `assets/whatif`.
pub const WHATIF_EXAMPLES: &[(&str, &str)] = &[
    ("tax_one_more_week.js", include_str!("../../assets/whatif/tax_one_more_week.js")),
    ("no_retried_refunds.js", include_str!("../../assets/whatif/no_retried_refunds.js")),
];

/// Where a script comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptSource {
    Example {
        name: &'static str,
        source: &'static str,
    },
    File(PathBuf),
    /// A script a lesson file carries.
    Lesson {
        name: String,
        source: String,
    },
}

/// How often a file is checked for changes, in seconds.
const WATCH_INTERVAL: f64 = 0.5;

/// A script and, for a file, when it was last read.
#[derive(Clone, Debug)]
pub struct WatchedScript {
    pub source: ScriptSource,
    modified: Option<SystemTime>,
    last_check: f64,
}

impl WatchedScript {
    pub fn new(source: ScriptSource) -> WatchedScript {
        let modified = match &source {
            ScriptSource::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            ScriptSource::Example { .. } | ScriptSource::Lesson { .. } => None,
        };
        WatchedScript { source, modified, last_check: 0.0 }
    }

    /// The file name (or the example's name).
    pub fn name(&self) -> String {
        match &self.source {
            ScriptSource::Example { name, .. } => (*name).to_owned(),
            ScriptSource::Lesson { name, .. } => name.clone(),
            ScriptSource::File(path) => {
                path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
            }
        }
    }

    /// When the file was last saved, as read (`None` for an example).
    pub fn saved_at(&self) -> Option<SystemTime> {
        self.modified
    }

    /// Where it comes from, in words.
    pub fn origin(&self) -> String {
        match &self.source {
            ScriptSource::Example { .. } => "bundled example".to_owned(),
            ScriptSource::Lesson { .. } => "from the lesson".to_owned(),
            ScriptSource::File(path) => format!("{} (watched: saving it re-runs it)", path.display()),
        }
    }

    /// The script text.
    pub fn text(&self) -> Result<String, String> {
        match &self.source {
            ScriptSource::Example { source, .. } => Ok((*source).to_owned()),
            ScriptSource::Lesson { source, .. } => Ok(source.clone()),
            ScriptSource::File(path) => crate::model::read_user_file(path),
        }
    }

    /// Whether the file changed since it was last read (checked at most twice a second; `now` is
    /// egui's time). Asks for a repaint so that an idle window still notices.
    pub fn changed(&mut self, ctx: &egui::Context, now: f64) -> bool {
        let ScriptSource::File(path) = &self.source else {
            return false;
        };
        ctx.request_repaint_after(std::time::Duration::from_secs_f64(WATCH_INTERVAL));
        if now - self.last_check < WATCH_INTERVAL {
            return false;
        }
        self.last_check = now;
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified != self.modified {
            self.modified = modified;
            return true;
        }
        false
    }
}

/// A native "open file" dialog on its own thread, so the window keeps drawing while it is open.
#[derive(Default)]
pub struct FileDialog {
    pending: Option<mpsc::Receiver<Option<PathBuf>>>,
    pub note: Option<String>,
    /// Where no dialog could be used: the path typed instead, and the one confirmed.
    typed: String,
    typed_choice: Option<PathBuf>,
}

impl FileDialog {
    pub fn is_open(&self) -> bool {
        self.pending.is_some()
    }

    /// Opens the dialog for files with these extensions.
    pub fn open(&mut self, ctx: &egui::Context, title: &str, filter_name: &str, extensions: &[&str]) {
        self.show(ctx, title, filter_name, extensions, None);
    }

    /// Opens a "save as" dialog proposing `file_name`.
    pub fn save(&mut self, ctx: &egui::Context, title: &str, filter_name: &str, extensions: &[&str], file_name: &str) {
        self.show(ctx, title, filter_name, extensions, Some(file_name.to_owned()));
    }

    fn show(
        &mut self,
        ctx: &egui::Context,
        title: &str,
        filter_name: &str,
        extensions: &[&str],
        save_as: Option<String>,
    ) {
        if self.pending.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let ctx = ctx.clone();
        let title = title.to_owned();
        let filter_name = filter_name.to_owned();
        let extensions: Vec<String> = extensions.iter().map(|e| (*e).to_owned()).collect();
        let spawned = std::thread::Builder::new().name("file-dialog".into()).spawn(move || {
            let dialog = rfd::FileDialog::new()
                .set_title(title)
                .add_filter(filter_name, &extensions)
                .add_filter("All files", &["*"]);
            let picked = match save_as {
                Some(name) => dialog.set_file_name(name).save_file(),
                None => dialog.pick_file(),
            };
            let _ = tx.send(picked);
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => {
                self.pending = Some(rx);
                self.note = None;
            }
            Err(e) => self.note = Some(format!("no file dialog ({e}): type the path instead")),
        }
    }

    /// The note, and when the dialog could not be used (or was closed without a choice), a field
    /// to type the path in: confirmed with Enter or the button, it is what [`FileDialog::poll`]
    /// gives next.
    pub fn fallback_ui(&mut self, ui: &mut egui::Ui) {
        let Some(note) = self.note.clone() else {
            return;
        };
        ui.weak(note);
        ui.horizontal(|ui| {
            let field =
                ui.add(egui::TextEdit::singleline(&mut self.typed).hint_text("/path/to/file").desired_width(240.0));
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Use this path").clicked() || enter) && !self.typed.trim().is_empty() {
                self.typed_choice = Some(PathBuf::from(self.typed.trim()));
                self.note = None;
                ui.ctx().request_repaint();
            }
        });
    }

    /// The chosen file once the dialog closed (`None` while open, or when nothing was chosen).
    pub fn poll(&mut self) -> Option<PathBuf> {
        if let Some(typed) = self.typed_choice.take() {
            return Some(typed);
        }
        let picked = self.pending.as_ref()?.try_recv().ok()?;
        self.pending = None;
        if picked.is_none() {
            self.note = Some("No file was chosen (or no file dialog is available here): type the path instead.".into());
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui_kittest::kittest::Queryable;

    #[test]
    fn where_no_dialog_opens_a_typed_path_is_the_choice() {
        let no_dialog =
            FileDialog { note: Some("No file was chosen: type the path instead.".into()), ..Default::default() };
        let mut h = egui_kittest::Harness::builder()
            .build_ui_state(|ui, dialog: &mut FileDialog| dialog.fallback_ui(ui), no_dialog);
        h.run();
        h.get_by_role(egui::Role::TextInput).focus();
        h.run();
        h.get_by_role(egui::Role::TextInput).type_text("/tmp/audit.csv");
        h.run();
        h.get_by_label("Use this path").click();
        h.run();
        assert_eq!(h.state_mut().poll(), Some(PathBuf::from("/tmp/audit.csv")));
        assert_eq!(h.state_mut().poll(), None, "given once");
        assert!(h.query_by_label("Use this path").is_none(), "the field goes once a path is given");
    }
}
