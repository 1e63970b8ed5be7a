//! What a read-only query run by the store gives back: its rows ([`ResultSet`], cells kept as
//! the database typed them), its limits ([`PreviewLimits`]), what the user allows beyond the
//! guard's defaults ([`PreviewPermissions`]), and why it gave no rows ([`PreviewError`]). The
//! store runs queries and returns these; `projection::sql` reads definitions and compares
//! results built from them.

use std::time::Duration;

use serde_json::{Map, Value};

use super::cell::Cell;
use crate::csv_text::record as csv_record;

/// Limits of one preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviewLimits {
    pub timeout: Duration,
    pub max_rows: usize,
}

impl Default for PreviewLimits {
    fn default() -> Self {
        PreviewLimits { timeout: Duration::from_secs(10), max_rows: 10_000 }
    }
}

/// What the user allows previews beyond the default, for this session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviewPermissions {
    /// Functions that are not built in (or built-in volatile ones) the user allows by name
    /// (`name` or `schema.name`).
    pub allowed_functions: std::collections::BTreeSet<String>,
    /// The user understands the PostgreSQL role is privileged and runs previews anyway.
    pub privileged_role: bool,
}

/// Why a preview did not give rows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    /// eventscope will not run this statement.
    #[error("{0}")]
    Refused(String),
    /// The query calls a function the user may allow by name (`function`).
    #[error("{message}")]
    FunctionNotAllowed { function: String, message: String },
    /// The connected PostgreSQL role is privileged: previews wait for the user's word.
    #[error(
        "previews are refused under this {summary}: connect as a role that can only read, or say you \
         understand (--allow-privileged-role; in the window, the tick box in the SQL panel)"
    )]
    PrivilegedRole { summary: String },
    /// The database refused or failed the query; `position` is a byte offset into the text given.
    #[error("{message}")]
    Database { message: String, position: Option<usize> },
    #[error("the query ran longer than {} ms and was stopped: raise the time-out or narrow the query", .0.as_millis())]
    Timeout(Duration),
    #[error("the query was cancelled")]
    Cancelled,
}

/// A result column: its name and its type as the database names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultColumn {
    pub name: String,
    pub type_name: String,
}

/// The rows a preview gave.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Cell>>,
    /// More rows existed beyond the row cap.
    pub truncated: bool,
    pub elapsed: Duration,
}

impl ResultSet {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Whether a column holds numbers (for plotting): every non-null value is one.
    pub fn is_numeric(&self, column: usize) -> bool {
        let mut any = false;
        for row in &self.rows {
            match row.get(column) {
                Some(Cell::Null) | None => {}
                Some(cell) if cell.as_f64().is_some() => any = true,
                Some(_) => return false,
            }
        }
        any
    }

    /// The rows as JSON objects (column → value).
    pub fn to_json(&self) -> Value {
        Value::Array(self.rows.iter().map(|row| self.row_json(row)).collect())
    }

    pub fn row_json(&self, row: &[Cell]) -> Value {
        let mut map = Map::new();
        for (column, cell) in self.columns.iter().zip(row) {
            map.insert(column.name.clone(), cell.to_json());
        }
        Value::Object(map)
    }

    /// The rows as CSV (RFC 4180: a header line, fields quoted when they need it).
    pub fn to_csv(&self) -> String {
        let mut out = csv_record(self.columns.iter().map(|c| c.name.clone()));
        for row in &self.rows {
            out += &csv_record(row.iter().map(Cell::to_display));
        }
        out
    }
}
