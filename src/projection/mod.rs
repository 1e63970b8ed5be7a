//! Projections: read models computed from many streams, previewed read-only against the store's
//! data before anyone deploys them. [`js`] runs projections written in JavaScript.

pub mod js;
pub mod sql;

pub use js::{JsProjection, Source};
