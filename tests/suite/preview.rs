//! SQL projection previews on both backends: rows of the bundled examples, writes refused with
//! the store unchanged, the time-out, the row cap, cancel, the comparison with the deployed read
//! model, error positions, CSV export read back, and the `preview` command.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Backend, TestDb, block_on, eventscope};
use eventscope::projection::sql::{
    PreviewError, PreviewLimits, PreviewPermissions, ResultSet, compare, line_column, preview,
};
use eventscope::store::CancelToken;
use serde_json::{Value, json};

fn example(backend: Backend, name: &str) -> String {
    let dialect = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    std::fs::read_to_string(format!("{}/assets/sql/{name}.{dialect}.sql", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Nothing allowed beyond the default.
fn none() -> PreviewPermissions {
    PreviewPermissions::default()
}

fn limits(timeout_ms: u64, max_rows: usize) -> PreviewLimits {
    PreviewLimits { timeout: Duration::from_millis(timeout_ms), max_rows }
}

fn cents(v: &Value) -> i64 {
    match v {
        Value::String(s) => (s.parse::<f64>().unwrap() * 100.0).round() as i64,
        other => (other.as_f64().unwrap_or(0.0) * 100.0).round() as i64,
    }
}

fn revenue_per_day_rows_match_the_generated_payments(backend: Backend) {
    let shared = common::workshop(backend);
    let (db, demo) = (&shared.db, &shared.demo);
    let store = db.open();
    let (definition, rows) = block_on(preview(
        &store,
        &example(backend, "revenue_per_day"),
        limits(10_000, 1000),
        &none(),
        &CancelToken::default(),
    ))
    .unwrap();
    assert!(definition.relation.is_none());
    // day → revenue in cents, from the generator.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for e in &demo.events {
        let day = e.recorded_at.format("%Y-%m-%d").to_string();
        match e.event_type {
            "PaymentConfirmed" => *expected.entry(day).or_default() += cents(&e.payload["amount_paid"]),
            "RefundRequested" => *expected.entry(day).or_default() -= cents(&e.payload["refund"]["amount"]),
            _ => {}
        }
    }
    assert_eq!(rows.rows.len(), expected.len(), "{backend:?}");
    let json = rows.to_json();
    for row in json.as_array().unwrap() {
        let day = row["day"].as_str().unwrap()[..10].to_owned();
        assert_eq!(cents(&row["revenue"]), expected[&day], "{backend:?} {day}");
    }
    assert_eq!(
        rows.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["day", "paid", "refunded", "revenue", "payments"]
    );
    assert!(rows.is_numeric(3));
    assert!(!rows.truncated);
}

fn writes_are_refused_and_the_store_is_unchanged(backend: Backend) {
    let db = TestDb::new(backend, "previewwrite");
    db.write_workshop();
    let files = (backend == Backend::Sqlite).then(|| common::fingerprints(db.path().parent().unwrap()));
    let store = db.open();
    let before = block_on(store.counts()).unwrap();
    for text in [
        "INSERT INTO events SELECT * FROM events",
        "DELETE FROM events",
        "UPDATE events SET event_type = 'x'",
        "DROP TABLE orders_by_region",
        "CREATE TABLE copy AS SELECT * FROM events; DROP TABLE events",
    ] {
        match block_on(preview(&store, text, limits(5_000, 10), &none(), &CancelToken::default())) {
            Err(PreviewError::Refused(reason)) => assert!(reason.contains("store is left unchanged"), "{reason}"),
            other => panic!("{backend:?} {text}: {other:?}"),
        }
    }
    // CREATE … AS runs only its query: nothing is created.
    let (definition, rows) = block_on(preview(
        &store,
        "CREATE TABLE copy AS SELECT count(*) AS n FROM events",
        limits(5_000, 10),
        &none(),
        &CancelToken::default(),
    ))
    .unwrap();
    assert_eq!(definition.relation.as_deref(), Some("copy"));
    assert_eq!(rows.rows[0][0].as_i64(), Some(before.events));
    assert!(!block_on(store.relation_exists("copy")).unwrap());
    assert_eq!(block_on(store.counts()).unwrap(), before);
    block_on(store.close());
    if let Some(files) = files {
        assert_eq!(common::fingerprints(db.path().parent().unwrap()), files);
    }
}

fn the_time_out_the_row_cap_and_cancel(backend: Backend) {
    let db = &common::workshop(backend).db;
    let store = db.open();
    let slow = "SELECT count(*) FROM events a, events b, events c";
    let started = Instant::now();
    match block_on(preview(&store, slow, limits(300, 10), &none(), &CancelToken::default())) {
        Err(PreviewError::Timeout(t)) => assert_eq!(t, Duration::from_millis(300)),
        other => panic!("{backend:?}: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    let (_, rows) = block_on(preview(
        &store,
        "SELECT * FROM events ORDER BY position",
        limits(5_000, 10),
        &none(),
        &CancelToken::default(),
    ))
    .unwrap();
    assert_eq!(rows.rows.len(), 10);
    assert!(rows.truncated);
    // The store still answers after both.
    assert_eq!(block_on(store.counts()).unwrap().events, 2679);
    // Cancel: the running statement stops (on PostgreSQL the server cancels it).
    let store = std::sync::Arc::new(store);
    let outcome = block_on(async {
        let token = CancelToken::default();
        let running = {
            let (store, token) = (store.clone(), token.clone());
            tokio::spawn(async move { preview(&store, slow, limits(60_000, 10), &none(), &token).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cancelled_at = Instant::now();
        store.cancel_preview(&token).await;
        let outcome = running.await.expect("preview task");
        (outcome, cancelled_at.elapsed())
    });
    assert!(matches!(outcome.0, Err(PreviewError::Cancelled)), "{backend:?}: {:?}", outcome.0);
    assert!(outcome.1 < Duration::from_secs(10), "{backend:?}: cancel took {:?}", outcome.1);

    // A cancel that came before the query began (the session still connecting, or between two
    // of its statements) is not lost: the query never runs to its time-out.
    let early = CancelToken::default();
    early.cancel();
    let outcome = block_on(preview(&store, slow, limits(60_000, 10), &none(), &early));
    assert!(matches!(outcome, Err(PreviewError::Cancelled)), "{backend:?}: {outcome:?}");

    // Cancel through the worker, as the window's Cancel button does.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut worker = eventscope::worker::Worker::spawn(move || {
        let _ = tx.send(());
    });
    let target = eventscope::store::Target::parse(&db.target).unwrap();
    let open = worker.send(eventscope::worker::Request::Open { target, layout: None });
    wait_reply(&worker, &rx, open);
    // The query would run for minutes: its time-out (10 s) would answer it, so a cancel that did
    // nothing shows as a reply to it.
    let run = worker.send(eventscope::worker::Request::Preview {
        text: slow.to_owned(),
        limits: limits(10_000, 10),
        permissions: none(),
    });
    std::thread::sleep(Duration::from_millis(300));
    worker.send(eventscope::worker::Request::Cancel { id: run });
    // A cancelled request sends nothing more; the store answers the next request.
    let count = worker.send(eventscope::worker::Request::CountStreams { search: String::new() });
    match wait_reply(&worker, &rx, count) {
        eventscope::worker::Reply::StreamCount { count, .. } => assert_eq!(count, 73),
        other => panic!("{backend:?}: {other:?}"),
    }
    let quiet_until = Instant::now() + Duration::from_secs(14);
    while Instant::now() < quiet_until {
        while let Some((got, reply)) = worker.try_recv() {
            assert_ne!(got, run, "{backend:?}: the cancelled preview still answered: {reply:?}");
        }
        let _ = rx.recv_timeout(Duration::from_millis(200));
    }
    // On PostgreSQL the server stopped the statement itself (by now it would still run).
    if backend == Backend::Postgres {
        let running: i64 = block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&db.target).await.expect("connect");
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%events a, events b, events c%' AND pid <> pg_backend_pid()")
                .fetch_one(&mut conn)
                .await
                .expect("pg_stat_activity")
        });
        assert_eq!(running, 0, "the cancelled statement still runs on the server");
    }
}

fn wait_reply(
    worker: &eventscope::worker::Worker,
    wake: &std::sync::mpsc::Receiver<()>,
    id: u64,
) -> eventscope::worker::Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some((got, reply)) = worker.try_recv() {
            if got == id {
                return reply;
            }
        }
        assert!(Instant::now() < deadline, "no reply to request {id}");
        let _ = wake.recv_timeout(Duration::from_millis(100));
    }
}

fn compare_with_the_deployed_read_model(backend: Backend) {
    let db = &common::workshop(backend).db;
    let store = db.open();
    let cancel = CancelToken::default();
    let (definition, proposed) =
        block_on(preview(&store, &example(backend, "orders_by_region"), limits(10_000, 1000), &none(), &cancel))
            .unwrap();
    let relation = definition.relation.unwrap();
    assert_eq!(relation, "orders_by_region");
    assert!(block_on(store.relation_exists(&relation)).unwrap());
    let deployed = block_on(store.preview_relation(&relation, limits(10_000, 1000), &none(), &cancel)).unwrap();
    let c = compare(&deployed, &proposed, "region_id").unwrap();
    // The old definition merged eu-west and eu-north into `eu`, had no placed_at and was
    // refreshed on 2026-03-20.
    let keys = |rows: &[Value]| rows.iter().map(|r| r["region_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(keys(&c.added), ["eu-north", "eu-west"], "{backend:?}");
    assert_eq!(keys(&c.removed), ["eu"], "{backend:?}");
    assert_eq!(c.changed.iter().map(|(k, _, _)| k.as_str()).collect::<Vec<_>>(), ["apac", "us-east"], "{backend:?}");
    assert_eq!(c.unchanged, 0);
    let (_, old, new) = &c.changed[0];
    assert!(old["orders"].as_array().unwrap().len() <= new["orders"].as_array().unwrap().len());
    assert!(new["orders"][0].get("placed_at").is_some() && old["orders"][0].get("placed_at").is_none());
}

fn database_errors_point_at_the_line_and_column(backend: Backend) {
    let db = &common::workshop(backend).db;
    let store = db.open();
    let text = "-- a mistake on line 3\nSELECT event_type,\n  nope\nFROM events";
    match block_on(preview(&store, text, limits(5_000, 10), &none(), &CancelToken::default())) {
        Err(PreviewError::Database { message, position: Some(p) }) => {
            assert!(message.contains("nope"), "{message}");
            assert_eq!(line_column(text, p), (3, 3), "{backend:?}: {message}");
        }
        other => panic!("{backend:?}: {other:?}"),
    }
}

fn csv_export_reads_back(backend: Backend) {
    let db = &common::workshop(backend).db;
    let store = db.open();
    let (_, rows): (_, ResultSet) = block_on(preview(
        &store,
        "SELECT aggregate_id, version, event_type, payload, metadata FROM events ORDER BY position",
        limits(10_000, 200),
        &none(),
        &CancelToken::default(),
    ))
    .unwrap();
    let parsed = common::read_csv(&rows.to_csv());
    assert_eq!(parsed[0], ["aggregate_id", "version", "event_type", "payload", "metadata"]);
    assert_eq!(parsed.len(), rows.rows.len() + 1);
    for (line, row) in parsed[1..].iter().zip(&rows.rows) {
        let shown: Vec<String> = row.iter().map(|c| c.to_display()).collect();
        assert_eq!(line, &shown, "{backend:?}");
    }
    // Payloads hold commas and quotes: they survived quoting.
    let payload: Value = serde_json::from_str(&parsed[1][3]).unwrap();
    assert!(payload.is_object());
}

fn the_preview_command(backend: Backend) {
    let db = &common::workshop(backend).db;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let orders = file("orders.sql", &example(backend, "orders_by_region"));
    let (ok, out, err) = eventscope(&["preview", &db.target, "--sql", &orders, "--compare"]);
    assert!(ok, "{err}");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        out["compare"]["counts"],
        json!({"added": 2, "removed": 1, "changed": 2, "unchanged": 0}),
        "{backend:?}"
    );
    assert_eq!(out["rows"].as_array().unwrap().len(), 4);

    let (ok, out, _) = eventscope(&["preview", &db.target, "--sql", &orders, "--format", "csv"]);
    assert!(ok);
    assert!(out.starts_with("region_id,orders\n"), "{out}");
    // The comparison as CSV: a change column, then the query's columns; a changed row twice.
    let (ok, out, err) = eventscope(&["preview", &db.target, "--sql", &orders, "--compare", "--format", "csv"]);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("change,region_id,orders"));
    let changes: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        changes,
        [
            "added",
            "added",
            "removed",
            "changed: deployed",
            "changed: proposed",
            "changed: deployed",
            "changed: proposed"
        ],
        "{backend:?}: {out}"
    );

    let (ok, out, err) =
        eventscope(&["preview", &db.target, "--sql", &file("all.sql", "SELECT * FROM events"), "--max-rows", "5"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().len(), 5);
    assert!(err.contains("only the first 5 rows"), "{err}");

    for (name, text, expected) in [
        ("write.sql", "DELETE FROM events", "refused: DELETE"),
        ("slow.sql", "SELECT count(*) FROM events a, events b, events c", "ran longer than 200 ms"),
        ("typo.sql", "SELECT\n  nope FROM events", "line 2, column 3"),
    ] {
        // (Only the slow query is given a short time-out: on a loaded machine the others could
        // run out of 200 ms before saying what they are there to say.)
        let timeout = if name == "slow.sql" { "200" } else { "60000" };
        let (ok, out, err) = eventscope(&["preview", &db.target, "--sql", &file(name, text), "--timeout-ms", timeout]);
        assert!(!ok && out.is_empty(), "{name}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{backend:?} {name}: {err}");
    }
    let (ok, _, err) = eventscope(&["preview", &db.target, "--sql", &file("bare.sql", "SELECT 1 AS x"), "--compare"]);
    assert!(!ok && err.contains("names no deployed relation"), "{err}");
}

mod hostile;

/// Every SQL example the window offers (the bundled assets) previews under the guard with
/// exactly the rows the same query gives on a plain connection.
fn every_bundled_example_previews_with_the_rows_of_the_raw_query(backend: Backend) {
    let db = &common::workshop(backend).db;
    let store = db.open();
    let dialect = store.dialect();
    let examples = eventscope::ui::sql::examples(dialect);
    assert!(examples.len() >= 2, "{backend:?}");
    for (name, text) in examples {
        let (definition, guarded) =
            block_on(preview(&store, text, limits(30_000, 100_000), &none(), &CancelToken::default()))
                .unwrap_or_else(|e| panic!("{backend:?} {name}: {e}"));
        assert!(!guarded.rows.is_empty(), "{backend:?} {name}");
        let raw: Vec<Vec<eventscope::store::cell::Cell>> = block_on(async {
            use sqlx::Connection as _;
            match backend {
                Backend::Sqlite => {
                    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db.path()).read_only(true);
                    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
                    let rows =
                        sqlx::query(sqlx::AssertSqlSafe(definition.query.clone())).fetch_all(&mut conn).await.unwrap();
                    rows.iter().map(eventscope::store::sqlite::row_cells).collect()
                }
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&db.target).await.unwrap();
                    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(definition.query.clone()))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                    rows.iter().map(eventscope::store::postgres::row_cells).collect()
                }
            }
        });
        assert_eq!(guarded.rows, raw, "{backend:?} {name}");
    }
}

/// A TCP proxy to the PostgreSQL server that can stop passing bytes on ("freeze"), as a
/// server or network that stops answering does — without touching the server itself.
struct FreezingProxy {
    port: u16,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FreezingProxy {
    fn start(upstream: &str) -> FreezingProxy {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let flag = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(&upstream) else { return };
                for (mut from, mut to) in
                    [(client.try_clone().expect("clone"), server.try_clone().expect("clone")), (server, client)]
                {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            // Frozen: the bytes are held back for as long as it lasts.
                            while flag.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        FreezingProxy { port, frozen }
    }
}

/// A PostgreSQL server that stops answering mid-query (its bytes held back by a proxy, so not
/// even its `statement_timeout` reaches the client) is abandoned by the client at the time-out
/// plus its grace, with a message that says so; the store answers again once the server does.
#[test]
fn a_server_that_stops_answering_is_abandoned_on_time() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "previewhang");
    db.write_workshop();
    let proxy = FreezingProxy::start("127.0.0.1:5432");
    let url = db.target.replace("@localhost:5432/", &format!("@127.0.0.1:{}/", proxy.port));
    assert_ne!(url, db.target, "the test URL names localhost:5432");
    let store = std::sync::Arc::new(
        block_on(eventscope::store::Store::open(eventscope::store::Target::parse(&url).unwrap(), None))
            .expect("open through the proxy"),
    );
    let token = CancelToken::default();
    let (outcome, waited) = block_on(async {
        let running = {
            let (store, token) = (store.clone(), token.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let outcome = preview(
                    &store,
                    "SELECT count(*) FROM events a, events b, events c",
                    limits(1_000, 10),
                    &none(),
                    &token,
                )
                .await;
                (outcome, started.elapsed())
            })
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while token.backend_pid().is_none() {
            assert!(Instant::now() < deadline, "the preview never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
        running.await.expect("preview task")
    });
    proxy.frozen.store(false, std::sync::atomic::Ordering::SeqCst);
    match outcome {
        Err(PreviewError::Database { message, .. }) => assert!(message.contains("did not answer"), "{message}"),
        other => panic!("{other:?}"),
    }
    let bound = Duration::from_millis(1_000) + eventscope::store::CLIENT_GRACE + Duration::from_secs(5);
    assert!(waited < bound, "the client waited {waited:?}");
    assert_eq!(block_on(store.counts()).unwrap().events, 2679);
}

crate::on_each_backend!(
    revenue_per_day_rows_match_the_generated_payments,
    writes_are_refused_and_the_store_is_unchanged,
    the_time_out_the_row_cap_and_cancel,
    compare_with_the_deployed_read_model,
    database_errors_point_at_the_line_and_column,
    csv_export_reads_back,
    the_preview_command,
    every_bundled_example_previews_with_the_rows_of_the_raw_query
);
