//! What the SQL panel says about safety: the PostgreSQL role's powers (with the statements that
//! create a role that can only read), the "I understand" tick box a privileged role needs before
//! previews run, and the functions the user allows by name for this session. The guard itself
//! is the store's (`store::sqlite_guard`, `store::pg_guard`); this panel only holds the user's
//! word and passes it along with each preview.

use egui::Ui;

use crate::projection::sql::{PreviewError, PreviewPermissions};
use crate::store::pg_guard::{RolePrivileges, read_only_role_sql};

#[derive(Default)]
pub struct PreviewSafety {
    /// What the connected PostgreSQL role may do (`None` on SQLite).
    role: Option<RolePrivileges>,
    pub permissions: PreviewPermissions,
    show_role_sql: bool,
}

impl PreviewSafety {
    pub fn new(role: Option<RolePrivileges>) -> PreviewSafety {
        PreviewSafety { role, ..Default::default() }
    }

    /// The role's powers, the statements for a reading role, the tick box and the allowed
    /// functions. Draws nothing for a plain reading role with nothing allowed.
    pub fn ui(&mut self, ui: &mut Ui) {
        if let Some(role) = self.role.as_ref().filter(|r| !r.powers().is_empty()) {
            let colour = if role.is_privileged() { ui.visuals().warn_fg_color } else { ui.visuals().weak_text_color() };
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(colour, format!("⚠ Connected as {}", role.summary()));
                ui.toggle_value(&mut self.show_role_sql, "Use a read-only role…");
            });
            if self.show_role_sql {
                ui.label("Run these as an administrator (eventscope never does), then connect as eventscope_reader:");
                let mut sql = read_only_role_sql(&role.database);
                ui.add(egui::TextEdit::multiline(&mut sql).code_editor().desired_rows(3).desired_width(f32::INFINITY));
                ui.label("Keep its password out of the URL: PGPASSWORD or ~/.pgpass are read as usual.");
            }
            if role.is_privileged() {
                ui.checkbox(
                    &mut self.permissions.privileged_role,
                    "I understand: run previews as this privileged role for this session",
                );
            }
        }
        if !self.permissions.allowed_functions.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label("Functions you allow:");
                let mut removed = None;
                for name in &self.permissions.allowed_functions {
                    if ui.button(format!("{name} ✖")).on_hover_text("No longer allow it").clicked() {
                        removed = Some(name.clone());
                    }
                }
                if let Some(name) = removed {
                    self.permissions.allowed_functions.remove(&name);
                }
            });
        }
    }

    /// Under a refusal the user can lift: a button to allow the function by name. True when
    /// clicked (the preview should run again).
    pub fn offer_ui(&mut self, error: &PreviewError, ui: &mut Ui) -> bool {
        match error {
            PreviewError::FunctionNotAllowed { function, .. } => {
                let clicked = ui
                    .button(format!("Allow {function}() for this session and run again"))
                    .on_hover_text("Only if you know what it does: it is not built into PostgreSQL")
                    .clicked();
                if clicked {
                    self.permissions.allowed_functions.insert(function.clone());
                }
                clicked
            }
            _ => false,
        }
    }
}
