//! The header: the stream's category, label and id (🏷 picks the label field), its anomalies,
//! loading and folding progress, the player and the scrubber; in presenter mode the version and
//! event type large.

use super::*;

impl HistoryPanel {
    pub(super) fn header_ui(&mut self, ui: &mut Ui) {
        let len = self.len();
        let head = self.history.as_ref().map_or(0, History::len);
        ui.add_space(4.0);
        // (Wrapped: warnings go to the next line rather than off the window's edge.)
        ui.horizontal_wrapped(|ui| {
            ui.heading(match self.mode {
                Mode::Stream => "Stream",
                Mode::Projection => "Projection",
            });
            let stream = self.stream.clone().unwrap_or_default();
            if let Some(label) = self.layout.label.clone().filter(|_| self.mode == Mode::Stream) {
                if let Some(category) = &label.category {
                    ui.weak(category);
                }
                if let Some(text) = &label.label {
                    ui.add(egui::Label::new(RichText::new(text).heading().strong()).selectable(true));
                }
            }
            ui.add(egui::Label::new(RichText::new(&stream).monospace().strong()).selectable(true));
            if ui.small_button("Copy id").clicked() {
                ui.ctx().copy_text(stream);
            }
            self.link_menu_ui(ui);
            if self.mode == Mode::Stream {
                self.label_field_menu_ui(ui);
            }
            if let Some(history) = self.history.as_ref().filter(|_| self.mode == Mode::Stream) {
                for anomaly in history.anomalies().iter().take(3) {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {anomaly}"));
                }
                if history.anomalies().len() > 3 {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("and {} more anomalies", history.anomalies().len() - 3),
                    );
                }
            }
        });
        if let Some(error) = &self.loader.load_error {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, error);
                if self.loader.stream_changed && ui.button("Open it again").clicked() {
                    self.loader.reopen = true;
                }
            });
        }
        if !self.loader.done {
            let total = self.loader.total.unwrap_or(0).max(1);
            let read = self.loader.progress.unwrap_or(head);
            ui.add(egui::ProgressBar::new(read as f32 / total as f32).desired_width(ui.available_width()).text(
                format!(
                    "{}: {read} of {} events",
                    if self.mode == Mode::Stream { "loading" } else { "reading the store" },
                    self.loader.total.map_or("?".to_owned(), |t| t.to_string())
                ),
            ));
        }
        if let Some(history) = self.history.as_ref().filter(|h| h.is_folding()) {
            let folded = history.folded();
            ui.add(
                egui::ProgressBar::new(folded as f32 / head.max(1) as f32)
                    .desired_width(ui.available_width())
                    .text(format!("folding with {}: {folded} of {head} events", history.fold_name())),
            );
        }
        if len == 0 {
            return;
        }
        if self.layout.presenter {
            // For the room: where we are, large.
            let at = self.label_of(self.cursor);
            let event_type = self.summary_at(self.cursor).map_or(String::new(), |s| s.event_type.to_string());
            ui.label(RichText::new(format!("{at} · {event_type}")).size(30.0).strong());
        }
        let now = ui.input(|i| i.time);
        ui.horizontal_wrapped(|ui| {
            if ui.button("⏮").on_hover_text("First version (Home)").clicked() {
                self.set_cursor(0);
            }
            if ui.button("◀").on_hover_text("Previous version (Left arrow)").clicked() {
                self.step(-1);
            }
            let play = if self.playback.playing { "⏸ Pause" } else { "▶ Play" };
            // (One width for both words: the buttons after it do not move.)
            let size = egui::vec2(74.0, ui.spacing().interact_size.y);
            let play = ui.add_sized(size, egui::Button::new(play));
            if play.on_hover_text("Play through the versions (Space)").clicked() {
                self.toggle_play(now);
            }
            if ui.button("▶").on_hover_text("Next version (Right arrow)").clicked() {
                self.step(1);
            }
            if ui.button("⏭").on_hover_text("Last version (End)").clicked() {
                self.set_cursor(usize::MAX);
            }
            egui::ComboBox::from_label("events/s")
                .selected_text(format!("{}", SPEEDS[self.playback.speed_index]))
                .width(50.0)
                .show_ui(ui, |ui| {
                    for (i, speed) in SPEEDS.iter().enumerate() {
                        ui.selectable_value(&mut self.playback.speed_index, i, format!("{speed}"));
                    }
                });
            let unit = self.unit();
            let version = self.cursor_version().unwrap_or(0);
            let last = self.len().checked_sub(1).and_then(|i| self.ordinal_at(i));
            ui.label(RichText::new(format!("{unit} {version} of {}", last.unwrap_or(0))).strong());
            let about = if self.loader.tail.is_some() { "≈" } else { "" };
            ui.label(format!("(event {} of {about}{len})", self.cursor + 1));
            ui.separator();
            let jump = ui.add(
                egui::TextEdit::singleline(&mut self.timeline.jump_text)
                    .hint_text(format!("go to {unit}"))
                    .desired_width(110.0),
            );
            if jump.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                self.timeline.jump_error = match self.timeline.jump_text.trim().parse::<i64>() {
                    Ok(v) => self.jump_to_version(v).err(),
                    Err(_) => Some(format!("“{}” is not a {unit} number", self.timeline.jump_text.trim())),
                };
                self.playback.playing = false;
            }
            if let Some(error) = &self.timeline.jump_error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
            if let Some(pending) = self.loader.pending_version {
                ui.spinner();
                ui.weak(format!("going to {unit} {pending} once it is read"));
            }
            ui.separator();
            let marked = self.cursor_version().and_then(|v| self.bookmarks.get(&v));
            let tip = match marked {
                Some(note) if !note.is_empty() => format!("Bookmarked: {note} (the Bookmarks window edits it)"),
                Some(_) => "Bookmarked (the Bookmarks window edits its note)".to_owned(),
                None => format!("Bookmark this {unit}, with a note (Ctrl+D)"),
            };
            let button = egui::Button::selectable(marked.is_some(), "🔖 Bookmark");
            if ui.add(button).on_hover_text(tip).clicked() {
                self.want_bookmark();
            }
            self.follow_ui(ui);
        });
        let mut index = self.cursor;
        ui.spacing_mut().slider_width = (ui.available_width() - 60.0).max(100.0);
        let slider = egui::Slider::new(&mut index, 0..=len.saturating_sub(1)).show_value(false).text("scrub");
        let response = ui.add(slider);
        if response.changed() {
            self.playback.playing = false;
            self.set_cursor(index);
        }
        ui.add_space(2.0);
    }

    /// What is on screen as a link: the stream, the cursor's version and the fold.
    pub fn link(&self) -> Option<crate::deep_link::Link> {
        let store = self.layout.store_link.clone()?;
        let stream = self.stream.clone().filter(|_| self.mode == Mode::Stream)?;
        let fold = self.picker.fold.as_ref().map(|f| match &f.script.source {
            ScriptSource::Example { name, .. } => (*name).to_owned(),
            ScriptSource::Lesson { name, .. } => name.clone(),
            ScriptSource::File(path) => {
                std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string()
            }
        });
        Some(crate::deep_link::Link {
            store,
            stream: Some(stream),
            version: self.cursor_version(),
            fold,
            view: Some(crate::ui::View::History),
        })
    }

    /// "🔗 Link": the command line or the `eventscope://` link that opens what is on screen.
    fn link_menu_ui(&mut self, ui: &mut Ui) {
        let Some(link) = self.link() else { return };
        ui.menu_button("🔗 Link", |ui| {
            if ui.button("Copy the command line").on_hover_text(link.command_line()).clicked() {
                ui.ctx().copy_text(link.command_line());
                ui.close();
            }
            if ui.button("Copy the eventscope:// link").on_hover_text(link.url()).clicked() {
                ui.ctx().copy_text(link.url());
                ui.close();
            }
            ui.weak("Opens this stream at this version with this fold (a password is never in it).");
        })
        .response
        .on_hover_text("A link that opens exactly this: the stream, the version, the fold");
    }

    /// "🏷": which field of the first event labels the streams of this category.
    pub(super) fn label_field_menu_ui(&mut self, ui: &mut Ui) {
        let Some((category, payload)) = &self.first_payload else {
            return;
        };
        let candidates = crate::labels::label_candidates(payload);
        if candidates.is_empty() {
            return;
        }
        let category = category.clone();
        let in_use = self.layout.label.as_ref().and_then(|l| l.field.clone());
        let mut chosen = None;
        ui.menu_button("🏷", |ui| {
            ui.weak(format!("Label the {category} streams by this field of their first event:"));
            if ui.button("automatic (the field eventscope finds)").clicked() {
                chosen = Some(None);
                ui.close();
            }
            for field in &candidates {
                let value = crate::labels::label_of(payload, field).unwrap_or_default();
                let button = egui::Button::selectable(in_use.as_ref() == Some(field), format!("{field}  ({value})"));
                if ui.add(button).clicked() {
                    chosen = Some(Some(field.clone()));
                    ui.close();
                }
            }
        })
        .response
        .on_hover_text("Choose the field that labels this category's streams");
        if let Some(field) = chosen {
            self.layout.chosen_label_field = Some((category, field));
        }
    }
}
