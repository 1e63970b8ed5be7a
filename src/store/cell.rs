//! Backend-neutral values: a [`Cell`] is one value read from a row, a [`Param`] one value bound
//! to a statement. Both backends decode rows into cells by the value's runtime type, so the layer
//! above never sees sqlx types.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Time(DateTime<Utc>),
    /// An exact decimal number, as the database printed it (PostgreSQL `numeric`).
    Decimal(String),
    /// JSON text (PostgreSQL `json`/`jsonb`).
    Json(String),
    /// A text value whose bytes are not UTF-8 (SQLite stores what it is given): the bytes kept.
    InvalidText(Vec<u8>),
}

impl Cell {
    /// The value as a number, for sorting and plotting.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            Cell::Decimal(d) => d.parse().ok(),
            _ => None,
        }
    }

    /// The value as JSON: numbers as numbers, JSON as JSON, times as RFC 3339, bytes as base64.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::from(*i),
            Cell::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Cell::Decimal(d) => serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.clone())),
            Cell::Json(j) => serde_json::from_str(j).unwrap_or_else(|_| Value::String(j.clone())),
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Bytes(b) => {
                use base64::Engine as _;
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Cell::InvalidText(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
            Cell::Time(t) => Value::String(crate::model::format_time(*t)),
        }
    }

    /// The value as text for tables and CSV (NULL is empty; bytes are hex).
    pub fn to_display(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Bytes(b) => format!("\\x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            other => other.as_text_lossy().unwrap_or_default(),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            Cell::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            Cell::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text: text itself, numbers printed, bytes if they are UTF-8.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Cell::Text(s) => Some(s.clone()),
            Cell::Int(i) => Some(i.to_string()),
            Cell::Float(f) => Some(f.to_string()),
            Cell::Bool(b) => Some(b.to_string()),
            Cell::Bytes(b) => String::from_utf8(b.clone()).ok(),
            Cell::Time(t) => Some(crate::model::format_time(*t)),
            Cell::Decimal(d) | Cell::Json(d) => Some(d.clone()),
            Cell::Null | Cell::InvalidText(_) => None,
        }
    }

    /// About how many bytes the value holds (for memory budgets).
    pub fn size_hint(&self) -> usize {
        match self {
            Cell::Text(s) | Cell::Decimal(s) | Cell::Json(s) => s.len(),
            Cell::Bytes(b) | Cell::InvalidText(b) => b.len(),
            _ => 8,
        }
    }

    /// The value as text, bytes that are not UTF-8 shown with replacement characters (for ids
    /// and names, which must never come out empty).
    pub fn as_text_lossy(&self) -> Option<String> {
        match self {
            Cell::Bytes(b) | Cell::InvalidText(b) => Some(String::from_utf8_lossy(b).into_owned()),
            other => other.as_text(),
        }
    }

    /// The value as the text of an id or a name: text as it is, numbers printed, bytes (or text
    /// that is not UTF-8) kept whole with `\xHH` escapes ([`crate::model::escape_bytes`]), so
    /// the id can be asked for again; NULL is empty.
    pub fn to_id_text(&self) -> String {
        match self {
            Cell::Bytes(b) | Cell::InvalidText(b) => crate::model::escape_bytes(b),
            other => other.as_text().unwrap_or_default(),
        }
    }

    /// [`Cell::to_id_text`], taking the cell (a text is moved, not copied).
    pub fn into_id_text(self) -> String {
        match self {
            Cell::Text(text) => text,
            other => other.to_id_text(),
        }
    }

    /// The bytes of a payload-like value (text or blob); `None` for NULL.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Cell::Null => None,
            Cell::Bytes(b) | Cell::InvalidText(b) => Some(b),
            Cell::Text(s) => Some(s.into_bytes()),
            other => other.as_text().map(String::into_bytes),
        }
    }

    /// A time from a timestamp, an RFC 3339 / SQL-style text, or a Unix epoch number (seconds,
    /// or milliseconds / microseconds when the number is too large to be seconds).
    pub fn as_time(&self) -> Option<DateTime<Utc>> {
        match self {
            Cell::Time(t) => Some(*t),
            Cell::Text(s) => parse_time(s),
            Cell::Int(i) => epoch_to_time(*i as f64),
            Cell::Float(f) => epoch_to_time(*f),
            _ => None,
        }
    }
}

/// A value bound to a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Text whose bytes are not UTF-8 (compared as text, not as a blob).
    TextBytes(Vec<u8>),
    Time(DateTime<Utc>),
}

impl From<&Cell> for Param {
    fn from(cell: &Cell) -> Param {
        match cell {
            Cell::Null => Param::Null,
            Cell::Bool(b) => Param::Int(*b as i64),
            Cell::Int(i) => Param::Int(*i),
            Cell::Float(f) => Param::Float(*f),
            Cell::Text(s) => Param::Text(s.clone()),
            Cell::Bytes(b) => Param::Bytes(b.clone()),
            Cell::InvalidText(b) => Param::TextBytes(b.clone()),
            Cell::Time(t) => Param::Time(*t),
            Cell::Decimal(d) | Cell::Json(d) => Param::Text(d.clone()),
        }
    }
}

/// Parses the time formats stores use: RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff][+zz[:zz]]` (taken
/// as UTC without a zone), or a bare date.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    // (Also without seconds, as a person types it: `2026-03-02T08:00`.)
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    let without_zone = text.strip_suffix('Z').or_else(|| text.strip_suffix('z'));
    if let Some(t) = without_zone.and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").ok()) {
        return Some(Utc.from_utc_datetime(&t));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

fn epoch_to_time(n: f64) -> Option<DateTime<Utc>> {
    // Seconds up to the year ~5000; beyond that milliseconds, then microseconds.
    let micros = if n.abs() < 1e11 {
        n * 1e6
    } else if n.abs() < 1e14 {
        n * 1e3
    } else {
        n
    };
    DateTime::from_timestamp_micros(micros as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_formats_stores_use() {
        let expected = Utc.with_ymd_and_hms(2026, 3, 2, 8, 15, 0).unwrap();
        for text in [
            "2026-03-02T08:15:00Z",
            "2026-03-02T08:15:00.000+00:00",
            "2026-03-02 08:15:00",
            "2026-03-02 08:15:00+00",
            "2026-03-02 09:15:00+01:00",
            "2026-03-02T08:15:00",
            "2026-03-02T08:15",
            "2026-03-02 08:15",
            "2026-03-02T08:15Z",
        ] {
            assert_eq!(parse_time(text), Some(expected), "{text}");
        }
        assert_eq!(Cell::Int(expected.timestamp()).as_time(), Some(expected));
        assert_eq!(Cell::Int(expected.timestamp_millis()).as_time(), Some(expected));
        assert_eq!(Cell::Int(expected.timestamp_micros()).as_time(), Some(expected));
        assert_eq!(parse_time("yesterday"), None);
    }
}
