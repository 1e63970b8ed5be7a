//! Hostile and odd stores: every row appears exactly once in every listing, whatever the
//! versions and positions hold (repeated, missing), on SQLite and PostgreSQL.

use crate::common;

use std::collections::BTreeMap;

use common::{Backend, TestDb, block_on};
use eventscope::store::query::LogCursor;
use eventscope::store::{EventCursor, Store};

/// Every event of a stream, page by page.
fn whole_stream(store: &Store, stream: &str, page: usize) -> Vec<eventscope::model::Event> {
    let mut events = Vec::new();
    let mut cursor = Some(EventCursor::from_version(i64::MIN));
    while let Some(c) = cursor {
        let p = block_on(store.read_stream(stream, c, page)).expect("read stream");
        assert!(p.events.len() <= page, "a page holds at most {page}");
        events.extend(p.events);
        cursor = p.next;
        assert!(events.len() <= 1_000_000, "paging does not end");
    }
    events
}

/// Every event of the store, page by page, forwards or backwards.
fn whole_log(store: &Store, forward: bool, page: usize) -> Vec<eventscope::model::Event> {
    let mut events = Vec::new();
    let mut cursor = LogCursor::Edge;
    loop {
        let p = block_on(store.read_log(&cursor, forward, page)).expect("read log");
        events.extend(p.events);
        match p.next {
            Some(next) => cursor = next,
            None => return events,
        }
        assert!(events.len() <= 1_000_000, "paging does not end");
    }
}

/// How often each payload's `n` was listed.
fn seen(events: &[eventscope::model::Event]) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for e in events {
        let n = e.payload.as_json().and_then(|p| p["n"].as_i64()).expect("payload n");
        *counts.entry(n).or_default() += 1;
    }
    counts
}

/// Rows `n` = 1..=total, each listed once.
fn exactly_once(total: i64) -> BTreeMap<i64, usize> {
    (1..=total).map(|n| (n, 1)).collect()
}

/// 1,200 events sharing version 1 in one stream, a stream whose versions are partly NULL, and
/// plain ones; with and without a position column (partly NULL where there is one).
fn odd_versions(backend: Backend, with_position: bool) -> (TestDb, i64) {
    let db = TestDb::new(backend, if with_position { "oddpos" } else { "oddver" });
    let position = if with_position { ", position BIGINT" } else { "" };
    let mut rows = Vec::new();
    let mut n = 0;
    let mut row = |stream: &str, version: &str| {
        n += 1;
        let position = match (with_position, n % 7 == 0) {
            (false, _) => String::new(),
            (true, true) => ", NULL".to_owned(),
            (true, false) => format!(", {n}"),
        };
        rows.push(format!("('{stream}', {version}, 'E', '{{\"n\": {n}}}'{position})"));
    };
    for _ in 0..1_200 {
        row("dup", "1");
    }
    for version in ["NULL", "1", "NULL", "2", "NULL"] {
        row("nulls", version);
    }
    for version in 1..=30 {
        row("plain", &version.to_string());
    }
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER, event_type TEXT NOT NULL, payload TEXT NOT NULL{position});
         INSERT INTO events VALUES {};",
        rows.join(", ")
    ));
    (db, n)
}

fn rows_that_share_a_version_are_each_read_once(backend: Backend) {
    for with_position in [false, true] {
        let (db, total) = odd_versions(backend, with_position);
        let store = db.open();
        assert_eq!(store.layout.columns.position.is_some(), with_position);
        let what = format!("{backend:?}, position: {with_position}");
        for page in [1, 7, 100, 2_000] {
            if page == 1 && backend == Backend::Postgres {
                continue; // (1,200 round trips add nothing the other sizes do not show)
            }
            let dup = whole_stream(&store, "dup", page);
            assert_eq!(dup.len(), 1_200, "{what}, page {page}");
            assert_eq!(seen(&dup), (1..=1_200).map(|n| (n, 1)).collect(), "{what}, page {page}");
        }
        // Events without a version are listed too (where the database sorts NULLs).
        let nulls = whole_stream(&store, "nulls", 2);
        assert_eq!(nulls.len(), 5, "{what}");
        // The global log: every row once, forwards and backwards, whatever the page size.
        for page in [3, 100, 5_000] {
            let forward = whole_log(&store, true, page);
            assert_eq!(seen(&forward), exactly_once(total), "{what}, log page {page}");
            let mut backward = whole_log(&store, false, page);
            backward.reverse();
            let key = |e: &eventscope::model::Event| e.payload.as_json().map(|p| p["n"].clone());
            assert_eq!(
                backward.iter().map(key).collect::<Vec<_>>(),
                forward.iter().map(key).collect::<Vec<_>>(),
                "{what}, log page {page}: backwards is the reverse"
            );
        }
        block_on(store.close());
    }
}

/// A table without a row identity of its own (a SQLite view) still lists every row once: pages
/// then start at the last key and skip the rows seen.
#[test]
fn a_view_without_a_rowid_lists_every_row_once() {
    let (db, total) = odd_versions(Backend::Sqlite, false);
    db.exec("ALTER TABLE events RENAME TO raw_events; CREATE VIEW events AS SELECT * FROM raw_events;");
    let store = db.open();
    assert_eq!(store.layout.row_key, eventscope::store::layout::RowKey::None);
    let dup = whole_stream(&store, "dup", 100);
    assert_eq!(seen(&dup), (1..=1_200).map(|n| (n, 1)).collect());
    assert_eq!(seen(&whole_log(&store, true, 100)), exactly_once(total));
    block_on(store.close());
}

/// A fake PostgreSQL server on this machine: it greets like a real one (trust authentication,
/// ready for queries) and then answers every request with `reply`, or never answers at all.
fn fake_server(reply: Option<Vec<u8>>) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(false).ok();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        // Serve a few connections (the pool opens more than one), then stop.
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(20)));
            let mut buf = [0u8; 8192];
            // The startup packet (an SSL request first, answered "no").
            let Ok(n) = stream.read(&mut buf) else { continue };
            if n >= 8 && buf[4..8] == [0x04, 0xd2, 0x16, 0x2f] {
                let _ = stream.write_all(b"N");
                let _ = stream.read(&mut buf);
            }
            let Some(reply) = &reply else {
                // Never answer: hold the connection open until the client gives up.
                while std::time::Instant::now() < deadline && stream.read(&mut buf).is_ok_and(|n| n > 0) {}
                continue;
            };
            let mut greeting = Vec::new();
            greeting.extend_from_slice(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]); // AuthenticationOk
            greeting.extend_from_slice(&[b'K', 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2]); // BackendKeyData
            greeting.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']); // ReadyForQuery
            let _ = stream.write_all(&greeting);
            while std::time::Instant::now() < deadline {
                match stream.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = stream.write_all(reply);
                    }
                    _ => break,
                }
            }
        }
    });
    (port, handle)
}

/// What hostile servers send after the greeting: messages that lie about their lengths or
/// counts, unknown types, and noise.
fn hostile_replies() -> Vec<(&'static str, Vec<u8>)> {
    let mut replies = vec![
        ("noise", (0..512u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("a huge length", vec![b'T', 0xff, 0xff, 0xff, 0xff, 0, 1]),
        ("a negative length", vec![b'D', 0x80, 0, 0, 0]),
        ("an unknown message", vec![b'!', 0, 0, 0, 4, b'Z', 0, 0, 0, 5, b'I']),
        ("an error without fields", vec![b'E', 0, 0, 0, 4, b'Z', 0, 0, 0, 5, b'I']),
        ("a row description that lies about its count", vec![b'T', 0, 0, 0, 6, 0xff, 0xff]),
    ];
    // A data row whose column claims more bytes than the message holds.
    let mut row = vec![b'1', 0, 0, 0, 4, b't', 0, 0, 0, 6, 0, 0];
    row.extend_from_slice(&[b'D', 0, 0, 0, 10, 0, 1, 0x7f, 0xff, 0xff, 0xff, b'C', 0, 0, 0, 4, b'Z', 0, 0, 0, 5, b'I']);
    replies.push(("a data row that overflows", row));
    replies
}

#[test]
fn a_hostile_or_silent_server_gives_one_line_and_ends() {
    // Each server in a thread of its own: the slow ones (a pool waiting for a connection that
    // never becomes usable) wait side by side.
    let mut outcomes: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = hostile_replies()
            .into_iter()
            .map(|(name, reply)| {
                scope.spawn(move || {
                    let (port, _server) = fake_server(Some(reply));
                    let url = format!("postgres://u:secret-pw@127.0.0.1:{port}/db?sslmode=disable");
                    let started = std::time::Instant::now();
                    let (ok, out, err) = common::eventscope(&["streams", &url]);
                    assert!(!ok && out.is_empty(), "{name}: {out}");
                    assert_eq!(err.lines().count(), 1, "{name}: {err}");
                    assert!(!err.contains("panicked") && !err.contains("secret-pw"), "{name}: {err}");
                    assert!(!err.contains("sqlx_") && !err.contains("()"), "{name}: internals shown: {err}");
                    assert!(started.elapsed() < std::time::Duration::from_secs(90), "{name}");
                    format!("{name}: {}", err.trim())
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().expect("hostile server run")).collect()
    });
    // A server that accepts the connection and never answers (or logs in and then falls
    // silent): connecting gives up in time, for reading and for writing the workshop store.
    for (args, reply) in [
        (vec!["streams"], None),
        (vec!["demo", "create", "--url"], None),
        (vec!["demo", "create", "--url"], Some(Vec::new())),
    ] {
        let (port, _server) = fake_server(reply);
        let url = format!("postgres://u:secret-pw@127.0.0.1:{port}/db?sslmode=disable");
        let started = std::time::Instant::now();
        let mut all = args.clone();
        all.push(&url);
        let (ok, _, err) = common::eventscope(&all);
        assert!(!ok && err.lines().count() == 1, "{args:?}: {err}");
        assert!(err.contains("answer"), "{args:?}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{args:?}: {:?}", started.elapsed());
        outcomes.push(format!("silent ({}): {}", args.join(" "), err.trim()));
    }
    eprintln!("{}", outcomes.join("\n"));
}

/// The message of a store that fails to open.
fn open_error(target: &str) -> String {
    match block_on(Store::open(eventscope::store::Target::parse(target).unwrap(), None)) {
        Ok(_) => panic!("{target} opened"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_named_pipe_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("store.sqlite");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let started = std::time::Instant::now();
    let message = open_error(&fifo.display().to_string());
    assert!(message.contains("not a regular file"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (ok, _, err) = common::eventscope(&["streams", &fifo.display().to_string()]);
    assert!(!ok && err.lines().count() == 1 && err.contains("named pipe"), "{err}");
    // The files a command reads besides the store: a pipe or a device there is refused too.
    let db = TestDb::new(Backend::Sqlite, "pipes");
    db.write_workshop();
    let pipe = fifo.display().to_string();
    let layout_pipe = dir.path().join("layout.json");
    assert!(std::process::Command::new("mkfifo").arg(&layout_pipe).status().unwrap().success());
    let layout_pipe = layout_pipe.display().to_string();
    for args in [
        vec!["project", &db.target, "--js", &pipe],
        vec!["preview", &db.target, "--sql", "/dev/zero"],
        vec!["state", &db.target, "s", "--fold", &pipe],
        vec!["streams", &db.target, "--layout", &layout_pipe],
    ] {
        let started = std::time::Instant::now();
        let (ok, out, err) = common::eventscope(&args);
        assert!(!ok && out.is_empty() && err.lines().count() == 1, "{args:?}: {err}");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{args:?}");
    }
}

/// SQLite stores with odd values: ids stored as INTEGER or REAL, text that is not UTF-8, a view
/// that never ends, an unrelated broken view, ids in other scripts searched without case.
#[test]
fn odd_sqlite_values_are_listed_opened_and_kept() {
    use eventscope::model::RowAnomaly;
    let db = TestDb::new(Backend::Sqlite, "oddvalues");
    db.exec(
        "CREATE TABLE events (aggregate_id, version INTEGER, event_type TEXT, payload, recorded_at);
         INSERT INTO events VALUES (42, 1, 'E', '{\"n\": 1}', NULL), (42, 2, 'E', '{\"n\": 2}', NULL),
           (4.5, 1, 'E', '{\"n\": 3}', NULL),
           ('École-7', 1, 'E', '{\"n\": 4}', NULL), ('text', 1, 'E', CAST(x'7b226e223a2035ff7d' AS TEXT), NULL),
           (CAST(x'6964ff' AS TEXT), 1, CAST(x'45ff' AS TEXT), '{\"n\": 6}', 'yesterday'),
           (x'626c6f62', 1, 'E', '{\"n\": 7}', NULL), (x'ff00', 1, 'E', '{\"n\": 8}', NULL),
           (NULL, 1, 'E', '{\"n\": 9}', NULL), ('nover', NULL, 'E', '{\"n\": 10}', NULL),
           ('big', 1, 'E', '{\"n\": 11, \"huge\": 18446744073709551616123, \"far\": 1e400}', NULL),
           ('vers', 'abc', 'E', '{\"n\": 12}', NULL), ('vers', 2.5, 'E', '{\"n\": 13}', NULL), ('vers', 3, 'E', '{\"n\": 14}', -9223372036854775808);
         CREATE TABLE gone (x); CREATE VIEW broken AS SELECT x FROM gone; DROP TABLE gone;",
    );
    let store = db.open();
    // Every stream is listed, page after page, whatever the type of its id.
    let mut listed = Vec::new();
    let mut query = eventscope::store::query::StreamQuery { limit: 1, ..Default::default() };
    loop {
        let page = block_on(store.list_streams(&query)).unwrap();
        listed.extend(page.streams.iter().map(|s| s.stream.0.clone()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
        assert!(listed.len() < 20, "paging does not end: {listed:?}");
    }
    assert_eq!(listed.len(), 11, "{listed:?}");
    assert_eq!(
        block_on(store.counts()).unwrap().streams,
        Some(11),
        "the NULL id is counted as the stream it is listed as"
    );
    let vers: Vec<_> = whole_stream(&store, "vers", 10).into_iter().map(|e| (e.version, e.anomalies)).collect();
    assert_eq!(
        vers,
        // (In SQLite's order: numbers before text.)
        [
            (2, vec![RowAnomaly::UnreadableVersion("2.5".into())]),
            (3, vec![RowAnomaly::UnreadableTime("-9223372036854775808".into())]),
            (0, vec![RowAnomaly::UnreadableVersion("abc".into())]),
        ]
    );
    let since =
        eventscope::audit::AuditFilter { since: Some("2026-01-01T00:00:00Z".parse().unwrap()), ..Default::default() };
    assert_eq!(block_on(store.audit_count(&since)).expect("a time filter over an odd epoch"), 0);
    for id in ["id\\xff", "blob", "\\xff\0", "", "42", "4.5"] {
        assert!(listed.contains(&id.to_owned()), "{id:?} in {listed:?}");
    }
    // Ids stored as numbers, bytes, text that is not UTF-8, or NULL open like any other, and
    // say what is odd about them.
    assert_eq!(whole_stream(&store, "42", 10).len(), 2);
    assert_eq!(whole_stream(&store, "4.5", 10).len(), 1);
    assert_eq!(whole_stream(&store, "blob", 10).len(), 1);
    let odd_id = whole_stream(&store, "id\\xff", 10);
    assert_eq!(odd_id.len(), 1);
    assert_eq!(odd_id[0].event_type, "E\\xff");
    assert_eq!(
        odd_id[0].anomalies,
        [RowAnomaly::StreamIdNotText, RowAnomaly::EventTypeNotText, RowAnomaly::UnreadableTime("yesterday".into())]
    );
    assert_eq!(whole_stream(&store, "\\xff\0", 10)[0].anomalies, [RowAnomaly::StreamIdNotText]);
    assert_eq!(whole_stream(&store, "", 10)[0].anomalies, [RowAnomaly::NoStreamId]);
    assert_eq!(whole_stream(&store, "nover", 10)[0].anomalies, [RowAnomaly::NoVersion]);
    assert!(whole_stream(&store, "id", 10).is_empty() && whole_stream(&store, "\\xf", 10).is_empty());
    // Numbers keep their digits.
    let big = whole_stream(&store, "big", 10);
    let text = big[0].to_output_json().to_string();
    assert!(text.contains("18446744073709551616123") && text.contains("1e+400"), "{text}");
    // A payload that is not UTF-8 keeps its bytes and says why it is not shown.
    let odd = whole_stream(&store, "text", 10);
    match &*odd[0].payload {
        eventscope::model::Payload::Undecodable { bytes, reason } => {
            assert_eq!(bytes.len(), 9, "{reason}");
            assert!(!reason.contains("NULL"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Search folds case by Unicode's rules.
    for search in ["ÉCOLE", "école", "COLE-7"] {
        let query = eventscope::store::query::StreamQuery { search: search.into(), limit: 10, ..Default::default() };
        let found = block_on(store.list_streams(&query)).unwrap().streams;
        assert_eq!(found.len(), 1, "{search}");
    }
    block_on(store.close());

    // A relation that never ends is stopped at the deadline, and the store still answers.
    let db = TestDb::new(Backend::Sqlite, "endless");
    db.exec(
        "CREATE VIEW events AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
         SELECT 's' AS aggregate_id, n AS version, 'E' AS event_type, '{}' AS payload FROM r",
    );
    let store = db.open();
    store.set_query_deadline(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let error = block_on(store.counts()).expect_err("an endless count");
    assert!(error.to_string().contains("did not finish"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // (Ordering an endless relation never ends either: also stopped.)
    assert!(block_on(store.read_stream("s", EventCursor::from_version(1), 3)).is_err());
    // The streamed readers too (a replay, a projection run, an export): they may run as long as
    // rows come, but not that long without one.
    let mut none = |_: eventscope::model::Event| true;
    let error = block_on(store.read_stream_each("s", None, &mut none)).expect_err("an endless replay");
    assert!(error.to_string().contains("gave no row for 300 ms (3000 ms before the first)"), "{error}");
    let selection = eventscope::store::query::LogSelection::default();
    assert!(block_on(store.read_log_each(&selection, &mut none)).is_err());
    let filter = eventscope::audit::AuditFilter::default();
    assert!(block_on(store.audit_each(&filter, &mut none)).is_err());
    assert!(block_on(store.catalog()).unwrap().tables.iter().any(|t| t.name == "events"));
    block_on(store.close());
}

/// A SQLite stream whose versions are mostly text, with a primary key: paged to its end, each
/// event once (the cursor compares the text as stored; compared as the 0 it casts to, every
/// page started over).
#[test]
fn a_stream_of_text_versions_is_paged_to_its_end() {
    let db = TestDb::new(Backend::Sqlite, "textversions");
    db.exec(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version NOT NULL, event_type TEXT, payload TEXT,
           position INTEGER, PRIMARY KEY (aggregate_id, version, position));
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)
         INSERT INTO events SELECT 's', 'x', 'E', '{}', i + 2 FROM n;
         INSERT INTO events VALUES ('s', 1, 'E', '{}', 1), ('s', 2, 'E', '{}', 2);",
    );
    let store = db.open();
    for page in [1, 7, 100] {
        let positions: Vec<i64> = whole_stream(&store, "s", page).iter().filter_map(|e| e.position).collect();
        assert_eq!(positions, (1..=32).collect::<Vec<_>>(), "pages of {page}");
    }
}

/// Ids of every SQLite type under a primary key: the streams list walks the index from id to
/// id (numbers, then text, then BLOBs, as SQLite orders them) and lists each once, with its
/// own bounds, one page after another.
#[test]
fn odd_sqlite_ids_under_a_key_are_listed_from_the_index() {
    let db = TestDb::new(Backend::Sqlite, "oddkeys");
    db.exec(
        "CREATE TABLE events (aggregate_id NOT NULL, version INTEGER NOT NULL, event_type TEXT, payload, recorded_at,
           PRIMARY KEY (aggregate_id, version));
         INSERT INTO events VALUES (42, 1, 'E', '{}', NULL), (42, 2, 'E', '{}', '2026-01-02T00:00:00Z'),
           (4.5, 1, 'E', '{}', NULL), ('École-7', 1, 'E', '{}', NULL), (CAST(x'6964ff' AS TEXT), 1, 'E', '{}', NULL),
           (x'626c6f62', 1, 'E', '{}', NULL), (x'ff00', 3, 'E', '{}', NULL), (x'ff00', 5, 'E', '{}', NULL);",
    );
    let store = db.open();
    let expected = [
        ("4.5", 1, 1, 1),
        ("42", 2, 1, 2),
        ("id\\xff", 1, 1, 1),
        ("École-7", 1, 1, 1),
        ("blob", 1, 1, 1),
        ("\\xff\0", 2, 3, 5),
    ];
    for (sort, order) in
        [(eventscope::store::query::StreamSort::Id, false), (eventscope::store::query::StreamSort::IdDescending, true)]
    {
        let mut listed = Vec::new();
        let mut query = eventscope::store::query::StreamQuery { sort, limit: 1, ..Default::default() };
        loop {
            let page = block_on(store.list_streams(&query)).unwrap();
            listed.extend(page.streams.iter().map(|s| (s.stream.0.clone(), s.events, s.first_version, s.last_version)));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
            assert!(listed.len() < 20, "paging does not end: {listed:?}");
        }
        let mut want: Vec<_> =
            expected.iter().map(|(id, n, first, last)| (id.to_string(), *n, *first, *last)).collect();
        if order {
            want.reverse();
        }
        assert_eq!(listed, want, "{sort:?}");
    }
    // Each listed id opens its stream.
    for (id, n, _, _) in expected {
        assert_eq!(whole_stream(&store, id, 10).len(), n as usize, "{id}");
    }
}

#[test]
fn search_folds_case_by_unicode_on_postgres_too() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "unicodesearch");
    db.exec(
        "CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload TEXT);
         INSERT INTO events VALUES ('École-7', 1, 'E', '{\"n\": 1}'), ('other', 1, 'E', '{\"n\": 2}');",
    );
    let store = db.open();
    for search in ["ÉCOLE", "école"] {
        let query = eventscope::store::query::StreamQuery { search: search.into(), limit: 10, ..Default::default() };
        assert_eq!(block_on(store.list_streams(&query)).unwrap().streams.len(), 1, "{search}");
    }
    block_on(store.close());
    // An id column under a nondeterministic collation (PostgreSQL refuses a substring search
    // under one): searched all the same.
    let db = TestDb::new(Backend::Postgres, "nondeterministic");
    db.exec(
        "CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
         CREATE TABLE events (aggregate_id TEXT COLLATE case_blind, version INTEGER, event_type TEXT, payload TEXT);
         INSERT INTO events VALUES ('École-7', 1, 'E', '{\"n\": 1}'), ('other', 1, 'E', '{\"n\": 2}');",
    );
    let store = db.open();
    for search in ["ÉCOLE", "cole-7"] {
        let query = eventscope::store::query::StreamQuery { search: search.into(), limit: 10, ..Default::default() };
        let found = block_on(store.list_streams(&query)).unwrap().streams;
        assert_eq!(found.iter().map(|s| s.stream.0.as_str()).collect::<Vec<_>>(), ["École-7"], "{search}");
    }
    block_on(store.close());
}

/// PostgreSQL rows with a NULL stream id or version, a time that is not a time, and numbers
/// beyond 64 bits: each listed, opened and marked, the digits kept.
#[test]
fn odd_postgres_rows_are_listed_opened_and_marked() {
    if !common::postgres_available() {
        return;
    }
    use eventscope::model::RowAnomaly;
    let db = TestDb::new(Backend::Postgres, "oddrows");
    db.exec(
        "CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload TEXT, recorded_at TEXT);
         INSERT INTO events VALUES (NULL, 1, 'E', '{\"n\": 1}', NULL), ('nover', NULL, 'E', '{\"n\": 2}', NULL),
           ('late', 1, 'E', '{\"n\": 3}', 'garbage'),
           ('big', 1, 'E', '{\"n\": 4, \"huge\": 18446744073709551616123}', '2026-03-02 10:00:00');",
    );
    let store = db.open();
    let listed =
        block_on(store.list_streams(&eventscope::store::query::StreamQuery { limit: 10, ..Default::default() }))
            .unwrap()
            .streams;
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert_eq!(whole_stream(&store, "", 10)[0].anomalies, [RowAnomaly::NoStreamId]);
    assert_eq!(whole_stream(&store, "nover", 10)[0].anomalies, [RowAnomaly::NoVersion]);
    assert_eq!(whole_stream(&store, "late", 10)[0].anomalies, [RowAnomaly::UnreadableTime("garbage".into())]);
    let big = whole_stream(&store, "big", 10)[0].to_output_json().to_string();
    assert!(big.contains("18446744073709551616123"), "{big}");
    assert_eq!(seen(&whole_log(&store, true, 2)), exactly_once(4));
    block_on(store.close());

    // Versions stored as text that is not a whole number, and times PostgreSQL holds but chrono
    // cannot (`infinity`): every read still answers, the rows marked.
    let db = TestDb::new(Backend::Postgres, "oddtypes");
    db.exec(
        "CREATE TABLE events (aggregate_id TEXT, version TEXT, event_type TEXT, payload TEXT, recorded_at TIMESTAMPTZ);
         INSERT INTO events VALUES ('s', '1', 'E', '{\"n\": 1}', '2026-03-02 10:00:00+00'), ('s', 'abc', 'E', '{\"n\": 2}', 'infinity'),
           ('s', '99999999999999999999', 'E', '{\"n\": 3}', '-infinity'), ('s', '2', 'E', '{\"n\": 4}', NULL);",
    );
    let store = db.open();
    let events = whole_stream(&store, "s", 2);
    assert_eq!(seen(&events), exactly_once(4));
    let anomalies: Vec<_> =
        events.iter().map(|e| (e.payload.as_json().unwrap()["n"].as_i64().unwrap(), e.anomalies.clone())).collect();
    assert!(
        anomalies.contains(&(
            2,
            vec![RowAnomaly::UnreadableVersion("abc".into()), RowAnomaly::UnreadableTime("infinity".into())]
        )),
        "{anomalies:?}"
    );
    assert!(
        anomalies.contains(&(
            3,
            vec![
                RowAnomaly::UnreadableVersion("99999999999999999999".into()),
                RowAnomaly::UnreadableTime("-infinity".into())
            ]
        )),
        "{anomalies:?}"
    );
    assert_eq!(seen(&whole_log(&store, true, 3)), exactly_once(4));
    let since =
        eventscope::audit::AuditFilter { since: Some("2026-01-01T00:00:00Z".parse().unwrap()), ..Default::default() };
    assert!(block_on(store.audit_count(&since)).is_ok());
    let histogram = block_on(store.audit_histogram(&eventscope::audit::AuditFilter::default(), 10)).expect("histogram");
    assert_eq!(histogram.buckets.iter().map(|(_, n)| n).sum::<i64>(), 1);
    block_on(store.close());
}

crate::on_each_backend!(rows_that_share_a_version_are_each_read_once);
