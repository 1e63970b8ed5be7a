//! The background worker.
