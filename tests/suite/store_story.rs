//! The store layer's test story, run with the same assertions on SQLite and PostgreSQL: the
//! workshop store round trip, paging across page boundaries, search, undecodable payloads,
//! version gaps and duplicates, and the read-only proof.

use crate::common;

use std::collections::BTreeMap;

use common::{Backend, TestDb, block_on};
use eventscope::demo::{DOUBLE_REFUND_ORDER, STALE_SNAPSHOT_ORDER, order_stream};
use eventscope::model::{Event, Payload, VersionAnomaly, version_anomalies};
use eventscope::store::query::{LogCursor, StreamQuery, StreamSort};
use eventscope::store::{EventCursor, Store, StoreError};

fn read_whole_stream(store: &Store, stream: &str, page: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut cursor = Some(EventCursor::from_version(i64::MIN));
    while let Some(at) = cursor {
        let p = block_on(store.read_stream(stream, at, page)).expect("read stream");
        assert!(p.events.len() <= page);
        events.extend(p.events);
        cursor = p.next;
    }
    events
}

fn list_all(store: &Store, search: &str, sort: StreamSort, page: i64) -> Vec<eventscope::model::StreamSummary> {
    let mut out = Vec::new();
    let mut query = StreamQuery { search: search.into(), sort, after: None, limit: page };
    loop {
        let p = block_on(store.list_streams(&query)).expect("list streams");
        out.extend(p.streams);
        match p.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
}

fn workshop_store_round_trip(backend: Backend) {
    let shared = common::workshop(backend);
    let (db, demo) = (&shared.db, &shared.demo);
    let store = db.open();
    assert_eq!(store.layout.name, "events", "{backend:?}");
    assert!(store.layout.columns.position.is_some());
    assert!(store.layout.snapshots.is_some());

    let mut expected: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in &demo.events {
        expected.entry(e.aggregate_id.clone()).or_default().push(e.to_event());
    }
    let counts = block_on(store.counts()).unwrap();
    assert_eq!(counts.streams, Some(expected.len() as i64), "{backend:?}");
    assert_eq!(counts.events as usize, demo.events.len(), "{backend:?}");

    // Every sort, paged 7 at a time, lists every stream once, in the promised order.
    for sort in StreamSort::ALL {
        let listed = list_all(&store, "", sort, 7);
        assert_eq!(listed.len(), expected.len(), "{backend:?} {sort:?}");
        for s in &listed {
            let events = &expected[&s.stream.0];
            assert_eq!(s.events as usize, events.len());
            assert_eq!(s.first_version, 1);
            assert_eq!(s.last_version, events.len() as i64);
            assert_eq!(s.last_recorded_at, events.last().and_then(|e| e.recorded_at));
        }
        let keys: Vec<_> = listed.iter().map(|s| (s.stream.0.clone(), s.events, s.last_recorded_at)).collect();
        let mut sorted = keys.clone();
        match sort {
            StreamSort::Id => sorted.sort_by(|a, b| a.0.cmp(&b.0)),
            StreamSort::IdDescending => sorted.sort_by(|a, b| b.0.cmp(&a.0)),
            StreamSort::MostEvents => sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0))),
            StreamSort::Recent => sorted.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0))),
        }
        assert_eq!(keys, sorted, "{backend:?} {sort:?}");
    }

    // Events read back page by page (3 at a time) equal what was written.
    for stream in [order_stream(DOUBLE_REFUND_ORDER), order_stream(1001), eventscope::demo::account_stream("C-107")] {
        let read = read_whole_stream(&store, &stream, 3);
        assert_eq!(read, expected[&stream], "{backend:?} {stream}");
    }
    // Reading from a version in the middle.
    let stream = eventscope::demo::account_stream("C-107");
    let page = block_on(store.read_stream(&stream, EventCursor::from_version(1000), 5)).unwrap();
    assert_eq!(page.events.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1000, 1001, 1002, 1003, 1004]);
    let next = page.next.expect("more pages");
    assert_eq!(
        (next.from, next.after.as_ref().map(|a| (a.keys[0].clone(), a.skip))),
        (Some(1000), Some((eventscope::store::cell::Cell::Int(1004), 0)))
    );
    let page = block_on(store.read_stream(&stream, next, 2)).unwrap();
    assert_eq!(page.events.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1005, 1006]);

    // The global log, forwards and backwards, by position, across pages.
    let mut log = Vec::new();
    let mut cursor = LogCursor::Edge;
    loop {
        let page = block_on(store.read_log(&cursor, true, 500)).unwrap();
        log.extend(page.events.iter().map(|e| e.position.unwrap()));
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(log, (1..=demo.events.len() as i64).collect::<Vec<_>>(), "{backend:?}");
    let newest = block_on(store.read_log(&LogCursor::Edge, false, 10)).unwrap();
    assert_eq!(newest.events[0].position, Some(demo.events.len() as i64));
    let before = block_on(store.read_log(newest.next.as_ref().unwrap(), false, 10)).unwrap();
    assert_eq!(before.events[0].position, Some(demo.events.len() as i64 - 10));
    block_on(store.close());
}

fn search_is_a_case_insensitive_substring_answered_by_the_database(backend: Backend) {
    let db = &common::workshop(backend).db;
    let store = db.open();
    let found = list_all(&store, "1042", StreamSort::Id, 10);
    assert_eq!(found.len(), 1, "{backend:?}");
    assert_eq!(found[0].stream.0, order_stream(DOUBLE_REFUND_ORDER));
    assert_eq!(list_all(&store, "ACC00107", StreamSort::Id, 10).len(), 1, "{backend:?}");
    assert_eq!(block_on(store.count_streams("acc")).unwrap(), 12);
    // Orders 1001..=1060 are 00001001-… to 00001060-…: "0000104" matches 1040..=1049.
    assert_eq!(list_all(&store, "0000104", StreamSort::Id, 4).len(), 10, "{backend:?}");
    // Quotes, wildcards and SQL are taken literally.
    for hostile in ["'; DROP TABLE events; --", "%", "_", "\\", "\" OR 1=1 --"] {
        assert!(list_all(&store, hostile, StreamSort::Id, 10).is_empty(), "{backend:?} {hostile}");
        assert_eq!(block_on(store.count_streams(hostile)).unwrap(), 0);
    }
    assert_eq!(block_on(store.counts()).unwrap().streams, Some(73));
    // An unknown stream, including one that is not even a UUID on a uuid column.
    for missing in ["order-1", "00000000-0000-4000-8000-000000000000", "' OR '1'='1"] {
        assert!(
            matches!(block_on(store.stream_summary(missing)), Err(StoreError::UnknownStream(_))),
            "{backend:?} {missing}"
        );
        assert!(read_whole_stream(&store, missing, 10).is_empty());
    }
}

/// A stream with an undecodable JSON payload, a non-UTF-8 payload, a NULL payload, a version
/// gap and a duplicate version, in a table without a primary key.
fn messy_fixture(db: &TestDb) {
    let (bytes_type, bad_utf8) = match db.backend {
        Backend::Sqlite => ("BLOB", "X'7BFF22'"),
        Backend::Postgres => ("BYTEA", "'\\x7bff22'::bytea"),
    };
    let text = |s: &str| match db.backend {
        Backend::Sqlite => format!("CAST('{s}' AS BLOB)"),
        Backend::Postgres => format!("convert_to('{s}', 'UTF8')"),
    };
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, payload {bytes_type}, recorded_at TEXT);
         INSERT INTO events VALUES ('s-1', 1, 'Opened', {ok}, '2026-01-01T10:00:00Z');
         INSERT INTO events VALUES ('s-1', 2, 'Broken', {broken}, '2026-01-01T10:01:00Z');
         INSERT INTO events VALUES ('s-1', 4, 'Binary', {bad_utf8}, '2026-01-01T10:02:00Z');
         INSERT INTO events VALUES ('s-1', 5, 'Twice', {dup_a}, '2026-01-01T10:03:00Z');
         INSERT INTO events VALUES ('s-1', 5, 'Twice', {dup_b}, '2026-01-01T10:03:00Z');
         INSERT INTO events VALUES ('s-1', 6, 'Empty', NULL, '2026-01-01T10:04:00Z');
         INSERT INTO events VALUES ('s-2', 1, 'Opened', {ok}, '2026-01-02 10:00:00');",
        ok = text(r#"{"open": true}"#),
        broken = text(r#"{"amount": 12,"#),
        dup_a = text(r#"{"n": 1}"#),
        dup_b = text(r#"{"n": 1}"#),
    ));
}

fn undecodable_payloads_gaps_and_duplicates_are_reported_not_hidden(backend: Backend) {
    let db = TestDb::new(backend, "messy");
    messy_fixture(&db);
    let store = db.open();
    assert!(store.layout.columns.position.is_none());
    for page in [1, 2, 3, 100] {
        let events = read_whole_stream(&store, "s-1", page);
        let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
        assert_eq!(versions, vec![1, 2, 4, 5, 5, 6], "{backend:?} page {page}");
        assert_eq!(
            version_anomalies(versions),
            vec![VersionAnomaly::Gap { after: 2, before: 4 }, VersionAnomaly::Duplicate { version: 5, count: 2 }]
        );
        match &*events[1].payload {
            Payload::Undecodable { bytes, reason } => {
                assert_eq!(bytes, br#"{"amount": 12,"#);
                assert!(reason.starts_with("not valid JSON"), "{reason}");
            }
            other => panic!("{backend:?}: expected undecodable, got {other:?}"),
        }
        match &*events[2].payload {
            Payload::Undecodable { bytes, reason } => {
                assert_eq!(bytes, &[0x7b, 0xff, 0x22]);
                assert!(reason.starts_with("not UTF-8"), "{reason}");
            }
            other => panic!("{backend:?}: expected undecodable, got {other:?}"),
        }
        assert!(matches!(&*events[5].payload, Payload::Undecodable { reason, .. } if reason == "the payload is NULL"));
        assert_eq!(events[2].recorded_at, events[1].recorded_at.map(|t| t + chrono::Duration::minutes(1)));
    }
    // The global log without a position column goes by time, stream, version.
    let page = block_on(store.read_log(&LogCursor::Edge, true, 3)).unwrap();
    let order: Vec<_> = page.events.iter().map(|e| (e.stream.0.clone(), e.version)).collect();
    assert_eq!(order, vec![("s-1".to_owned(), 1), ("s-1".to_owned(), 2), ("s-1".to_owned(), 4)]);
    let s2 = read_whole_stream(&store, "s-2", 10);
    assert_eq!(s2[0].recorded_at.map(eventscope::model::format_time).as_deref(), Some("2026-01-02T10:00:00.000Z"));
    // The CLI lists the events and warns about the anomalies on stderr.
    let (ok, out, err) = common::eventscope(&["events", &db.target, "s-1"]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 6);
    assert_eq!(json[1]["payload"]["undecodable"]["bytes_base64"], "eyJhbW91bnQiOiAxMiw=");
    assert!(err.contains("warning: stream s-1: version 3 is missing"), "{err}");
    assert!(err.contains("version 5 occurs 2 times"), "{err}");
}

fn the_store_is_never_written(backend: Backend) {
    let db = TestDb::new(backend, "readonly");
    db.write_workshop();
    let before_files = (backend == Backend::Sqlite).then(|| common::fingerprints(db.path().parent().unwrap()));
    let store = db.open();
    let before = block_on(store.counts()).unwrap();
    for statement in [
        "INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, recorded_at) \
         SELECT position + 100000, aggregate_id, aggregate_type, version + 100000, event_type, payload, metadata, recorded_at FROM events",
        "DELETE FROM events",
        "UPDATE events SET event_type = 'Hacked'",
        "DROP TABLE snapshots",
        "CREATE TABLE intruder (x INTEGER)",
    ] {
        match block_on(store.run_read_only(statement)) {
            Err(StoreError::ReadOnly(message)) => {
                assert!(message.contains("read-only"), "{message}")
            }
            other => panic!("{backend:?}: `{statement}` was not refused as a write: {other:?}"),
        }
    }
    assert_eq!(block_on(store.counts()).unwrap(), before);
    let catalog = block_on(store.catalog()).unwrap();
    assert!(catalog.tables.iter().all(|t| t.name != "intruder"));
    block_on(store.close());
    if let Some(before_files) = before_files {
        assert_eq!(common::fingerprints(db.path().parent().unwrap()), before_files);
    }
}

fn a_database_that_is_not_an_event_store_lists_its_tables(backend: Backend) {
    let db = TestDb::new(backend, "notstore");
    db.exec("CREATE TABLE customers (id INTEGER, name TEXT); CREATE TABLE invoices (id INTEGER)");
    let err =
        block_on(Store::open(eventscope::store::Target::parse(&db.target).unwrap(), None)).err().expect("must fail");
    let message = err.to_string();
    assert!(message.contains("customers") && message.contains("invoices"), "{backend:?}: {message}");
    assert!(message.contains("not an event store"), "{message}");
}

/// Reads the whole log page by page in one direction.
fn read_whole_log(store: &Store, forward: bool, page: usize) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut cursor = LogCursor::Edge;
    loop {
        let p = block_on(store.read_log(&cursor, forward, page)).expect("read log");
        out.extend(p.events.iter().map(|e| (e.stream.0.clone(), e.version)));
        match p.next {
            Some(next) => cursor = next,
            None => return out,
        }
        assert!(out.len() <= 100, "paging does not end");
    }
}

fn events_and_streams_without_a_time_are_paged_like_the_others(backend: Backend) {
    let db = TestDb::new(backend, "untimed");
    let time = match backend {
        Backend::Sqlite => "TEXT",
        Backend::Postgres => "TIMESTAMPTZ",
    };
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, recorded_at {time});
         INSERT INTO events VALUES ('a', 1, 'E', '{{}}', NULL), ('a', 2, 'E', '{{}}', NULL), ('b', 1, 'E', '{{}}', '2026-01-01T10:00:00Z'),
           ('c', 1, 'E', '{{}}', NULL), ('d', 1, 'E', '{{}}', '2026-01-02T10:00:00Z'), ('d', 2, 'E', '{{}}', '2026-01-03T10:00:00Z'),
           ('e', 1, 'E', '{{}}', NULL);"
    ));
    let store = db.open();
    assert!(store.layout.columns.position.is_none() && store.layout.columns.recorded_at.is_some());
    // Most recent first; streams without a time last, by id.
    for page in [1, 2, 3] {
        let listed: Vec<String> =
            list_all(&store, "", StreamSort::Recent, page).into_iter().map(|s| s.stream.0).collect();
        assert_eq!(listed, ["d", "b", "a", "c", "e"], "{backend:?} page {page}");
    }
    // The log: by time, untimed events where the database's indexes keep NULLs (first on
    // SQLite, last on PostgreSQL), by stream and version; backwards the exact reverse.
    let untimed = [("a", 1), ("a", 2), ("c", 1), ("e", 1)];
    let timed = [("b", 1), ("d", 1), ("d", 2)];
    let in_order = match backend {
        Backend::Sqlite => [untimed.as_slice(), timed.as_slice()].concat(),
        Backend::Postgres => [timed.as_slice(), untimed.as_slice()].concat(),
    };
    let expected: Vec<(String, i64)> = in_order.into_iter().map(|(s, v)| (s.to_owned(), v)).collect();
    for page in [1, 2, 3, 10] {
        assert_eq!(read_whole_log(&store, true, page), expected, "{backend:?} forward, page {page}");
        let mut backwards = read_whole_log(&store, false, page);
        backwards.reverse();
        assert_eq!(backwards, expected, "{backend:?} backward, page {page}");
    }
    block_on(store.close());
}

/// A big store is opened without counting it: the counts are the catalog's estimates, marked
/// so; the exact count is still there on request; a stream's summary reads the index only.
fn a_big_store_is_opened_with_estimated_counts(backend: Backend) {
    let db = TestDb::new(backend, "estimates");
    let (table, rows, stats) = match backend {
        Backend::Sqlite => (
            "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, \
             payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));",
            "WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 209999) \
             INSERT INTO events SELECT 's-' || (n / 10), n % 10 + 1, 'E', '{}' FROM g;",
            "ANALYZE;",
        ),
        Backend::Postgres => (
            "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, \
             payload JSONB NOT NULL, PRIMARY KEY (aggregate_id, version));",
            "INSERT INTO events SELECT 's-' || (n / 10), n % 10 + 1, 'E', '{}' FROM generate_series(0, 209999) n;",
            "ANALYZE events;",
        ),
    };
    db.exec(&format!("{table}{rows}"));
    if backend == Backend::Sqlite {
        // Without statistics, SQLite's estimate is its largest rowid, and there is none of streams.
        let store = db.open();
        let counts = block_on(store.counts()).unwrap();
        assert_eq!((counts.events, counts.streams, counts.estimated), (210_000, None, true));
        block_on(store.close());
    }
    db.exec(stats);
    let store = db.open();
    let counts = block_on(store.counts()).unwrap();
    assert!(counts.estimated, "{backend:?}");
    assert!((200_000..=220_000).contains(&counts.events), "{backend:?}: {counts:?}");
    let streams = counts.streams.unwrap_or_else(|| panic!("{backend:?}: no stream estimate"));
    assert!((15_000..=30_000).contains(&streams), "{backend:?}: {counts:?}");
    let exact = block_on(store.exact_counts()).unwrap();
    assert_eq!((exact.streams, exact.events, exact.estimated), (Some(21_000), 210_000, false));
    let summary = block_on(store.stream_summary("s-20999")).unwrap();
    assert_eq!((summary.events, summary.first_version, summary.last_version), (10, 1, 10));
    assert!(matches!(block_on(store.stream_summary("s-21000")), Err(StoreError::UnknownStream(_))));
    block_on(store.close());
}

/// A log reader's selection is answered by the database, in log order, and is exactly what
/// filtering the whole log by hand gives.
fn the_database_selects_a_readers_streams_category_and_end(backend: Backend) {
    use eventscope::store::query::LogSelection;
    let shared = common::workshop(backend);
    let store = shared.db.open();
    let read = |selection: &LogSelection| {
        let mut events = Vec::new();
        let mut keep = |e: Event| {
            events.push(e);
            true
        };
        block_on(store.read_log_each(selection, &mut keep)).unwrap();
        events
    };
    let all = read(&LogSelection::default());
    assert_eq!(all.len(), shared.demo.events.len());
    assert!(all.windows(2).all(|w| w[0].position < w[1].position), "log order");
    let two = vec![order_stream(DOUBLE_REFUND_ORDER), eventscope::demo::account_stream("C-107")];
    let cases = [
        LogSelection { streams: Some(two.clone()), ..Default::default() },
        LogSelection { category: Some("Order".into()), ..Default::default() },
        LogSelection { category: Some("CustomerAccount".into()), until_position: Some(900), ..Default::default() },
        LogSelection { streams: Some(vec!["no-such-stream".into()]), ..Default::default() },
    ];
    for selection in cases {
        let expected: Vec<_> = all
            .iter()
            .filter(|e| selection.streams.as_ref().is_none_or(|s| s.contains(&e.stream.0)))
            .filter(|e| selection.category.as_ref().is_none_or(|c| e.category() == c))
            .filter(|e| selection.until_position.is_none_or(|u| e.position.is_none_or(|p| p <= u)))
            .map(|e| e.position)
            .collect();
        let got: Vec<_> = read(&selection).iter().map(|e| e.position).collect();
        assert_eq!(got, expected, "{backend:?} {selection:?}");
        assert!(!got.is_empty() || selection.streams.is_some(), "{backend:?} {selection:?} selects something");
    }
    block_on(store.close());
    // Without an aggregate type, the category is the id before its first `-`.
    let db = TestDb::new(backend, "categories");
    db.exec(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, \
         payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));
         INSERT INTO events VALUES ('Cart-1', 1, 'E', '{}'), ('Cartography-1', 1, 'E', '{}'), ('Cart', 1, 'E', '{}'),
           ('x-Cart-1', 1, 'E', '{}'), ('Cart-2-3', 1, 'E', '{}'), ('cart-9', 1, 'E', '{}'), ('Car-1', 1, 'E', '{}');",
    );
    let store = db.open();
    let mut carts = Vec::new();
    let mut keep = |e: Event| {
        carts.push(e.stream.0);
        true
    };
    let selection = LogSelection { category: Some("Cart".into()), ..Default::default() };
    block_on(store.read_log_each(&selection, &mut keep)).unwrap();
    carts.sort();
    assert_eq!(carts, ["Cart", "Cart-1", "Cart-2-3"], "{backend:?}");
    block_on(store.close());
}

/// Where no index gives the log its order, the store says which one would (the planner is
/// asked); it never creates it. The workshop store has one.
fn a_log_without_an_ordering_index_gets_the_index_that_would_give_one(backend: Backend) {
    let shared = common::workshop(backend);
    let store = shared.db.open();
    assert_eq!(block_on(store.log_order_advice()), None, "{backend:?}: the workshop store's position is indexed");
    block_on(store.close());
    let db = TestDb::new(backend, "noindex");
    db.exec(
        "CREATE TABLE events (position BIGINT NOT NULL, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, \
         event_type TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));
         INSERT INTO events VALUES (1, 'a', 1, 'E', '{}'), (2, 'b', 1, 'E', '{}');",
    );
    let store = db.open();
    let advice = block_on(store.log_order_advice()).unwrap_or_else(|| panic!("{backend:?}: no advice"));
    assert!(
        advice.starts_with("CREATE INDEX \"events_position_idx\" ON ") && advice.ends_with("(\"position\")"),
        "{advice}"
    );
    block_on(store.close());
    // Asking changed nothing: the index is still not there.
    let store = db.open();
    assert!(block_on(store.log_order_advice()).is_some());
    block_on(store.close());
}

/// An order no index gives, worked out in one pass over the store (the streams panel does it in
/// the background on a big store), keeps the first streams of the order the paged query gives;
/// the pass stops when its progress says so.
fn a_background_sort_keeps_the_first_streams_in_the_paged_order(backend: Backend) {
    let shared = common::workshop(backend);
    let store = shared.db.open();
    for sort in [StreamSort::Recent, StreamSort::MostEvents] {
        for search in ["", "-4000-8000-0000", "nothing like this"] {
            let paged = block_on(store.list_streams(&StreamQuery {
                search: search.into(),
                sort,
                limit: 15,
                ..Default::default()
            }))
            .unwrap()
            .streams;
            let top = block_on(store.top_streams(search, sort, 15, &mut |_| true)).unwrap().expect("not stopped");
            assert_eq!(top.more, search != "nothing like this", "{backend:?} {sort:?} {search:?}");
            let top = top.streams;
            // (Ties are broken by id; the server's collation may order ids otherwise than bytes.)
            let key = |s: &eventscope::model::StreamSummary| (s.events, s.last_recorded_at);
            assert_eq!(
                top.iter().map(key).collect::<Vec<_>>(),
                paged.iter().map(key).collect::<Vec<_>>(),
                "{backend:?} {sort:?} {search:?}"
            );
            assert!(top.windows(2).all(|w| eventscope::store::stream_order(sort, &w[0], &w[1]).is_le()));
            assert_eq!(top.is_empty(), search == "nothing like this");
        }
    }
    block_on(store.close());
    let db = TestDb::new(backend, "many_streams");
    let rows = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
                            INSERT INTO events SELECT 's-' || i, 1, 'E', '{}' FROM n;"
        }
        Backend::Postgres => "INSERT INTO events SELECT 's-' || i, 1, 'E', '{}' FROM generate_series(1, 2500) AS i;",
    };
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, \
         payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version)); {rows}"
    ));
    let store = db.open();
    let mut heard = Vec::new();
    let mut stop_at_once = |read: usize| {
        heard.push(read);
        false
    };
    assert_eq!(block_on(store.top_streams("", StreamSort::MostEvents, 10, &mut stop_at_once)).unwrap(), None);
    assert_eq!(heard, [1_000], "{backend:?}");
    let all = block_on(store.top_streams("", StreamSort::MostEvents, 10, &mut |_| true)).unwrap().unwrap();
    assert!(all.more);
    let all = all.streams;
    assert_eq!(all.len(), 10);
    assert_eq!(all[0].stream.0, "s-1", "{backend:?}: equal counts, then by id");
    block_on(store.close());
}

/// Where an index on the time exists, the most recent streams come from it (read newest first
/// as far as needed), in the order the paged query gives.
fn the_most_recent_streams_come_from_a_time_index_where_there_is_one(backend: Backend) {
    let (time, rows) = match backend {
        Backend::Sqlite => (
            "TEXT",
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2999) \
             INSERT INTO events SELECT 's-' || (i * 7 % 300), i / 300 + 1, 'E', '{}', \
             strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i * 60 - (i % 300) * 3, 'unixepoch') FROM n;",
        ),
        Backend::Postgres => (
            "TIMESTAMPTZ",
            "INSERT INTO events SELECT 's-' || (i * 7 % 300), i / 300 + 1, 'E', '{}', \
             to_timestamp(1700000000 + i * 60 - (i % 300) * 3) FROM generate_series(0, 2999) AS i;",
        ),
    };
    let db = TestDb::new(backend, "time_index");
    db.exec(&format!(
        "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, \
         payload TEXT NOT NULL, recorded_at {time} NOT NULL, PRIMARY KEY (aggregate_id, version)); {rows}"
    ));
    let store = db.open();
    assert!(!block_on(store.time_order_indexed()), "{backend:?}: no index on the time yet");
    let query = StreamQuery { sort: StreamSort::Recent, limit: 40, ..Default::default() };
    let paged = block_on(store.list_streams(&query)).unwrap().streams;
    let by_pass = block_on(store.top_streams("", StreamSort::Recent, 40, &mut |_| true)).unwrap().unwrap();
    assert!(by_pass.more);
    let by_pass = by_pass.streams;
    assert_eq!(by_pass, paged, "{backend:?}");
    block_on(store.close());
    db.exec("CREATE INDEX events_time ON events (recorded_at);");
    let store = db.open();
    assert!(block_on(store.time_order_indexed()), "{backend:?}: the index gives the order");
    let by_index = block_on(store.top_streams("", StreamSort::Recent, 40, &mut |_| true)).unwrap().unwrap();
    assert!(by_index.more);
    let by_index = by_index.streams;
    assert_eq!(by_index, paged, "{backend:?}");
    let searched = block_on(store.top_streams("s-29", StreamSort::Recent, 40, &mut |_| true)).unwrap().unwrap();
    assert!(!searched.more, "{backend:?}: s-29 and s-290 to s-299");
    let searched = searched.streams;
    // A search is a bound value, never SQL: quotes and comments find nothing and change nothing.
    for hostile in ["'); DROP TABLE events; --", "\"; DROP TABLE events; --", "%' OR '1'='1", "s-1' --"] {
        for sort in [StreamSort::Recent, StreamSort::MostEvents] {
            let found = block_on(store.top_streams(hostile, sort, 40, &mut |_| true)).unwrap().unwrap();
            assert!(found.streams.is_empty() && !found.more, "{backend:?} {hostile:?}");
        }
    }
    assert_eq!(block_on(store.list_streams(&query)).unwrap().streams, paged, "{backend:?}: the store is unchanged");
    assert!(!searched.is_empty() && searched.iter().all(|s| s.stream.0.contains("s-29")), "{backend:?}");
    block_on(store.close());
}

fn snapshot_drift_is_found_where_a_snapshot_differs_from_its_events(backend: Backend) {
    use eventscope::drift::{Folds, Verdict, check_store};
    // The workshop store: only the stale order's snapshots drift from the merge fold's state.
    let shared = common::workshop(backend);
    let store = shared.db.open();
    let mut folds = Folds::new(None);
    let mut heard = 0;
    let check = block_on(check_store(&store, None, &mut folds, &mut |_, done: usize, total: usize| {
        assert!(done <= total);
        heard = done;
        true
    }))
    .unwrap()
    .expect("not cancelled");
    let with_snapshots: std::collections::BTreeSet<&str> =
        shared.demo.snapshots.iter().map(|s| s.aggregate_id.as_str()).collect();
    assert_eq!((check.streams, heard), (with_snapshots.len(), with_snapshots.len()), "{backend:?}");
    assert_eq!(check.snapshots, shared.demo.snapshots.len(), "{backend:?}");
    assert_eq!(check.drifting_streams, 1, "{backend:?}: {check:#?}");
    assert_eq!(check.streams_with_findings.len(), 1, "{backend:?}");
    let stale = &check.streams_with_findings[0];
    assert_eq!(stale.stream, order_stream(STALE_SNAPSHOT_ORDER), "{backend:?}");
    assert_eq!(stale.matching, 0, "{backend:?}: every snapshot of it is stale");
    for snapshot in &stale.others {
        let Verdict::Drift { paths, .. } = &snapshot.verdict else { panic!("{backend:?}: {snapshot:?}") };
        assert!(paths.iter().any(|p| p.contains("status")), "{backend:?}: {paths:?}");
    }
    // A pass stopped by its progress gives nothing.
    assert_eq!(block_on(check_store(&store, None, &mut folds, &mut |_, _, _| false)).unwrap(), None);
    block_on(store.close());

    // Snapshots a checker must not trust: equal by value, stale, past the stream's end, not
    // JSON, of a stream with no events; and a fold that fails.
    let db = TestDb::new(backend, "drift");
    db.exec(
        r#"CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (aggregate_id, version));
           INSERT INTO events VALUES ('s-1', 1, 'Set', '{"n": 1}');
           INSERT INTO events VALUES ('s-1', 2, 'Set', '{"n": 2}');
           INSERT INTO events VALUES ('s-1', 4, 'Set', '{"n": 4}');
           INSERT INTO events VALUES ('s-2', 1, 'Set', '{"n": 1}');
           INSERT INTO events VALUES ('t-1', 1, 'Boom', '{"n": 1}');
           CREATE TABLE snapshots (aggregate_id TEXT NOT NULL, version INTEGER, state TEXT);
           INSERT INTO snapshots VALUES ('s-1', 1, '{"n": 1.0}');
           INSERT INTO snapshots VALUES ('s-1', 2, '{"n": 3}');
           INSERT INTO snapshots VALUES ('s-1', 3, '{"n": 2}');
           INSERT INTO snapshots VALUES ('s-1', 9, '{"n": 4}');
           INSERT INTO snapshots VALUES ('s-2', 1, '{"n": 1');
           INSERT INTO snapshots VALUES ('s-2', NULL, '{"n": 1}');
           INSERT INTO snapshots VALUES ('s-2', 1, NULL);
           INSERT INTO snapshots VALUES ('s-3', 1, '{}');
           INSERT INTO snapshots VALUES ('t-1', 1, '{"n": 1}');"#,
    );
    let store = db.open();
    let mut boom = eventscope::fold::JsFold::from_source("boom.js", "({ Boom: () => { throw new Error('no') } })")
        .expect("a fold");
    let mut folds = Folds::new(Some((
        &mut boom as &mut dyn eventscope::fold::Fold,
        eventscope::fold::FoldScope::Category("t".into()),
    )));
    let check = block_on(check_store(&store, None, &mut folds, &mut |_, _, _| true)).unwrap().unwrap();
    let verdicts = |stream: &str| -> Vec<(i64, String)> {
        let found = check.streams_with_findings.iter().find(|c| c.stream == stream).expect(stream);
        found.others.iter().map(|c| (c.version.unwrap_or(-1), format!("{:?}", c.verdict))).collect()
    };
    assert_eq!(check.streams, 4, "{backend:?}");
    assert_eq!(check.drifting_streams, 1, "{backend:?}");
    let s1 = verdicts("s-1");
    assert_eq!(s1.len(), 3, "{backend:?}: v1 matches by value: {s1:?}");
    assert!(s1[0].0 == 2 && s1[0].1.starts_with("Drift"), "{backend:?}: {s1:?}");
    assert!(s1[1].0 == 3 && s1[1].1 == "NoEvent", "{backend:?}: a gap: {s1:?}");
    assert!(s1[2].0 == 9 && s1[2].1 == "NoEvent", "{backend:?}: past the end: {s1:?}");
    // Not JSON, NULL (said, not dropped), and a version that is NULL (not taken for 0).
    let s2 = verdicts("s-2");
    assert_eq!(s2.len(), 3, "{backend:?}: {s2:?}");
    assert!(s2[..2].iter().all(|(v, verdict)| *v == 1 && verdict.starts_with("NotJson")), "{backend:?}: {s2:?}");
    assert!(s2[1].1.contains("NULL") || s2[0].1.contains("NULL"), "{backend:?}: {s2:?}");
    assert_eq!(s2[2], (-1, "NoVersion".to_owned()), "{backend:?}");
    assert_eq!((check.compared, check.not_compared, check.fold_failed_streams), (2, 7, 1), "{backend:?}");
    assert_eq!(verdicts("s-3"), vec![(1, "NoEvent".to_owned())], "{backend:?}");
    let t1 = verdicts("t-1");
    assert!(t1[0].1.starts_with("FoldFailed") && t1[0].1.contains("no"), "{backend:?}: {t1:?}");
    block_on(store.close());
}

fn bisect_finds_the_first_version_where_a_condition_holds(backend: Backend) {
    use eventscope::bisect::{Condition, bisect, bisect_with, scan};
    use eventscope::fold::{JsFold, MergeFold};
    // The double refund of ORD-1042: the refunds exceed the payment after version 4.
    let shared = common::workshop(backend);
    let store = shared.db.open();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let mut order = JsFold::from_file(std::path::Path::new("assets/folds/order.js")).unwrap();
    let condition = Condition::new("state.refunded > state.paid").unwrap();
    let found = block_on(bisect(&store, &stream, &mut order, &condition)).unwrap();
    assert_eq!((found.version, found.event_type.as_deref()), (Some(4), Some("RefundRequested")), "{backend:?}");
    let at = found.found.expect("the event found");
    assert_eq!(at.before["refunded"], serde_json::json!(1849.5), "{backend:?}: the state before it");
    assert_eq!(at.event.metadata_str("actor"), Some("staff:grace"));
    let cause = block_on(store.caused_by(&at.event)).unwrap().expect("a retried command");
    assert_eq!((cause.stream.0.as_str(), cause.version), (stream.as_str(), 3), "{backend:?}");
    block_on(store.close());

    // A long stream, duplicate versions on a checkpoint's edge, more events than checkpoints.
    let db = TestDb::new(backend, "bisect");
    db.exec("CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL);");
    let mut rows = Vec::new();
    let mut n = 0;
    for version in 1..=1_000 {
        // (Version 16 three times: events 16, 17 and 18 share it, across the edge after 16.)
        for _ in 0..if version == 16 { 3 } else { 1 } {
            n += 1;
            rows.push(format!("('s-1', {version}, 'Counted', '{{\"n\": {n}}}')"));
        }
    }
    db.exec(&format!("INSERT INTO events VALUES {};", rows.join(", ")));
    let store = db.open();
    let mut merge = MergeFold::default();
    for (wanted, version) in [(17, 16), (18, 16), (19, 17), (2, 2), (777, 775), (1_002, 1_000)] {
        let condition = Condition::new(&format!("state.n >= {wanted}")).unwrap();
        let found = block_on(bisect_with(&store, "s-1", &mut merge, &condition, 8, 16)).unwrap();
        assert_eq!((found.index, found.version), (Some(wanted - 1), Some(version)), "{backend:?} n >= {wanted}");
        assert_eq!(found.found.as_ref().unwrap().after["n"], serde_json::json!(wanted));
        // 1,002 events, at most 16 checkpoints (the initial state one of them): every 64 events;
        // the search folds at most one interval again and asks the condition a logarithmic
        // number of times plus that.
        assert_eq!(found.checkpoint_interval, 64, "{backend:?}");
        assert!(found.search_fold_steps <= 64 && found.evaluations <= 1 + 5 + 64, "{backend:?}: {found:?}");
        let linear = block_on(scan(&store, "s-1", &mut merge, &condition)).unwrap();
        assert_eq!((linear.index, linear.version), (found.index, found.version), "{backend:?}");
        assert_eq!(linear.evaluations, wanted + 1);
    }
    let never = block_on(bisect(&store, "s-1", &mut merge, &Condition::new("state.n > 5000").unwrap())).unwrap();
    assert_eq!((never.index, never.events, never.holds_initially), (None, 1_002, false), "{backend:?}");
    let always = block_on(bisect(&store, "s-1", &mut merge, &Condition::new("true").unwrap())).unwrap();
    assert!(always.holds_initially && always.index.is_none());
    // A condition that throws is an error naming the version, not a false.
    let broken = block_on(bisect(&store, "s-1", &mut merge, &Condition::new("state.n.x.y").unwrap()));
    let message = broken.map(|_| ()).unwrap_err().to_string();
    assert!(message.contains("condition failed on the initial state"), "{backend:?}: {message}");
    // A fold that fails at the 150th event: what holds before it is still found; past it, the
    // failure is the answer.
    let mut fails = JsFold::from_source(
        "fails.js",
        "({ $any: (s, e) => { if (e.data.n === 150) throw new Error('no'); return e.data } })",
    )
    .unwrap();
    let before = block_on(bisect_with(&store, "s-1", &mut fails, &Condition::new("state.n >= 100").unwrap(), 8, 16));
    assert_eq!(before.unwrap().version, Some(98), "{backend:?}: n = 100 is v98 (v16 three times)");
    let past = block_on(bisect(&store, "s-1", &mut fails, &Condition::new("state.n >= 200").unwrap()));
    assert!(past.is_err_and(|e| e.to_string().contains("fold stopped")), "{backend:?}");
    block_on(store.close());

    // A version kept as text on PostgreSQL (which has no `text >= bigint`): past the first
    // checkpoint too. (SQLite orders text versions as text; its INTEGER affinity is the usual.)
    let db = TestDb::new(backend, "bisect_text");
    let version_type = if backend == Backend::Postgres { "TEXT" } else { "INTEGER" };
    db.exec(&format!("CREATE TABLE events (aggregate_id TEXT NOT NULL, version {version_type} NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL);"));
    let rows: Vec<String> = (1..=300).map(|v| format!("('t-1', '{v}', 'Counted', '{{\"n\": {v}}}')")).collect();
    db.exec(&format!("INSERT INTO events VALUES {};", rows.join(", ")));
    let store = db.open();
    let condition = Condition::new("state.n >= 200").unwrap();
    let found = block_on(bisect(&store, "t-1", &mut merge, &condition)).unwrap();
    assert_eq!(found.version, Some(200), "{backend:?}");
    let page = block_on(store.read_stream("t-1", eventscope::store::EventCursor::from_version(250), 10)).unwrap();
    assert_eq!(page.events.first().map(|e| e.version), Some(250), "{backend:?}: a page from a version");
    block_on(store.close());
}

/// A stream page is ordered and continued by version alone only where the table's own unique
/// index on (stream, version), both NOT NULL, says no two events share a version; anywhere else
/// the row's identity breaks ties, and every page still continues where the last one ended.
fn a_stream_is_paged_by_version_alone_only_where_a_unique_index_says_so(backend: Backend) {
    let workshop = common::workshop(backend).db.open();
    assert!(workshop.layout.stream_versions_unique, "{backend:?}: the workshop's primary key");
    let sql = eventscope::store::query::stream_events(workshop.dialect(), &workshop.layout, "s", Some(3), None, 10);
    assert!(!sql.text.contains("ctid") && !sql.text.contains("rowid"), "{backend:?}: {}", sql.text);
    block_on(workshop.close());
    let (text, int) = match backend {
        Backend::Sqlite => ("TEXT", "INTEGER"),
        Backend::Postgres => ("TEXT", "BIGINT"),
    };
    let (not_null, nullable) = (
        format!("aggregate_id {text} NOT NULL, version {int} NOT NULL"),
        format!("aggregate_id {text}, version {int}"),
    );
    for (name, key_columns, constraint, unique) in [
        // Nullable key columns (SQLite lets a rowid table's primary key hold NULLs).
        ("nullable_key", &nullable, ", PRIMARY KEY (aggregate_id, version)", backend == Backend::Postgres),
        ("no_key", &not_null, "", false),
        ("wider_key", &not_null, ", UNIQUE (aggregate_id, version, event_type)", false),
        ("unique_pair", &not_null, ", UNIQUE (version, aggregate_id)", true),
    ] {
        let db = TestDb::new(backend, name);
        db.exec(&format!(
            "CREATE TABLE events ({key_columns}, event_type {text} NOT NULL, payload {text} NOT NULL{constraint})"
        ));
        let rows: Vec<String> = (1..=25).map(|v| format!("('s-1', {v}, 'Counted', '{{\"n\": {v}}}')")).collect();
        db.exec(&format!("INSERT INTO events (aggregate_id, version, event_type, payload) VALUES {}", rows.join(", ")));
        let store = db.open();
        assert_eq!(store.layout.stream_versions_unique, unique, "{backend:?} {name}");
        let versions: Vec<i64> = read_whole_stream(&store, "s-1", 7).iter().map(|e| e.version).collect();
        assert_eq!(
            versions,
            (1..=25).collect::<Vec<i64>>(),
            "{backend:?} {name}: pages of 7 continue where they ended"
        );
        block_on(store.close());
    }
}

/// The streams list by id reads each stream's bounds from the index on (stream, version): a
/// stream longer than the count's cap is listed at once, counted only past the cap (said to be
/// a lower bound). Without that index the database groups the rows and counts exactly. Either
/// way, every stream is listed once, in order, across pages.
fn a_page_of_streams_costs_the_same_whatever_the_length_of_its_streams(backend: Backend) {
    let long = eventscope::store::query::STREAM_COUNT_CAP + 50;
    let (time, long_rows) = match backend {
        Backend::Sqlite => (
            "TEXT",
            format!(
                "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < {long})
                 INSERT INTO events SELECT 'm-long', v, 'E', '{{}}', '2026-02-01T00:00:00Z' FROM n"
            ),
        ),
        Backend::Postgres => (
            "TIMESTAMPTZ",
            format!(
                "INSERT INTO events SELECT 'm-long', v, 'E', '{{}}', '2026-02-01T00:00:00Z' FROM generate_series(1, {long}) AS v"
            ),
        ),
    };
    let short: Vec<(String, i64)> = (0..20).map(|i| (format!("s-{i:02}"), i % 3 + 1)).collect();
    let mut ids: Vec<&str> = short.iter().map(|(id, _)| id.as_str()).chain(["m-long"]).collect();
    ids.sort();
    for (name, constraint, indexed) in
        [("indexed", ", PRIMARY KEY (aggregate_id, version)", true), ("unindexed", "", false)]
    {
        let db = TestDb::new(backend, &format!("long_stream_page_{name}"));
        db.exec(&format!(
            "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, \
             payload TEXT NOT NULL, recorded_at {time}{constraint})"
        ));
        db.exec(&long_rows);
        let rows: Vec<String> = short
            .iter()
            .flat_map(|(id, n)| (1..=*n).map(move |v| format!("('{id}', {v}, 'E', '{{}}', '2026-01-01T00:00:0{v}Z')")))
            .collect();
        db.exec(&format!("INSERT INTO events VALUES {}", rows.join(", ")));
        let store = db.open();
        for page in [1, 7, 100] {
            let listed = list_all(&store, "", StreamSort::Id, page);
            assert_eq!(
                listed.iter().map(|s| s.stream.0.as_str()).collect::<Vec<_>>(),
                ids,
                "{backend:?} {name} {page}"
            );
            let mut backwards = list_all(&store, "", StreamSort::IdDescending, page);
            backwards.reverse();
            assert_eq!(backwards, listed, "{backend:?} {name} {page}: descending is the same list reversed");
            for s in &listed {
                let expected = short.iter().find(|(id, _)| *id == s.stream.0).map_or(long, |(_, n)| *n);
                assert_eq!((s.first_version, s.last_version), (1, expected), "{backend:?} {name} {}", s.stream);
                // (Read from the index, the long stream is counted only past the cap.)
                let capped = indexed && s.stream.0 == "m-long";
                let counted = if capped { eventscope::store::query::STREAM_COUNT_CAP + 1 } else { expected };
                assert_eq!((s.events, s.events_at_least), (counted, capped), "{backend:?} {name} {}", s.stream);
                assert_eq!(s.events_expected(), expected);
            }
            let long_row = listed.iter().find(|s| s.stream.0 == "m-long").unwrap();
            assert_eq!(
                long_row.last_recorded_at.map(eventscope::model::format_time).as_deref(),
                Some("2026-02-01T00:00:00.000Z")
            );
        }
        // Search and category narrow the same pages.
        let found = list_all(&store, "LONG", StreamSort::Id, 7);
        assert_eq!(found.iter().map(|s| s.stream.0.as_str()).collect::<Vec<_>>(), ["m-long"], "{backend:?} {name}");
        let query = StreamQuery { limit: 7, ..Default::default() };
        let page = block_on(store.list_category_streams("s", &query)).unwrap();
        assert_eq!(
            page.streams.iter().map(|s| s.stream.0.as_str()).collect::<Vec<_>>(),
            ids[1..8].to_vec(),
            "{backend:?} {name}: the first page of category s"
        );
        let rest = block_on(store.list_category_streams("s", &StreamQuery { after: page.next, ..query })).unwrap();
        assert_eq!(rest.streams[0].stream.0, "s-07", "{backend:?} {name}");
        // Sorted by size, every stream is counted to its end.
        let biggest = list_all(&store, "", StreamSort::MostEvents, 7);
        assert_eq!(
            (biggest[0].stream.0.as_str(), biggest[0].events, biggest[0].events_at_least),
            ("m-long", long, false)
        );
        let summary = block_on(store.stream_summary("m-long")).unwrap();
        let cap = eventscope::store::query::STREAM_COUNT_CAP;
        assert_eq!((summary.events, summary.events_at_least), (cap + 1, true), "{backend:?} {name}");
        assert_eq!(summary.events_expected(), long);
        block_on(store.close());
    }
}

crate::on_each_backend!(
    a_page_of_streams_costs_the_same_whatever_the_length_of_its_streams,
    a_stream_is_paged_by_version_alone_only_where_a_unique_index_says_so,
    bisect_finds_the_first_version_where_a_condition_holds,
    snapshot_drift_is_found_where_a_snapshot_differs_from_its_events,
    the_most_recent_streams_come_from_a_time_index_where_there_is_one,
    a_background_sort_keeps_the_first_streams_in_the_paged_order,
    a_log_without_an_ordering_index_gets_the_index_that_would_give_one,
    the_database_selects_a_readers_streams_category_and_end,
    a_big_store_is_opened_with_estimated_counts,
    workshop_store_round_trip,
    search_is_a_case_insensitive_substring_answered_by_the_database,
    undecodable_payloads_gaps_and_duplicates_are_reported_not_hidden,
    the_store_is_never_written,
    a_database_that_is_not_an_event_store_lists_its_tables,
    events_and_streams_without_a_time_are_paged_like_the_others
);
