//! The lesson bar: plays a lesson's steps like slides (a lesson file's, or the bundled tour of
//! the workshop store). It shows the step's title and note, goes to the next or previous step
//! with Ctrl+PageDown / Ctrl+PageUp (what a presenter's clicker sends, with Ctrl) or its
//! buttons, lists every step to jump to, and offers the tour on the workshop store's first run.
//! Where a step goes is the app's business: the bar only says which step.

use eframe::egui::{self, RichText, Ui};

use crate::lesson::{Lesson, Step};

/// The next and previous step.
pub const NEXT_STEP: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::PageDown);
pub const PREVIOUS_STEP: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::PageUp);

/// What the bar asks of the app.
#[derive(Clone, Debug, PartialEq)]
pub enum LessonAction {
    /// Go where this step says.
    Go(Box<Step>),
    /// The tour was offered and taken.
    StartTour,
}

/// The lesson being played, and the step shown.
#[derive(Default)]
pub struct LessonPlayer {
    lesson: Option<Lesson>,
    current: usize,
    /// The lesson is the bundled tour (not a file's).
    is_tour: bool,
    /// The tour is offered (the workshop store's first run).
    pub offering_tour: bool,
    /// A lesson the user ended (reopened from the Help menu).
    ended: Option<(Lesson, bool)>,
}

impl LessonPlayer {
    /// Plays a lesson from its first step; gives that step.
    pub fn play(&mut self, lesson: Lesson, is_tour: bool) -> Option<Step> {
        self.offering_tour = false;
        self.ended = None;
        self.current = 0;
        self.is_tour = is_tour;
        let first = lesson.steps.first().cloned();
        self.lesson = Some(lesson);
        first
    }

    pub fn lesson(&self) -> Option<&Lesson> {
        self.lesson.as_ref()
    }

    pub fn is_tour(&self) -> bool {
        self.is_tour && self.lesson.is_some()
    }

    /// The step shown (its index from 0) and how many there are.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.lesson.as_ref().map(|l| (self.current, l.steps.len()))
    }

    /// Goes to a step by index; gives it.
    pub fn go(&mut self, index: usize) -> Option<Step> {
        let step = self.lesson.as_ref()?.steps.get(index)?.clone();
        self.current = index;
        Some(step)
    }

    pub fn next_step(&mut self) -> Option<Step> {
        self.go(self.current + 1)
    }

    pub fn previous_step(&mut self) -> Option<Step> {
        self.go(self.current.checked_sub(1)?)
    }

    /// Ends the lesson (the window stays where it is); it can be played again from Help.
    pub fn end(&mut self) {
        if let Some(lesson) = self.lesson.take() {
            self.ended = Some((lesson, self.is_tour));
        }
    }

    /// The lesson ended, to play again (a file's; the tour is always there).
    pub fn ended_lesson(&self) -> Option<&str> {
        self.ended.as_ref().filter(|(_, tour)| !tour).map(|(l, _)| l.title.as_str())
    }

    /// Plays the ended lesson again from its first step.
    pub fn replay(&mut self) -> Option<Step> {
        let (lesson, tour) = self.ended.take()?;
        self.play(lesson, tour)
    }

    /// Forgets the lesson (another store was opened).
    pub fn forget(&mut self) {
        *self = LessonPlayer::default();
    }

    /// The keys of the bar (also while it is drawn nowhere: the keys work in every view).
    pub fn keys(&mut self, ui: &Ui) -> Option<LessonAction> {
        self.lesson.as_ref()?;
        let (next, previous) = ui.input_mut(|i| (i.consume_shortcut(&NEXT_STEP), i.consume_shortcut(&PREVIOUS_STEP)));
        let step = if next {
            self.next_step()
        } else if previous {
            self.previous_step()
        } else {
            None
        };
        step.map(|s| LessonAction::Go(Box::new(s)))
    }

    /// The bar under the top bar, while a lesson plays.
    pub fn ui(&mut self, ui: &mut Ui) -> Option<LessonAction> {
        let Some(lesson) = &self.lesson else {
            return None;
        };
        let total = lesson.steps.len();
        let Some(step) = lesson.steps.get(self.current) else {
            ui.horizontal(|ui| {
                ui.strong(format!("📖 {}", lesson.title));
                ui.weak("This lesson has no steps.");
            });
            if ui.button("× End").clicked() {
                self.end();
            }
            return None;
        };
        let mut go = None;
        let mut end = false;
        let ctx = ui.ctx().clone();
        let tip = |what: &str, s: &egui::KeyboardShortcut| format!("{what} ({})", ctx.format_shortcut(s));
        ui.horizontal_wrapped(|ui| {
            let kind = if self.is_tour { "🎓 Tour" } else { "📖 Lesson" };
            ui.label(RichText::new(format!("{kind}: {}", lesson.title)).strong());
            ui.separator();
            let picker = egui::ComboBox::from_id_salt("lesson_step")
                .selected_text(format!("Step {} of {total}", self.current + 1))
                .show_ui(ui, |ui| {
                    for (i, s) in lesson.steps.iter().enumerate() {
                        if ui.selectable_label(i == self.current, format!("{}. {}", i + 1, s.title)).clicked() {
                            go = Some(i);
                        }
                    }
                });
            picker.response.on_hover_text("Every step of the lesson: pick one to go there");
            let previous = ui.add_enabled(self.current > 0, egui::Button::new("◀ Previous"));
            if previous.on_hover_text(tip("The previous step", &PREVIOUS_STEP)).clicked() {
                go = self.current.checked_sub(1);
            }
            let next = ui.add_enabled(self.current + 1 < total, egui::Button::new("Next ▶"));
            if next.on_hover_text(tip("The next step", &NEXT_STEP)).clicked() {
                go = Some(self.current + 1);
            }
            if ui.button("↺ Again").on_hover_text("Go back to where this step starts").clicked() {
                go = Some(self.current);
            }
            if ui.button("× End").on_hover_text("Stop the lesson here (Help plays it again)").clicked() {
                end = true;
            }
        });
        // (A long note scrolls: the views below keep most of the window.)
        let max_height = (ui.ctx().content_rect().height() * 0.25).max(60.0);
        egui::ScrollArea::vertical().max_height(max_height).auto_shrink([false, true]).show(ui, |ui| {
            ui.label(RichText::new(&step.title).heading());
            if !step.note.is_empty() {
                ui.label(&step.note);
            }
        });
        ui.add_space(2.0);
        if end {
            self.end();
            return None;
        }
        go.and_then(|i| self.go(i)).map(|s| LessonAction::Go(Box::new(s)))
    }

    /// The first-run offer of the tour.
    pub fn offer_ui(&mut self, ctx: &egui::Context) -> Option<LessonAction> {
        if !self.offering_tour {
            return None;
        }
        let mut action = None;
        egui::Window::new("Welcome to eventscope")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label("This is the workshop store: sixty orders, their customers' accounts and a tax change.");
                ui.label("A five-step tour shows what eventscope finds in it. Help, Guided tour, plays it again.");
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button(RichText::new("🎓 Take the tour").strong()).clicked() {
                        action = Some(LessonAction::StartTour);
                    }
                    if ui.button("Not now").clicked() {
                        self.offering_tour = false;
                    }
                });
            });
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_go_forward_and_back_within_the_lesson() {
        let mut player = LessonPlayer::default();
        let tour = crate::lesson::tour();
        let first = player.play(tour.clone(), true).unwrap();
        assert_eq!(first, tour.steps[0]);
        assert!(player.previous_step().is_none());
        assert_eq!(player.next_step().unwrap(), tour.steps[1]);
        assert_eq!(player.go(4).unwrap(), tour.steps[4]);
        assert!(player.next_step().is_none(), "no step after the last");
        assert_eq!(player.position(), Some((4, 5)));
        player.end();
        assert!(player.lesson().is_none());
        assert_eq!(player.ended_lesson(), None, "the tour is replayed from Help, not as a lesson");
        assert_eq!(player.replay().unwrap(), tour.steps[0]);
    }
}
