//! Folds (reducers) turn a stream's events into state. [`MergeFold`] is the generic fold that
//! works on any store; [`History`] replays a stream with checkpoints so that the state at any
//! version is cheap, and answers blame questions (which event last changed a field).

mod history;
mod merge;

pub use history::{Blame, BlameMap, FoldFailure, History};
pub use merge::{MergeFold, merge_patch};

use serde_json::Value;

use crate::model::Event;

/// Why a fold could not apply an event.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FoldError {
    pub message: String,
}

/// A reducer: an initial state and a step that applies one event to a state.
pub trait Fold: Send {
    /// A short name shown in the UI ("merge", a file name, ...).
    fn name(&self) -> &str;
    /// The state before the first event.
    fn initial(&mut self) -> Result<Value, FoldError>;
    /// Applies one event; may change the state in place or build a new one.
    fn apply(&mut self, state: Value, event: &Event) -> Result<Value, FoldError>;
}

/// Folds `events` from the initial state (no checkpoints): the reference replay.
pub fn replay<'a>(
    fold: &mut dyn Fold,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<Value, FoldError> {
    let mut state = fold.initial()?;
    for event in events {
        state = fold.apply(state, event)?;
    }
    Ok(state)
}
