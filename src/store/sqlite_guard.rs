//! The SQLite preview guard: what SQLite itself enforces on the connection an untrusted query
//! runs on. It follows SQLite's own advice for untrusted SQL ("Defense Against the Dark Arts"):
//!
//! - the connection is a fresh read-only one, used for one preview and closed afterwards;
//! - `SQLITE_DBCONFIG_DEFENSIVE` on, `trusted_schema` off, no database may be attached, no
//!   value larger than [`MAX_VALUE_BYTES`];
//! - an authorizer ([`authorize`]) allows only reading: `SELECT`, reading columns, recursive
//!   common table expressions and the functions of [`ALLOWED_FUNCTIONS`]; every other action
//!   (writes, `ATTACH`, `PRAGMA`, transaction control, schema changes, other functions) is denied
//!   by SQLite while it compiles the statement;
//! - a text whose parentheses nest deeper than [`MAX_NESTING`] is refused before SQLite reads it
//!   (SQLite recurses once per nested subquery on the caller's stack);
//! - the text is prepared once here ([`check_statement`]): exactly one statement (a non-empty
//!   tail is refused), which `sqlite3_stmt_readonly` must call read-only (this catches `VACUUM`,
//!   which no authorizer action covers). Only that one statement's text is handed on to run.
//!
//! The progress handler that enforces the time-out lives with the backend (`sqlite.rs`).

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};

use libsqlite3_sys as ffi;

/// Built-in SQLite functions a preview may call: the core scalar, aggregate, window, date and
/// time, math and JSON functions, and the FTS5 auxiliary functions. None of them writes or
/// reaches outside the database (`load_extension` and `fts3_tokenizer` are not here).
pub const ALLOWED_FUNCTIONS: &[&str] = &[
    // core scalar
    "abs",
    "changes",
    "char",
    "coalesce",
    "concat",
    "concat_ws",
    "format",
    "glob",
    "hex",
    "if",
    "ifnull",
    "iif",
    "instr",
    "last_insert_rowid",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "octet_length",
    "printf",
    "quote",
    "random",
    "randomblob",
    "replace",
    "round",
    "rtrim",
    "sign",
    "soundex",
    "sqlite_compileoption_get",
    "sqlite_compileoption_used",
    "sqlite_offset",
    "sqlite_source_id",
    "sqlite_version",
    "substr",
    "substring",
    "total_changes",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unistr",
    "unistr_quote",
    "unlikely",
    "upper",
    "zeroblob",
    "match",
    "regexp",
    // aggregate
    "avg",
    "count",
    "group_concat",
    "string_agg",
    "sum",
    "total",
    "median",
    "percentile",
    "percentile_cont",
    "percentile_disc",
    // window
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // date and time
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    "current_date",
    "current_time",
    "current_timestamp",
    // math
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "degrees",
    "exp",
    "floor",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
    // JSON (the `->` and `->>` operators are functions of these names)
    "->",
    "->>",
    "json",
    "jsonb",
    "json_array",
    "jsonb_array",
    "json_array_length",
    "json_error_position",
    "json_extract",
    "jsonb_extract",
    "json_insert",
    "jsonb_insert",
    "json_object",
    "jsonb_object",
    "json_patch",
    "jsonb_patch",
    "json_pretty",
    "json_remove",
    "jsonb_remove",
    "json_replace",
    "jsonb_replace",
    "json_set",
    "jsonb_set",
    "json_type",
    "json_valid",
    "json_quote",
    "json_group_array",
    "jsonb_group_array",
    "json_group_object",
    "jsonb_group_object",
    // FTS5 auxiliary functions
    "bm25",
    "highlight",
    "snippet",
];

/// The largest text or blob a preview may make (SQLite's `SQLITE_LIMIT_LENGTH`).
pub const MAX_VALUE_BYTES: c_int = 32 << 20;

/// How deep parentheses may nest in a preview's text. SQLite's parser, and the routines that walk
/// and free what it parsed, recurse once per nested subquery on the calling thread's stack: ten
/// thousand nested `(SELECT 1 FROM (SELECT …` overflowed a 2 MiB stack and aborted the process
/// (found by the fuzz properties in `tests/fuzz.rs`). SQLite's own limit on expression depth is
/// 1000: no query that runs nests deeper.
pub const MAX_NESTING: usize = 1000;

/// The deepest nesting of parentheses in `sql` as SQLite's tokenizer reads it: quoted strings and
/// names (`'…'`, `"…"`, `` `…` ``, `[…]`) and comments (`-- …`, `/* … */`) left out.
pub fn nesting(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    // Just after the first `close` at or after `from` (the end when there is none).
    let after = |from: usize, close: &[u8]| {
        bytes[from..].windows(close.len()).position(|w| w == close).map_or(bytes.len(), |at| from + at + close.len())
    };
    let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
    while at < bytes.len() {
        at = match bytes[at] {
            b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                at + 1
            }
            b')' => {
                depth = depth.saturating_sub(1);
                at + 1
            }
            // (A doubled quote ends one piece and starts the next: the same bytes are skipped.)
            quote @ (b'\'' | b'"' | b'`') => after(at + 1, &[quote]),
            b'[' => after(at + 1, b"]"),
            b'-' if bytes.get(at + 1) == Some(&b'-') => after(at + 2, b"\n"),
            b'/' if bytes.get(at + 1) == Some(&b'*') => after(at + 2, b"*/"),
            _ => at + 1,
        };
    }
    deepest
}

/// Whether a preview may call this function (names compare without regard to ASCII case).
pub fn is_allowed_function(name: &str) -> bool {
    ALLOWED_FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// The authorizer's decision for one action SQLite is about to compile (`arg1` and `arg2` as
/// SQLite passes them: a table and a column, a pragma and its value, a function's name …).
/// `Err` says, in words, what was refused.
pub fn authorize(action: i32, arg1: Option<&str>, arg2: Option<&str>) -> Result<(), String> {
    let a = arg1.unwrap_or("?");
    let b = arg2.unwrap_or("?");
    let refused = match action {
        ffi::SQLITE_SELECT | ffi::SQLITE_READ | ffi::SQLITE_RECURSIVE => return Ok(()),
        ffi::SQLITE_FUNCTION if is_allowed_function(b) => return Ok(()),
        ffi::SQLITE_FUNCTION => format!("the function {b}() is not one of SQLite's built-in read-only functions"),
        ffi::SQLITE_INSERT => format!("INSERT writes to {a}"),
        ffi::SQLITE_UPDATE => format!("UPDATE writes to {a}"),
        ffi::SQLITE_DELETE => format!("DELETE writes to {a}"),
        ffi::SQLITE_PRAGMA => format!("PRAGMA {a} is not a query"),
        ffi::SQLITE_TRANSACTION => format!("transaction control ({a}) is not a query"),
        ffi::SQLITE_SAVEPOINT => format!("SAVEPOINT / RELEASE ({a} {b}) is not a query"),
        ffi::SQLITE_ATTACH => "ATTACH opens another database file".to_owned(),
        ffi::SQLITE_DETACH => "DETACH changes the connection".to_owned(),
        ffi::SQLITE_ALTER_TABLE => format!("ALTER TABLE changes {b}"),
        ffi::SQLITE_REINDEX => format!("REINDEX rewrites {a}"),
        ffi::SQLITE_ANALYZE => "ANALYZE writes statistics".to_owned(),
        ffi::SQLITE_CREATE_INDEX
        | ffi::SQLITE_CREATE_TABLE
        | ffi::SQLITE_CREATE_TEMP_INDEX
        | ffi::SQLITE_CREATE_TEMP_TABLE
        | ffi::SQLITE_CREATE_TEMP_TRIGGER
        | ffi::SQLITE_CREATE_TEMP_VIEW
        | ffi::SQLITE_CREATE_TRIGGER
        | ffi::SQLITE_CREATE_VIEW
        | ffi::SQLITE_CREATE_VTABLE => format!("CREATE changes the schema ({a})"),
        ffi::SQLITE_DROP_INDEX
        | ffi::SQLITE_DROP_TABLE
        | ffi::SQLITE_DROP_TEMP_INDEX
        | ffi::SQLITE_DROP_TEMP_TABLE
        | ffi::SQLITE_DROP_TEMP_TRIGGER
        | ffi::SQLITE_DROP_TEMP_VIEW
        | ffi::SQLITE_DROP_TRIGGER
        | ffi::SQLITE_DROP_VIEW
        | ffi::SQLITE_DROP_VTABLE => format!("DROP changes the schema ({a})"),
        other => format!("SQLite action {other} is not reading"),
    };
    Err(refused)
}

/// Why a text may not run, or did not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The guard refused it: what, in words.
    Refused(String),
    /// SQLite could not compile it: its message and the byte offset it points at, if any.
    Invalid { message: String, offset: Option<usize> },
}

fn text_arg<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: SQLite passes NUL-terminated strings that live for the callback.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// The authorizer SQLite calls. `user` is null (decide only) or points at a
/// `RefCell<Option<String>>` that keeps the first refusal for the message.
unsafe extern "C" fn authorizer(
    user: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _database: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    match authorize(action, text_arg(arg1), text_arg(arg2)) {
        Ok(()) => ffi::SQLITE_OK,
        Err(reason) => {
            if !user.is_null() {
                // SAFETY: `check_statement` passes a pointer to a RefCell it owns and keeps
                // alive while the statement is prepared on this thread.
                let slot = unsafe { &*(user as *const RefCell<Option<String>>) };
                if let Ok(mut slot) = slot.try_borrow_mut() {
                    slot.get_or_insert(reason);
                }
            }
            ffi::SQLITE_DENY
        }
    }
}

/// Hardens a fresh connection for untrusted SQL: defensive mode, untrusted schema, no
/// attached databases, and the read-only authorizer.
///
/// # Safety
/// `db` must be an open connection that no other thread uses meanwhile.
pub unsafe fn harden(db: *mut ffi::sqlite3) -> Result<(), String> {
    let mut result: c_int = 0;
    // SAFETY: valid handle; the variadic arguments are an int and an int pointer, as documented.
    let rc =
        unsafe { ffi::sqlite3_db_config(db, ffi::SQLITE_DBCONFIG_DEFENSIVE, 1 as c_int, &mut result as *mut c_int) };
    if rc != ffi::SQLITE_OK || result != 1 {
        return Err("SQLite refused to turn on its defensive mode".to_owned());
    }
    // SAFETY: as above.
    let rc = unsafe {
        ffi::sqlite3_db_config(db, ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0 as c_int, &mut result as *mut c_int)
    };
    if rc != ffi::SQLITE_OK || result != 0 {
        return Err("SQLite refused to turn off trusted_schema".to_owned());
    }
    // SAFETY: valid handle.
    unsafe {
        ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, 0);
        // No one value (a `zeroblob(200000000)`) larger than this.
        ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES);
        ffi::sqlite3_set_authorizer(db, Some(authorizer), std::ptr::null_mut());
    }
    Ok(())
}

/// Prepares `sql` on a hardened connection without running it, and accepts it only if it is
/// exactly one statement that SQLite calls read-only and the authorizer allowed. Gives the byte
/// length of that statement (what is run; a comment after it is left out).
///
/// # Safety
/// `db` must be an open connection, hardened with [`harden`], that no other thread uses meanwhile.
pub unsafe fn check_statement(db: *mut ffi::sqlite3, sql: &str) -> Result<usize, Rejection> {
    if sql.contains('\0') {
        return Err(Rejection::Refused("the text holds a NUL character".to_owned()));
    }
    if nesting(sql) > MAX_NESTING {
        return Err(Rejection::Refused(format!("the query nests parentheses deeper than {MAX_NESTING} levels")));
    }
    let refusal: RefCell<Option<String>> = RefCell::new(None);
    // SAFETY: the pointer stays valid until the authorizer is reset below, before `refusal` drops.
    unsafe { ffi::sqlite3_set_authorizer(db, Some(authorizer), &refusal as *const _ as *mut c_void) };
    let outcome = unsafe { prepare_one(db, sql, &refusal) };
    // SAFETY: valid handle; the recording authorizer is replaced by the deciding one.
    unsafe { ffi::sqlite3_set_authorizer(db, Some(authorizer), std::ptr::null_mut()) };
    outcome
}

/// One `sqlite3_prepare_v3` over `bytes`: the statement (maybe null: only spaces and comments)
/// and the offset where the rest starts, or SQLite's error.
unsafe fn prepare_at(
    db: *mut ffi::sqlite3,
    bytes: &[u8],
) -> Result<(*mut ffi::sqlite3_stmt, usize), (String, Option<usize>)> {
    let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
    let mut tail: *const c_char = std::ptr::null();
    let start = bytes.as_ptr() as *const c_char;
    let len = c_int::try_from(bytes.len()).map_err(|_| ("the text is too long".to_owned(), None))?;
    // SAFETY: `start` points at `len` readable bytes; SQLite writes `stmt` and `tail`.
    let rc = unsafe { ffi::sqlite3_prepare_v3(db, start, len, 0, &mut stmt, &mut tail) };
    if rc != ffi::SQLITE_OK {
        // SAFETY: valid handle; the message is copied before anything else runs on it.
        let message = unsafe { text_arg(ffi::sqlite3_errmsg(db)) }.unwrap_or("SQLite could not compile it").to_owned();
        let offset = unsafe { ffi::sqlite3_error_offset(db) };
        // SAFETY: a failed prepare leaves `stmt` null, and finalizing null is a no-op.
        unsafe { ffi::sqlite3_finalize(stmt) };
        return Err((message, usize::try_from(offset).ok()));
    }
    let consumed = if tail.is_null() { bytes.len() } else { (tail as usize).saturating_sub(start as usize) };
    Ok((stmt, consumed.min(bytes.len())))
}

unsafe fn prepare_one(db: *mut ffi::sqlite3, sql: &str, refusal: &RefCell<Option<String>>) -> Result<usize, Rejection> {
    let refused = |fallback: String| Rejection::Refused(refusal.borrow_mut().take().unwrap_or(fallback));
    let bytes = sql.as_bytes();
    let (stmt, end) = match unsafe { prepare_at(db, bytes) } {
        Ok(found) => found,
        Err((message, offset)) => {
            return Err(if refusal.borrow().is_some() {
                refused(message)
            } else {
                Rejection::Invalid { message, offset }
            });
        }
    };
    if stmt.is_null() {
        return Err(Rejection::Refused("the query is empty: write a SELECT".to_owned()));
    }
    // SAFETY: `stmt` is a valid prepared statement, finalized right after.
    let read_only = unsafe { ffi::sqlite3_stmt_readonly(stmt) } != 0;
    unsafe { ffi::sqlite3_finalize(stmt) };
    if !read_only {
        return Err(refused("SQLite says this statement writes (VACUUM, or a change to the database)".to_owned()));
    }
    // The rest of the text may hold only spaces and comments.
    let mut at = end;
    while at < bytes.len() {
        match unsafe { prepare_at(db, &bytes[at..]) } {
            Ok((next, consumed)) if next.is_null() => {
                if consumed == 0 {
                    break;
                }
                at += consumed;
            }
            Ok((next, _)) => {
                // SAFETY: a statement prepared above, never stepped.
                unsafe { ffi::sqlite3_finalize(next) };
                return Err(Rejection::Refused(one_statement_only(&sql[..end])));
            }
            Err(_) => return Err(Rejection::Refused(one_statement_only(&sql[..end]))),
        }
    }
    Ok(end)
}

fn one_statement_only(first: &str) -> String {
    let first: String = first.split_whitespace().collect::<Vec<_>>().join(" ");
    // (Its end, which is where it ends: the start may be a prefix eventscope wrote, as what-if's.)
    let count = first.chars().count();
    let tail: String = first.chars().skip(count.saturating_sub(60)).collect();
    let shown = if count > 60 { format!("…{tail}") } else { tail };
    format!("the text holds more than one statement (the first ends after `{shown}`): previews run exactly one")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_quotes_and_comments() {
        assert_eq!(nesting("SELECT ((1), (2))"), 2);
        assert_eq!(nesting("SELECT '((((' , \"((\", `((`, [((], x'28' -- ((((\n"), 0);
        assert_eq!(nesting("SELECT 'it''s (' || (1) /* ((( */"), 1);
        assert_eq!(nesting("SELECT ((((1 /* unclosed ((("), 4);
        assert_eq!(nesting("SELECT ))) ((1"), 2);
    }

    /// Found by the fuzz properties: nested subqueries overflowed the stack inside SQLite before
    /// it could refuse them. Refused before SQLite sees them now, on this (2 MiB) test thread;
    /// up to the limit SQLite answers as it will.
    #[test]
    fn deep_subqueries_are_refused_without_a_crash() {
        let name = std::ffi::CString::new(":memory:").unwrap();
        let mut db: *mut ffi::sqlite3 = std::ptr::null_mut();
        // SAFETY: a connection of this test alone, closed at the end.
        unsafe {
            assert_eq!(ffi::sqlite3_open_v2(name.as_ptr(), &mut db, ffi::SQLITE_OPEN_READWRITE, std::ptr::null()), 0);
            harden(db).unwrap();
        }
        for (open, close) in [("(SELECT 1 FROM (SELECT ", ") s)"), ("(", ")"), ("EXISTS (SELECT ", ")"), ("abs(", ")")]
        {
            let per_level = open.matches('(').count();
            for levels in [MAX_NESTING / per_level, 10_000] {
                let text = format!("SELECT {}1{}", open.repeat(levels), close.repeat(levels));
                // SAFETY: as above.
                let outcome = unsafe { check_statement(db, &text) };
                if levels * per_level > MAX_NESTING {
                    assert!(matches!(&outcome, Err(Rejection::Refused(r)) if r.contains("nests")), "{outcome:?}");
                } else {
                    assert!(!matches!(&outcome, Err(Rejection::Refused(r)) if r.contains("nests")), "{outcome:?}");
                }
            }
        }
        // SAFETY: nothing else uses it.
        unsafe { ffi::sqlite3_close(db) };
    }

    #[test]
    fn reading_is_allowed_and_everything_else_is_named() {
        assert!(authorize(ffi::SQLITE_SELECT, None, None).is_ok());
        assert!(authorize(ffi::SQLITE_READ, Some("events"), Some("payload")).is_ok());
        assert!(authorize(ffi::SQLITE_FUNCTION, None, Some("JSON_EXTRACT")).is_ok());
        assert!(authorize(ffi::SQLITE_FUNCTION, None, Some("->>")).is_ok());
        for (action, a, b, expected) in [
            (ffi::SQLITE_FUNCTION, None, Some("load_extension"), "load_extension()"),
            (ffi::SQLITE_FUNCTION, None, Some("fts3_tokenizer"), "fts3_tokenizer()"),
            (ffi::SQLITE_DELETE, Some("events"), None, "DELETE writes to events"),
            (ffi::SQLITE_ATTACH, Some("/tmp/x"), None, "ATTACH"),
            (ffi::SQLITE_PRAGMA, Some("journal_mode"), Some("delete"), "PRAGMA journal_mode"),
            (ffi::SQLITE_TRANSACTION, Some("COMMIT"), None, "transaction control (COMMIT)"),
            (ffi::SQLITE_CREATE_TEMP_TABLE, Some("t"), None, "CREATE"),
            (99, None, None, "action 99"),
        ] {
            let reason = authorize(action, a, b).unwrap_err();
            assert!(reason.contains(expected), "{reason}");
        }
    }
}
