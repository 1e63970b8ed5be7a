//! Following the open stream: once it is read to its end, "📡 Follow" looks for events appended
//! after its last version every second (one indexed read of the stream's newest versions, never
//! a write; none while the window is minimised). New events join the timeline as a page of
//! their own, the fold goes on from where it was, and the cursor stays on the newest event if it
//! was there; if it was elsewhere, the events that arrived meanwhile are marked 🆕 until the user
//! goes to them.

use super::*;

/// How often a followed stream is looked at (seconds).
const INTERVAL: f64 = 1.0;

/// Events a followed stream gained: how many, and the newest one's version and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrived {
    pub events: usize,
    pub last_version: i64,
    pub last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Default)]
pub(super) struct StreamFollow {
    pub(super) on: bool,
    /// The look in progress, and where it reads from.
    request: Option<(RequestId, EventCursor)>,
    /// When the last look was asked for (the window's clock).
    last_look: Option<f64>,
    /// The window's clock and whether it is shown, as of the last frame.
    now: f64,
    visible: bool,
    /// The first event that arrived while the cursor was elsewhere.
    pub(super) unseen_from: Option<usize>,
    /// How many events arrived since the app last asked, and the newest one's version and time
    /// (for the streams list's counts).
    arrived: Option<Arrived>,
    pub(super) error: Option<String>,
}

impl StreamFollow {
    /// What another stream opened keeps: whether to follow.
    pub(super) fn carried(&self) -> StreamFollow {
        StreamFollow { on: self.on, ..StreamFollow::default() }
    }
}

impl HistoryPanel {
    pub fn is_following(&self) -> bool {
        self.follow.on
    }

    /// Starts or stops following the open stream.
    pub fn set_following(&mut self, on: bool) {
        self.follow.on = on;
        self.follow.last_look = None;
        self.follow.error = None;
    }

    /// What arrived by following since the last call, with the stream (for the streams list).
    pub fn take_arrived(&mut self) -> Option<(String, Arrived)> {
        let arrived = self.follow.arrived.take()?;
        Some((self.stream.clone()?, arrived))
    }

    /// The events that arrived while the cursor was elsewhere (from this index on), if any.
    pub fn unseen_from(&self) -> Option<usize> {
        self.follow.unseen_from
    }

    /// Notes the clock and whether the window is shown (each frame, from `ui`).
    pub(super) fn tick_follow(&mut self, ui: &Ui) {
        self.follow.now = ui.input(|i| i.time);
        self.follow.visible = !ui.ctx().input(|i| i.viewport().minimized.unwrap_or(false));
        if self.follow.unseen_from.is_some_and(|from| self.cursor >= from && self.cursor + 1 >= self.len()) {
            self.follow.unseen_from = None;
        }
        if self.follow.on {
            ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(INTERVAL));
        }
    }

    /// Asks for the events after the last version, once a second while following, when the
    /// stream is read to its end and the window is shown.
    pub(super) fn pump_follow(&mut self, worker: &mut Worker) {
        let f = &self.follow;
        let due = f.last_look.is_none_or(|at| f.now - at >= INTERVAL);
        let ready = self.mode == Mode::Stream
            && self.loader.done
            && self.loader.load_error.is_none()
            && self.loader.tail.is_none()
            && self.loader.load_request.is_none();
        if !f.on || !f.visible || f.request.is_some() || !due || !ready {
            return;
        }
        let Some(stream) = self.stream.clone() else { return };
        let last = self.len().checked_sub(1).and_then(|i| self.summary_at(i)).map(|s| s.version);
        let cursor = EventCursor::from_version(last.map_or(i64::MIN, |v| v.saturating_add(1)));
        let request = Request::FollowStream { stream, cursor: cursor.clone(), limit: LOAD_PAGE };
        self.follow.request = Some((worker.send(request), cursor));
        self.follow.last_look = Some(self.follow.now);
    }

    /// Takes the reply to a look; any other is handed back.
    pub(super) fn follow_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let Some((_, cursor)) = self.follow.request.take_if(|(request, _)| *request == id) else {
            return Some(reply);
        };
        match reply {
            Reply::StreamPage { events, .. } if !events.is_empty() => {
                self.follow.error = None;
                let first_new = self.len();
                let at_newest = self.cursor + 1 >= first_new;
                self.loader.total = Some(self.loader.total.unwrap_or(0) + events.len() as i64);
                // (A page of its own, read again from where it was read if it is let go.)
                self.loader.page_starts.push(cursor);
                if let Some(last) = events.last() {
                    let before = self.follow.arrived.take().map_or(0, |a| a.events);
                    self.follow.arrived = Some(Arrived {
                        events: before + events.len(),
                        last_version: last.version,
                        last_recorded_at: last.recorded_at,
                    });
                }
                self.push_events(events, true);
                if at_newest {
                    self.place_cursor(self.len().saturating_sub(1));
                } else if self.follow.unseen_from.is_none() {
                    self.follow.unseen_from = Some(first_new);
                }
                // (More may be waiting: look again at once.)
                self.follow.last_look = None;
            }
            Reply::StreamPage { .. } => self.follow.error = None,
            Reply::Failed(failure) => {
                self.follow.error = Some(format!("following stopped: {failure}"));
                self.follow.on = false;
            }
            _ => {}
        }
        None
    }

    /// The toggle, and what arrived unseen.
    pub(super) fn follow_ui(&mut self, ui: &mut Ui) {
        if self.mode != Mode::Stream {
            return;
        }
        let mut on = self.follow.on;
        let tip = "Look for new events every second (one indexed read of the newest versions; nothing is \
                   written; paused while the window is minimised)";
        if ui.toggle_value(&mut on, "📡 Follow").on_hover_text(tip).changed() {
            self.set_following(on);
        }
        if self.follow.on && !self.loader.done {
            ui.weak("(once the stream is read)");
        }
        if let Some(from) = self.follow.unseen_from {
            let new = self.len().saturating_sub(from);
            let text = format!("🆕 {} ⏭", crate::ui::counted(new as i64, "new event", "new events"));
            if ui.button(text).on_hover_text("Appended while you looked elsewhere: go to the newest").clicked() {
                self.set_cursor(usize::MAX);
                self.follow.unseen_from = None;
            }
        }
        if let Some(error) = &self.follow.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
    }
}
