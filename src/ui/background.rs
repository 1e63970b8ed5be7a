//! Work too slow for a frame (the line diff of two large states, say), run on a short-lived
//! thread and picked up by a later frame; small work runs at once, so a small store's view is
//! complete in the frame that asked for it.

use std::sync::mpsc::{Receiver, TryRecvError, channel};

use eframe::egui;

/// A value being computed, or computed.
pub enum Background<T> {
    Ready(T),
    Running(Receiver<T>),
    /// The thread ended without an answer (it panicked).
    Lost,
}

impl<T: Send + 'static> Background<T> {
    /// Runs `work` now when `inline`, else on its own thread (which asks for a repaint when it
    /// is done).
    pub fn run(inline: bool, ctx: &egui::Context, work: impl FnOnce() -> T + Send + 'static) -> Background<T> {
        if inline {
            return Background::Ready(work());
        }
        let (sender, receiver) = channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name("eventscope-diff".into()).spawn(move || {
            // The receiver may be gone (the user moved on): nothing to do then.
            let _ = sender.send(work());
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => Background::Running(receiver),
            Err(_) => Background::Lost,
        }
    }

    /// Takes the thread's answer if it has come.
    pub fn poll(&mut self) {
        if let Background::Running(receiver) = self {
            match receiver.try_recv() {
                Ok(value) => *self = Background::Ready(value),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => *self = Background::Lost,
            }
        }
    }

    /// The value, once it is there (see [`Background::poll`]).
    pub fn value(&self) -> Option<&T> {
        match self {
            Background::Ready(value) => Some(value),
            _ => None,
        }
    }

    /// Whether the thread ended without an answer.
    pub fn is_lost(&self) -> bool {
        matches!(self, Background::Lost)
    }
}
