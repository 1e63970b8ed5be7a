//! The Bookmarks window: the versions the user marked in this store (🔖 in a stream's header, or
//! Ctrl+D) and the positions marked in projection runs, each with its note, a click from its
//! place. Bookmarks are kept with the window's settings for the store (`settings.rs`), never in
//! the store.

use eframe::egui::{self, RichText};

use super::settings::{Bookmark, RememberedScript};

/// What the window asks of the app.
pub enum BookmarkAction {
    /// Open this version of this stream in the history.
    Go { stream: String, version: i64 },
    /// Run this projection and go to this global position.
    GoProjection { script: RememberedScript, position: i64 },
}

#[derive(Default)]
pub struct BookmarksWindow {
    pub open: bool,
    /// The bookmark whose note gets the keyboard next frame.
    focus: Option<usize>,
}

impl BookmarksWindow {
    /// Adds a bookmark (or finds the one already there) and opens the window on its note.
    pub fn bookmark(&mut self, bookmarks: &mut Vec<Bookmark>, wanted: Bookmark) {
        let same = |b: &Bookmark| {
            b.stream == wanted.stream && b.version == wanted.version && b.projection == wanted.projection
        };
        let index = match bookmarks.iter().position(same) {
            Some(index) => index,
            None => {
                bookmarks.push(wanted);
                bookmarks.len() - 1
            }
        };
        self.open = true;
        self.focus = Some(index);
    }

    /// `label`: what a person calls a stream, where known.
    pub fn ui(
        &mut self,
        ctx: &egui::Context,
        bookmarks: &mut Vec<Bookmark>,
        label: &dyn Fn(&str) -> Option<String>,
    ) -> Option<BookmarkAction> {
        if !self.open {
            return None;
        }
        let mut action = None;
        let mut open = self.open;
        let window = egui::Window::new("🔖 Bookmarks")
            .open(&mut open)
            .min_width(420.0)
            .default_pos(ctx.content_rect().right_top() + egui::vec2(-480.0, 80.0))
            .resizable(true);
        window.show(ctx, |ui| {
            if bookmarks.is_empty() {
                ui.label(
                    "No bookmarks yet: 🔖 in a stream's or projection run's header (or Ctrl+D) marks the version \
                     or position shown.",
                );
                return;
            }
            ui.weak("Kept for this store on this computer, never in the store.");
            let mut removed = None;
            egui::ScrollArea::vertical().max_height(360.0).show(ui, |ui| {
                egui::Grid::new("bookmarks").num_columns(3).striped(true).show(ui, |ui| {
                    for (i, bookmark) in bookmarks.iter_mut().enumerate() {
                        let (text, tip) = match &bookmark.projection {
                            Some(_) => (
                                format!("📽 {} #{}", bookmark.stream, bookmark.version),
                                format!("Run {} and go to position {}", bookmark.stream, bookmark.version),
                            ),
                            None => {
                                let name = label(&bookmark.stream).unwrap_or_else(|| bookmark.stream.clone());
                                (
                                    format!("{name} v{}", bookmark.version),
                                    format!("Open {} at v{}", bookmark.stream, bookmark.version),
                                )
                            }
                        };
                        if ui.link(RichText::new(text).monospace()).on_hover_text(tip).clicked() {
                            action = Some(match &bookmark.projection {
                                Some(script) => {
                                    BookmarkAction::GoProjection { script: script.clone(), position: bookmark.version }
                                }
                                None => {
                                    BookmarkAction::Go { stream: bookmark.stream.clone(), version: bookmark.version }
                                }
                            });
                        }
                        let note = ui.add(
                            egui::TextEdit::singleline(&mut bookmark.note)
                                .hint_text("a note: the retried command, say")
                                .desired_width(260.0)
                                .min_size(egui::vec2(200.0, 0.0)),
                        );
                        if self.focus == Some(i) {
                            note.request_focus();
                            self.focus = None;
                        }
                        if ui.small_button("✖").on_hover_text("Remove this bookmark").clicked() {
                            removed = Some(i);
                        }
                        ui.end_row();
                    }
                });
            });
            if let Some(i) = removed {
                bookmarks.remove(i);
            }
        });
        self.open = open;
        action
    }
}
