//! Folds (reducers) turn a stream's events into state. [`MergeFold`] is the generic fold that
//! works on any store; [`JsFold`] runs a fold written in JavaScript; [`History`] replays a stream with checkpoints so that the state at any
//! version is cheap, and answers blame questions (which event last changed a field).

pub mod history;
mod js;
mod merge;

pub use history::{Blame, BlameMap, FoldFailure, History};
pub use js::JsFold;
pub use merge::{MergeFold, merge_patch};

use serde_json::Value;

use crate::model::Event;

/// Where a fold chosen for streams applies (the merge fold elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FoldScope {
    Stream(String),
    /// The streams of a category (an empty one: of the first stream opened with it).
    Category(String),
    AllStreams,
}

impl FoldScope {
    /// Whether the fold applies to this stream, of this category.
    pub fn applies(&self, stream: &str, category: &str) -> bool {
        match self {
            FoldScope::Stream(s) => s == stream,
            FoldScope::Category(c) => c == category,
            FoldScope::AllStreams => true,
        }
    }
}

/// The folds a pass over many streams uses (a snapshot check, a bisection of a category): a script where it applies, the merge fold elsewhere.
pub struct Folds<'a> {
    pub script: Option<(&'a mut dyn Fold, FoldScope)>,
    pub merge: MergeFold,
}

impl<'a> Folds<'a> {
    pub fn new(script: Option<(&'a mut dyn Fold, FoldScope)>) -> Folds<'a> {
        Folds { script, merge: MergeFold::default() }
    }

    /// The fold for a stream of this category.
    pub fn for_stream(&mut self, stream: &str, category: &str) -> &mut dyn Fold {
        match &mut self.script {
            Some((fold, scope)) if scope.applies(stream, category) => &mut **fold,
            _ => &mut self.merge,
        }
    }
}

/// Why a fold could not apply an event.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FoldError {
    pub message: String,
}

/// A reducer that keeps its current state itself (a JavaScript fold keeps it inside the engine,
/// so that it is converted to JSON only at checkpoints, not after every event).
pub trait Fold {
    /// A short name shown in the UI ("merge", a file name, ...).
    fn name(&self) -> &str;
    /// Starts over from the initial state.
    fn reset(&mut self) -> Result<(), FoldError>;
    /// Continues from a state this fold returned before (a checkpoint).
    fn restore(&mut self, state: &Value) -> Result<(), FoldError>;
    /// Applies one event to the current state.
    fn apply(&mut self, event: &Event) -> Result<(), FoldError>;
    /// The current state as JSON.
    fn state(&mut self) -> Result<Value, FoldError>;
}

/// A fold whose script could not be loaded: it fails at once with the reason, so the history
/// shows the error where the state would be.
pub struct BrokenFold {
    pub name: String,
    pub message: String,
}

impl Fold for BrokenFold {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self) -> Result<(), FoldError> {
        Err(FoldError { message: self.message.clone() })
    }

    fn restore(&mut self, _state: &Value) -> Result<(), FoldError> {
        self.reset()
    }

    fn apply(&mut self, _event: &Event) -> Result<(), FoldError> {
        self.reset()
    }

    fn state(&mut self) -> Result<Value, FoldError> {
        Err(FoldError { message: self.message.clone() })
    }
}

/// Folds `events` from the initial state (no checkpoints): the reference replay.
pub fn replay<'a>(fold: &mut dyn Fold, events: impl IntoIterator<Item = &'a Event>) -> Result<Value, FoldError> {
    fold.reset()?;
    for event in events {
        fold.apply(event)?;
    }
    fold.state()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fold_for_a_category_is_used_for_its_streams_only() {
        let mut script = BrokenFold { name: "order.js".to_owned(), message: String::new() };
        let mut folds = Folds::new(Some((&mut script, FoldScope::Category("order".to_owned()))));
        assert_eq!(folds.for_stream("o-1", "order").name(), "order.js");
        assert_eq!(folds.for_stream("a-1", "account").name(), "merge");
    }
}
