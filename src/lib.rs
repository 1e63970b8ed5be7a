//! eventscope: a native desktop explorer for event-sourced systems.
//!
//! The architecture in a few lines:
//! - [`model`], [`fold`] and [`diff`] are pure (no egui, no sqlx): events, reducers with
//!   checkpointed replay and blame, structural and line diffs.
//! - [`store`] opens a SQLite file or a PostgreSQL URL read-only through sqlx, recognises the
//!   layout from the catalog and reads streams, events and the global log page by page. The SQL
//!   a user types (previews) passes each database's own guard first: SQLite's authorizer
//!   (`store::sqlite_guard`), PostgreSQL's parser and catalog (`store::pg_guard`).
//! - [`worker`] owns the tokio runtime and the store on a background thread; the UI sends it
//!   typed requests and drains typed replies without ever blocking.
//! - [`ui`] is the eframe application, one struct per panel.
//! - [`audit`] asks cross-stream questions of the global log (filters, histogram, actors,
//!   correlation and causation, export); [`projection`] previews SQL and JavaScript projections.
//! - [`bisect`], [`drift`], [`fixture`], [`schema`] and [`whatif`] answer questions of history:
//!   when a condition first held, which snapshots drift, a given/when/then test cut from a
//!   range, the contract each event type follows, what a retroactive rule would change.
//! - [`demo`] writes the deterministic workshop store; [`cli`] is the command line;
//!   [`bench`] measures the explorer (`eventscope bench`).

pub mod audit;
pub mod bench;
pub mod bisect;
pub mod cli;
pub mod csv_text;
pub mod deep_link;
pub mod demo;
pub mod diff;
pub mod drift;
pub mod fixture;
pub mod fold;
pub mod follow;
pub mod labels;
pub mod lesson;
pub mod model;
pub mod projection;
pub mod schema;
pub mod script;
pub mod store;
pub mod ui;
pub mod whatif;
pub mod worker;
