//! Stepping and playing: the keys (← → ↑ ↓ PgUp PgDn Home End Space) and play at a chosen speed,
//! from event to event or, with the timeline's filter, from listed event to listed event.

use super::*;

impl HistoryPanel {
    /// Keyboard: ←/→ one step, PgUp/PgDn ten, Home/End, Space play/pause. Ignored while a text
    /// field has the focus.
    pub(super) fn handle_keys(&mut self, ui: &Ui) {
        if ui.ctx().text_edit_focused() || self.len() == 0 {
            return;
        }
        let none = egui::Modifiers::NONE;
        let (left, right, page_up, page_down, home, end, space) = ui.ctx().input_mut(|i| {
            (
                // (↑ and ↓ step too: the timeline is a vertical list.)
                i.consume_key(none, Key::ArrowLeft) | i.consume_key(none, Key::ArrowUp),
                i.consume_key(none, Key::ArrowRight) | i.consume_key(none, Key::ArrowDown),
                i.consume_key(none, Key::PageUp),
                i.consume_key(none, Key::PageDown),
                i.consume_key(none, Key::Home),
                i.consume_key(none, Key::End),
                i.consume_key(none, Key::Space),
            )
        });
        if ui.ctx().input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, Key::D)) {
            self.want_bookmark();
        }
        if left || right || page_up || page_down || home || end {
            self.playback.playing = false;
        }
        if left {
            self.step(-1);
        }
        if right {
            self.step(1);
        }
        if page_up {
            self.step(-10);
        }
        if page_down {
            self.step(10);
        }
        if home {
            self.set_cursor(0);
        }
        if end {
            self.set_cursor(usize::MAX);
        }
        if space {
            self.toggle_play(ui.input(|i| i.time));
        }
    }

    pub(super) fn toggle_play(&mut self, now: f64) {
        self.playback.playing = !self.playback.playing;
        self.playback.last_time = Some(now);
        self.playback.carried = 0.0;
        if self.playback.playing && self.cursor + 1 >= self.len() {
            self.set_cursor(0);
        }
    }

    pub(super) fn advance_playback(&mut self, ui: &Ui) {
        if !self.playback.playing {
            return;
        }
        let now = ui.input(|i| i.time);
        let speed = SPEEDS[self.playback.speed_index.min(SPEEDS.len() - 1)];
        let elapsed = now - self.playback.last_time.unwrap_or(now);
        self.playback.last_time = Some(now);
        let steps = self.playback.carried + elapsed * speed;
        let whole = steps.floor();
        self.playback.carried = steps - whole;
        if whole >= 1.0 {
            self.step(whole as i64);
        }
        let at_end = match self.filter.only_these && self.filter.is_active() {
            true => {
                let cursor = self.cursor;
                self.listed().last().is_none_or(|&last| cursor >= last)
            }
            false => self.cursor + 1 >= self.len(),
        };
        if at_end && self.loader.done {
            self.playback.playing = false;
        } else {
            ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(1.0 / speed));
        }
    }

    pub(super) fn step(&mut self, delta: i64) {
        if self.filter.only_these && self.filter.is_active() {
            // From listed event to listed event.
            let listed = self.listed().to_vec();
            let here = listed.partition_point(|&i| i < self.cursor);
            // (Never backwards on →, nor forwards on ←: past the last listed event, → stays.)
            let target = if delta > 0 {
                let on = listed.get(here).is_some_and(|&i| i == self.cursor);
                let ahead = &listed[(here + usize::from(on)).min(listed.len())..];
                ahead.get(delta as usize - 1).or(ahead.last())
            } else {
                let behind = &listed[..here];
                behind.len().checked_sub(delta.unsigned_abs() as usize).and_then(|i| behind.get(i)).or(behind.first())
            };
            if let Some(&target) = target {
                self.set_cursor(target);
            }
            return;
        }
        let target = (self.cursor as i64 + delta).max(0) as usize;
        self.set_cursor(target);
    }
}
