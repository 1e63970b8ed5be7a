//! Following the global log in Audit: "📡 Follow" looks every second for the events appended
//! under the filter applied (the worker keeps a [`crate::follow::Follower`] for it: one indexed
//! query a look, nothing written, none while the window is minimised). New events go to the
//! top of the list (it is newest first) and are marked 🆕 until the user has seen them.

use eframe::egui::Ui;

use crate::audit::AuditFilter;
use crate::model::Event;
use crate::worker::{Reply, Request, RequestId, Worker};

/// How often the log is looked at (seconds).
const INTERVAL: f64 = 1.0;

#[derive(Default)]
pub struct LogFollow {
    pub on: bool,
    request: Option<RequestId>,
    last_look: Option<f64>,
    /// How many of the rows at the top arrived while following (marked 🆕).
    pub arrived: usize,
    /// Events arrived and not yet taken by the panel.
    new: Vec<Event>,
    pub error: Option<String>,
}

impl LogFollow {
    /// Starts or stops following.
    pub fn set(&mut self, on: bool) {
        *self = LogFollow { on, ..LogFollow::default() };
    }

    /// Whether a look has come back since following started (the worker follows from then).
    pub fn has_looked(&self) -> bool {
        self.on && self.last_look.is_some() && self.request.is_none()
    }

    /// A new filter: what arrived under the old one is no longer told apart.
    pub fn restart(&mut self) {
        self.set(self.on);
    }

    /// Asks for the events appended under `filter`, once a second while following and shown.
    pub fn pump(&mut self, ui: &Ui, worker: &mut Worker, filter: Option<&AuditFilter>) {
        if !self.on {
            return;
        }
        ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(INTERVAL));
        let now = ui.input(|i| i.time);
        let minimised = ui.ctx().input(|i| i.viewport().minimized.unwrap_or(false));
        let due = self.last_look.is_none_or(|at| now - at >= INTERVAL);
        if let Some(filter) = filter.filter(|_| due && !minimised && self.request.is_none()) {
            self.request = Some(worker.send(Request::FollowLog { filter: filter.clone() }));
            self.last_look = Some(now);
        }
    }

    /// Takes the reply to a look (its events are then [`LogFollow::take_new`]'s); any other
    /// reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if self.request != Some(id) {
            return Some(reply);
        }
        self.request = None;
        match reply {
            Reply::LogFollowed { events } => {
                self.error = None;
                self.arrived += events.len();
                self.new.extend(events);
            }
            Reply::Failed(failure) => {
                self.error = Some(format!("following stopped: {failure}"));
                self.on = false;
            }
            _ => {}
        }
        None
    }

    /// The events that arrived since the last call, in store order (oldest first).
    pub fn take_new(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.new)
    }
}
