//! Following a live store on both backends: `eventscope tail` runs while a writer appends (SQLite
//! in WAL mode with the writer's connection open all along; PostgreSQL with a transaction that
//! takes a position and commits after a later one): every appended event is printed exactly
//! once, each stream's in order.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestDb, block_on};
use serde_json::Value;
use sqlx::{ConnectOptions, Connection, Executor};

const FIRST: &str = "7a11e000-0000-4000-8000-000000000001";
const LATE: &str = "7a11e000-0000-4000-8000-000000000002";

/// A writer with its own connection, as the application that owns the store has.
enum Writer {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

fn insert(position: i64, stream: &str, version: i64) -> String {
    format!(
        "INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, \
         recorded_at) VALUES ({position}, '{stream}', 'Tail', {version}, 'Ticked', '{{\"n\": {version}}}', '{{}}', \
         '2026-12-02T00:00:00Z')"
    )
}

impl Writer {
    fn open(db: &TestDb) -> Writer {
        block_on(async {
            match db.backend {
                Backend::Sqlite => {
                    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(db.path())
                        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                        .connect()
                        .await
                        .unwrap();
                    conn.execute("PRAGMA wal_autocheckpoint = 0").await.unwrap();
                    Writer::Sqlite(conn)
                }
                Backend::Postgres => Writer::Postgres(sqlx::PgConnection::connect(&db.target).await.unwrap()),
            }
        })
    }

    fn exec(&mut self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        block_on(async {
            match self {
                Writer::Sqlite(c) => c.execute(sqlx::raw_sql(sql)).await.map(|_| ()),
                Writer::Postgres(c) => c.execute(sqlx::raw_sql(sql)).await.map(|_| ()),
            }
        })
        .unwrap();
    }
}

/// The positions after the workshop store's last, one at a time.
struct Positions(std::cell::Cell<i64>);

impl Positions {
    fn after(workshop: &eventscope::demo::DemoStore) -> Positions {
        Positions(std::cell::Cell::new(workshop.events.len() as i64))
    }

    fn take(&self) -> i64 {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
}

/// Runs `eventscope tail` with these arguments; its lines arrive on the receiver as printed.
fn spawn_tail(args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut tail = Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .arg("tail")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eventscope tail");
    let stdout = tail.stdout.take().unwrap();
    let (lines_sent, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_sent.send(line);
        }
    });
    (tail, lines)
}

fn tail_prints_every_appended_event_once(backend: Backend) {
    let db = TestDb::new(backend, "tail");
    let workshop = db.write_workshop();
    let mut writer = Writer::open(&db);
    let positions = Positions::after(&workshop);
    let take_position = || positions.take();
    let next = |version: i64, stream: &str| insert(take_position(), stream, version);
    // Five events before the tail starts (it starts from the log's start, under a filter).
    for v in 1..=5 {
        writer.exec(&next(v, FIRST));
    }
    let total = 31;
    let max = total.to_string();
    let (mut tail, lines) =
        spawn_tail(&[&db.target, "--stream", "7a11e000", "--from-start", "--interval-ms", "20", "--max-events", &max]);
    let mut printed: Vec<Value> = Vec::new();
    let wait_for = |count: usize, printed: &mut Vec<Value>| {
        // (A guard against a hang, not a measure of speed.)
        let deadline = Instant::now() + Duration::from_secs(120);
        while printed.len() < count && Instant::now() < deadline {
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
                printed.push(serde_json::from_str(&line).expect("a JSON line"));
            }
        }
        assert!(printed.len() >= count, "{backend:?}: {} of {count} events printed", printed.len());
    };
    wait_for(5, &mut printed);
    // Appended while it runs, in transactions of five.
    for batch in 0..4 {
        let statements: Vec<String> = (1..=5).map(|i| next(5 + batch * 5 + i, FIRST)).collect();
        writer.exec(&format!("BEGIN; {}; COMMIT", statements.join("; ")));
        std::thread::sleep(Duration::from_millis(60));
    }
    wait_for(25, &mut printed);
    // A transaction that takes its position first and commits last (PostgreSQL; on SQLite, one
    // writer at a time, it simply comes before).
    let late_position = take_position();
    match backend {
        Backend::Postgres => {
            let mut late = Writer::open(&db);
            late.exec(&format!("BEGIN; {}", insert(late_position, LATE, 1)));
            let statements: Vec<String> = (26..=30).map(|v| next(v, FIRST)).collect();
            writer.exec(&format!("BEGIN; {}; COMMIT", statements.join("; ")));
            wait_for(30, &mut printed);
            late.exec("COMMIT");
        }
        Backend::Sqlite => {
            writer.exec(&insert(late_position, LATE, 1));
            let statements: Vec<String> = (26..=30).map(|v| next(v, FIRST)).collect();
            writer.exec(&format!("BEGIN; {}; COMMIT", statements.join("; ")));
        }
    }
    wait_for(total, &mut printed);
    let status = tail.wait().expect("the tail ends after --max-events");
    assert!(status.success(), "{backend:?}: {status:?}");
    // Every event once; each stream's in order.
    let versions = |stream: &str| -> Vec<i64> {
        printed.iter().filter(|e| e["stream"] == stream).map(|e| e["version"].as_i64().unwrap()).collect()
    };
    assert_eq!(versions(FIRST), (1..=30).collect::<Vec<_>>(), "{backend:?}");
    assert_eq!(versions(LATE), vec![1], "{backend:?}");
    assert_eq!(printed.len(), total);
    assert_eq!(printed[0]["payload"]["n"], 1);
}

crate::on_each_backend!(tail_prints_every_appended_event_once);

/// From now: what was committed before the start is not printed, what commits after is — on
/// PostgreSQL also an event whose transaction was open before the start and took an earlier
/// position than the newest event then.
fn tail_from_now_prints_what_commits_after_it_started(backend: Backend) {
    let db = TestDb::new(backend, "tail_now");
    let workshop = db.write_workshop();
    let mut writer = Writer::open(&db);
    let positions = Positions::after(&workshop);
    let take_position = || positions.take();
    let mut late = Writer::open(&db);
    let open_before = take_position();
    if backend == Backend::Postgres {
        late.exec(&format!("BEGIN; {}", insert(open_before, LATE, 1)));
    }
    writer.exec(&insert(take_position(), FIRST, 1));
    let (mut tail, lines) = spawn_tail(&[&db.target, "--stream", "7a11e000", "--interval-ms", "20"]);
    // Appends until the first one shows (the tail is running from then on).
    let mut printed: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut version = 1;
    while printed.is_empty() {
        assert!(Instant::now() < deadline, "{backend:?}: the tail printed nothing");
        version += 1;
        writer.exec(&insert(take_position(), FIRST, version));
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            printed.push(serde_json::from_str(&line).unwrap());
        }
    }
    if backend == Backend::Postgres {
        late.exec("COMMIT");
    } else {
        // (SQLite has one writer at a time: no transaction holds an earlier position open.)
        late.exec(&insert(take_position(), LATE, 1));
    }
    while !printed.iter().any(|e| e["stream"] == LATE) {
        assert!(Instant::now() < deadline, "{backend:?}: the late event never came: {printed:?}");
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            printed.push(serde_json::from_str(&line).unwrap());
        }
    }
    // A moment more for a duplicate to show, if there were one.
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(line) = lines.try_recv() {
        printed.push(serde_json::from_str(&line).unwrap());
    }
    let _ = tail.kill();
    let _ = tail.wait();
    let first: Vec<i64> =
        printed.iter().filter(|e| e["stream"] == FIRST).map(|e| e["version"].as_i64().unwrap()).collect();
    assert!(!first.contains(&1), "{backend:?}: v1 was there before the tail started: {first:?}");
    let mut sorted = first.clone();
    sorted.dedup();
    assert_eq!(first, sorted, "{backend:?}: each once, in order");
    assert_eq!(printed.iter().filter(|e| e["stream"] == LATE).count(), 1, "{backend:?}: {printed:?}");
}

crate::on_each_backend!(tail_from_now_prints_what_commits_after_it_started);
