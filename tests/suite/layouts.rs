//! The stores real event-sourcing libraries write, built here from each library's documented
//! schema with realistic rows, on every backend the library supports: detection, stream
//! listing, reading events, decoding (zlib, AES with the right and a wrong key, tagged enums,
//! wrapped values, YAML, MessagePack; XML, Erlang terms and Protocol Buffers named), snapshots,
//! several layouts in one database, a layout file for tables no library wrote, and the command
//! line on every layout.

use crate::common;

use std::io::Write;

use base64::Engine as _;
use common::{Backend, TestDb, block_on, eventscope};
use eventscope::model::{Event, Payload};
use eventscope::store::{EventCursor, Store, StoreError, Target};
use serde_json::{Value, json};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A byte-string literal for the backend.
fn blob(backend: Backend, bytes: &[u8]) -> String {
    match backend {
        Backend::Sqlite => format!("X'{}'", hex(bytes)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex(bytes)),
    }
}

/// A text literal.
fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

const KEY: [u8; 32] = [42; 32];

fn key_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(KEY)
}

fn open(db: &TestDb, layout: Option<&str>) -> Store {
    block_on(Store::open(Target::parse(&db.target).unwrap(), layout))
        .unwrap_or_else(|e| panic!("{:?}: {e}", db.backend))
}

fn events(store: &Store, stream: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let mut cursor = Some(EventCursor::from_version(i64::MIN));
    while let Some(at) = cursor {
        let page = block_on(store.read_stream(stream, at, 2)).unwrap();
        out.extend(page.events);
        cursor = page.next;
    }
    out
}

fn streams(store: &Store) -> Vec<String> {
    let page =
        block_on(store.list_streams(&eventscope::store::query::StreamQuery { limit: 100, ..Default::default() }))
            .unwrap();
    page.streams.into_iter().map(|s| s.stream.0).collect()
}

fn json_of(event: &Event) -> &Value {
    event.payload.as_json().unwrap_or_else(|| panic!("v{} not decoded: {:?}", event.version, event.payload))
}

fn reason_of(event: &Event) -> String {
    match &*event.payload {
        Payload::Undecodable { reason, .. } => reason.clone(),
        other => panic!("v{} decoded, expected raw: {other:?}", event.version),
    }
}

/// The command line lists, reads and folds every layout: the stream is listed, its events are
/// printed in version order, and its state is an object. Returns the printed events.
fn cli_works(db: &TestDb, stream: &str, layout: Option<&str>) -> Vec<Value> {
    let run = |command: &str, with_stream: bool| -> Value {
        let mut args = vec![command.to_owned(), db.target.clone()];
        if with_stream {
            args.push(stream.to_owned());
        }
        if let Some(l) = layout {
            args.extend(["--layout".to_owned(), l.to_owned()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = eventscope(&refs);
        assert!(ok, "{:?} {args:?}: {err}", db.backend);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let listed = run("streams", false);
    assert!(
        listed.as_array().unwrap().iter().any(|s| s["stream"] == stream),
        "{:?}: {stream} not listed: {listed}",
        db.backend
    );
    let events = run("events", true).as_array().cloned().unwrap();
    assert!(!events.is_empty(), "{:?}: no events printed for {stream}", db.backend);
    assert!(events.iter().all(|e| e["stream"] == stream && e["event_type"].is_string()));
    let versions: Vec<i64> = events.iter().map(|e| e["version"].as_i64().unwrap()).collect();
    assert!(versions.is_sorted(), "{versions:?}");
    let state = run("state", true);
    assert_eq!(state["stream"], stream);
    assert_eq!(state["version"], json!(versions.last().unwrap()));
    assert!(state["state"].is_object(), "{:?}: {state}", db.backend);
    events
}

const ES_ORDER: &str = "6e3969aa22ef4468adfc02d385f7dc77";
const ES_OTHER: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn es_state(timestamp: &str, rest: Value) -> Vec<u8> {
    let mut state = json!({"timestamp": {"_type_": "datetime_iso", "_data_": timestamp}});
    for (k, v) in rest.as_object().unwrap() {
        state[k] = v.clone();
    }
    state.to_string().into_bytes()
}

/// Python eventsourcing's tables, one application (`stored_events` on SQLite, `<app>_events`
/// on PostgreSQL): plain, compressed and encrypted states.
fn eventsourcing_fixture(db: &TestDb, app: &str) {
    let b = db.backend;
    let placed = es_state(
        "2026-03-02T08:00:00.123456+00:00",
        json!({"originator_topic": "shop.domain:Order", "customer": "C-1",
               "total": {"_type_": "decimal_str", "_data_": "19.99"},
               "ref": {"_type_": "uuid_hex", "_data_": "00112233445566778899aabbccddeeff"}}),
    );
    let paid = zlib(&es_state("2026-03-02T08:05:00+00:00", json!({"paid": true})));
    let shipped = eventscope::store::decode::encrypt(
        &zlib(&es_state("2026-03-03T10:00:00+00:00", json!({"carrier": "DHL"}))),
        &KEY,
        [9; 12],
    )
    .unwrap();
    let other =
        es_state("2026-03-01T00:00:00+00:00", json!({"originator_topic": "shop.domain:Order", "customer": "C-2"}));
    let snapshot = json!({"timestamp": {"_type_": "datetime_iso", "_data_": "2026-03-02T08:05:01+00:00"}, "topic": "shop.domain:Order",
        "state": {"_id": {"_type_": "uuid_hex", "_data_": ES_ORDER}, "_version": 2,
            "_created_on": {"_type_": "datetime_iso", "_data_": "2026-03-02T08:00:00+00:00"},
            "_modified_on": {"_type_": "datetime_iso", "_data_": "2026-03-02T08:05:00+00:00"},
            "customer": "C-1", "total": {"_type_": "decimal_str", "_data_": "19.99"},
            "ref": {"_type_": "uuid_hex", "_data_": "00112233445566778899aabbccddeeff"}, "paid": true}})
    .to_string();
    let (events, snapshots, id_type) = match b {
        Backend::Sqlite => ("stored_events".to_owned(), "stored_snapshots".to_owned(), "TEXT"),
        Backend::Postgres => (format!("{app}_events"), format!("{app}_snapshots"), "uuid"),
    };
    let id = |h: &str| match b {
        Backend::Sqlite => lit(h),
        Backend::Postgres => format!("{}::uuid", lit(h)),
    };
    let ddl = match b {
        Backend::Sqlite => format!(
            "CREATE TABLE {events} (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version));
             CREATE TABLE {snapshots} (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID;
             CREATE TABLE tracking (application_name TEXT, notification_id INTEGER, PRIMARY KEY (application_name)) WITHOUT ROWID;"
        ),
        Backend::Postgres => format!(
            "CREATE TABLE {events} (originator_id {id_type} NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version));
             CREATE UNIQUE INDEX {events}_notification_id_idx ON {events} (notification_id ASC);
             CREATE TABLE {snapshots} (originator_id {id_type} NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, PRIMARY KEY (originator_id, originator_version));
             CREATE TABLE {app}_tracking (application_name text, notification_id bigint, PRIMARY KEY (application_name));"
        ),
    };
    db.exec(&format!(
        "{ddl}
         INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES ({o}, 1, 'shop.domain:Order.Placed', {p1});
         INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES ({x}, 1, 'shop.domain:Order.Placed', {p4});
         INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES ({o}, 2, 'shop.domain:Order.Paid', {p2});
         INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES ({o}, 3, 'shop.domain:Order.Shipped', {p3});
         INSERT INTO {snapshots} VALUES ({o}, 2, 'eventsourcing.domain:Snapshot', {s});",
        o = id(ES_ORDER),
        x = id(ES_OTHER),
        p1 = blob(b, &placed),
        p2 = blob(b, &paid),
        p3 = blob(b, &shipped),
        p4 = blob(b, &other),
        s = blob(b, snapshot.as_bytes()),
    ));
}

fn es_stream(backend: Backend, hex_id: &str) -> String {
    match backend {
        Backend::Sqlite => hex_id.to_owned(),
        Backend::Postgres => {
            format!("{}-{}-{}-{}-{}", &hex_id[0..8], &hex_id[8..12], &hex_id[12..16], &hex_id[16..20], &hex_id[20..32])
        }
    }
}

fn python_eventsourcing(backend: Backend) {
    let db = TestDb::new(backend, "eventsourcing");
    eventsourcing_fixture(&db, "orders");
    let store = open(&db, None);
    assert_eq!(store.layout.library, "eventsourcing", "{backend:?}");
    let order = es_stream(backend, ES_ORDER);
    assert_eq!(streams(&store), [es_stream(backend, ES_OTHER), order.clone()], "{backend:?}");
    let read = events(&store, &order);
    assert_eq!(
        read.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
        ["Order.Placed", "Order.Paid", "Order.Shipped"]
    );
    assert_eq!(read[0].metadata_str("topic"), Some("shop.domain:Order.Placed"), "the full topic is kept");
    assert_eq!(json_of(&read[0])["total"], json!(19.99), "decimal_str unwrapped");
    assert_eq!(json_of(&read[0])["ref"], json!("00112233-4455-6677-8899-aabbccddeeff"), "uuid_hex unwrapped");
    // The event's own bookkeeping (its time, the aggregate's topic) is metadata, not payload.
    assert_eq!(json_of(&read[0]).get("timestamp"), None);
    assert_eq!(read[0].metadata_str("timestamp"), Some("2026-03-02T08:00:00.123456+00:00"));
    assert_eq!(read[0].metadata_str("originator_topic"), Some("shop.domain:Order"));
    assert_eq!(
        read[0].recorded_at.map(eventscope::model::format_time).as_deref(),
        Some("2026-03-02T08:00:00.123Z"),
        "time from the state"
    );
    assert_eq!(json_of(&read[1])["paid"], json!(true), "zlib inflated");
    assert!(reason_of(&read[2]).contains("give the cipher key"), "{backend:?}");
    // Global order: rowid on SQLite, notification_id on PostgreSQL.
    assert_eq!(read.iter().map(|e| e.position.unwrap()).collect::<Vec<_>>(), [1, 3, 4]);
    // The right key opens it; a wrong one says so and keeps the bytes.
    store.set_cipher_key(Some(&key_b64())).unwrap();
    assert_eq!(json_of(&events(&store, &order)[2])["carrier"], json!("DHL"));
    store.set_cipher_key(Some(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))).unwrap();
    let wrong = events(&store, &order);
    assert!(reason_of(&wrong[2]).contains("could not decrypt"), "{backend:?}");
    assert!(matches!(store.set_cipher_key(Some("not base64!")), Err(StoreError::Open(_))));
    // Snapshots: the aggregate state, wrapped values plain.
    let snapshots = block_on(store.snapshots(&order)).unwrap();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].0, 2);
    let expected_snapshot =
        json!({"customer": "C-1", "total": 19.99, "ref": "00112233-4455-6677-8899-aabbccddeeff", "paid": true});
    assert_eq!(snapshots[0].1, Payload::Json(expected_snapshot.clone()), "the aggregate object's bookkeeping left out");
    // No drift: the merge fold of versions 1 and 2 is the snapshot.
    let folded = eventscope::fold::replay(&mut eventscope::fold::MergeFold::default(), &read[..2]).unwrap();
    assert_eq!(eventscope::diff::structural_diff(&folded, &expected_snapshot), vec![], "{backend:?}");
    cli_works(&db, &order, None);
    // The command line takes the key from the environment, never from an argument.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_eventscope"))
        .args(["events", &db.target, &order, "--from", "3"])
        .env("EVENTSCOPE_CIPHER_KEY", key_b64())
        .output()
        .unwrap();
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out[0]["payload"]["carrier"], json!("DHL"), "{}", String::from_utf8_lossy(&output.stderr));
}

/// eventsourcing's SQLite store runs in WAL mode: a copy taken while the application holds it
/// open (a `-wal` with the newest event, and a `-shm`) opens, shows that event, and every file
/// stays byte-for-byte the same.
#[test]
fn python_eventsourcing_in_wal_mode_is_read_without_changing_a_byte() {
    use sqlx::{ConnectOptions, Connection};
    let db = TestDb::new(Backend::Sqlite, "eventsourcing_wal");
    eventsourcing_fixture(&db, "orders");
    let copy = tempfile::tempdir().unwrap();
    block_on(async {
        let mut app = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db.path())
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0")
            .connect()
            .await
            .unwrap();
        let state = es_state("2026-03-04T09:00:00+00:00", json!({"delivered": true}));
        sqlx::query("INSERT INTO stored_events VALUES (?1, 4, 'shop.domain:Order.Delivered', ?2)")
            .bind(ES_ORDER)
            .bind(state)
            .execute(&mut app)
            .await
            .unwrap();
        let name = db.path().file_name().unwrap().to_string_lossy().into_owned();
        for suffix in ["", "-wal", "-shm"] {
            std::fs::copy(
                db.path().with_file_name(format!("{name}{suffix}")),
                copy.path().join(format!("es.sqlite{suffix}")),
            )
            .unwrap();
        }
        app.close().await.unwrap();
    });
    let before = common::fingerprints(copy.path());
    assert_eq!(before.len(), 3);
    let store = block_on(Store::open(Target::Sqlite(copy.path().join("es.sqlite")), None)).unwrap();
    assert_eq!(store.layout.library, "eventsourcing");
    let read = events(&store, ES_ORDER);
    assert_eq!(read.last().map(|e| e.event_type.as_str()), Some("Order.Delivered"), "the event still in the WAL");
    assert_eq!(streams(&store).len(), 2);
    block_on(store.close());
    assert_eq!(common::fingerprints(copy.path()), before, "the store's files changed");
}

#[test]
fn two_python_applications_in_one_database_offer_a_choice() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "twoapps");
    eventsourcing_fixture(&db, "orders");
    db.exec(
        "CREATE TABLE accounts_events (originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version));
         INSERT INTO accounts_events (originator_id, originator_version, topic, state)
           VALUES ('11111111-2222-3333-4444-555555555555', 1, 'bank:Account.Opened', convert_to('{\"owner\": \"Ada\"}', 'UTF8'));",
    );
    let store = open(&db, None);
    let names: Vec<&str> = store.layouts.iter().map(|l| l.name.as_str()).collect();
    assert!(names.contains(&"orders_events") && names.contains(&"accounts_events"), "{names:?}");
    let accounts = open(&db, Some("accounts_events"));
    assert_eq!(streams(&accounts), ["11111111-2222-3333-4444-555555555555"]);
    let (ok, out, err) = eventscope(&["streams", &db.target, "--layout", "accounts_events"]);
    assert!(ok, "{err}");
    assert!(out.contains("11111111-2222-3333-4444-555555555555"));
    let (ok, _, err) = eventscope(&["streams", &db.target, "--layout", "nope"]);
    assert!(!ok && err.contains("accounts_events") && err.contains("orders_events"), "{err}");
}

fn cqrs_es(backend: Backend) {
    let db = TestDb::new(backend, "cqrses");
    let (json_type, int_type, strict) = match backend {
        Backend::Sqlite => ("text", "integer", " STRICT"),
        Backend::Postgres => ("json", "bigint", ""),
    };
    db.exec(&format!(
        "CREATE TABLE events (aggregate_type text NOT NULL, aggregate_id text NOT NULL, sequence {int_type} CHECK (sequence >= 0) NOT NULL,
           event_type text NOT NULL, event_version text NOT NULL, payload {json_type} NOT NULL, metadata {json_type} NOT NULL,
           PRIMARY KEY (aggregate_type, aggregate_id, sequence)){strict};
         CREATE TABLE snapshots (aggregate_type text NOT NULL, aggregate_id text NOT NULL, last_sequence {int_type} CHECK (last_sequence >= 0) NOT NULL,
           current_snapshot {int_type} CHECK (current_snapshot >= 0) NOT NULL, payload {json_type} NOT NULL,
           PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)){strict};
         INSERT INTO events VALUES ('BankAccount', 'acct-9', 1, 'AccountOpened', '1.0', '{{\"AccountOpened\": {{\"account_id\": \"acct-9\"}}}}', '{{\"user\": \"ada\"}}');
         INSERT INTO events VALUES ('BankAccount', 'acct-9', 2, 'CustomerDepositedMoney', '1.0', '{{\"CustomerDepositedMoney\": {{\"amount\": 100.5, \"balance\": 100.5}}}}', '{{}}');
         INSERT INTO events VALUES ('BankAccount', 'acct-9', 3, 'CustomerWithdrewCash', '1.0', '{{\"CustomerWithdrewCash\": {{\"amount\": 20.0, \"balance\": 80.5}}}}', '{{\"user\": \"ada\"}}');
         INSERT INTO events VALUES ('Customer', 'c-1', 1, 'NameAdded', '1.0', '{{\"NameAdded\": {{}}}}', '{{}}');
         INSERT INTO events VALUES ('gift-card', 'g-7', 1, 'Issued', '1.0', '{{\"Issued\": {{\"value\": 25}}}}', '{{}}');
         INSERT INTO events VALUES ('gift-card', 'g-7', 2, 'Redeemed', '1.0', '{{\"Redeemed\": {{\"value\": 10}}}}', '{{}}');
         INSERT INTO snapshots VALUES ('BankAccount', 'acct-9', 2, 1, '{{\"account_id\": \"acct-9\", \"balance\": 100.5}}');"
    ));
    let store = open(&db, None);
    assert_eq!(store.layout.library, "cqrs-es", "{backend:?}");
    assert_eq!(streams(&store), ["BankAccount-acct-9", "Customer-c-1", "gift-card-g-7"]);
    // A type with a dash in it: the stream still opens, and the log pages through it.
    let gift = events(&store, "gift-card-g-7");
    assert_eq!(gift.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(gift[0].category(), "gift-card");
    let mut cursor = eventscope::store::query::LogCursor::Edge;
    let mut log = Vec::new();
    loop {
        let page = block_on(store.read_log(&cursor, true, 1)).unwrap();
        log.extend(page.events.iter().map(|e| format!("{}@{}", e.stream.0, e.version)));
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    log.sort();
    let expected = [
        "BankAccount-acct-9@1",
        "BankAccount-acct-9@2",
        "BankAccount-acct-9@3",
        "Customer-c-1@1",
        "gift-card-g-7@1",
        "gift-card-g-7@2",
    ];
    assert_eq!(log, expected, "every event once, page after page of one");
    let read = events(&store, "BankAccount-acct-9");
    assert_eq!(read.len(), 3);
    assert_eq!(json_of(&read[1]), &json!({"amount": 100.5, "balance": 100.5}), "the enum's tag is taken off");
    assert_eq!(read[0].category(), "BankAccount");
    assert_eq!(read[0].metadata_str("user"), Some("ada"));
    assert_eq!(read[0].metadata_str("event_version"), Some("1.0"));
    assert!(events(&store, "BankAccount-nope").is_empty());
    assert!(events(&store, "no-dash-at-all-but-wrong").is_empty());
    let summary = block_on(store.stream_summary("Customer-c-1")).unwrap();
    assert_eq!(summary.events, 1);
    let snapshots = block_on(store.snapshots("BankAccount-acct-9")).unwrap();
    assert_eq!(snapshots, vec![(2, Payload::Json(json!({"account_id": "acct-9", "balance": 100.5})))]);
    cli_works(&db, "BankAccount-acct-9", None);
    let (ok, out, _) = eventscope(&["state", &db.target, "BankAccount-acct-9"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["state"]["balance"], json!(80.5));
}

fn emmett(backend: Backend) {
    let db = TestDb::new(backend, "emmett");
    let ddl = match backend {
        Backend::Sqlite => "CREATE TABLE emt_streams(stream_id TEXT NOT NULL, stream_position BIGINT NOT NULL DEFAULT 0, partition TEXT NOT NULL DEFAULT 'global',
              stream_type TEXT NOT NULL, stream_metadata JSONB NOT NULL, is_archived BOOLEAN NOT NULL DEFAULT FALSE, PRIMARY KEY (stream_id, partition, is_archived));
            CREATE TABLE emt_messages(stream_id TEXT NOT NULL, stream_position BIGINT NOT NULL, partition TEXT NOT NULL DEFAULT 'global',
              message_kind CHAR(1) NOT NULL DEFAULT 'E', message_data JSONB NOT NULL, message_metadata JSONB NOT NULL, message_schema_version TEXT NOT NULL,
              message_type TEXT NOT NULL, message_id TEXT NOT NULL, is_archived BOOLEAN NOT NULL DEFAULT FALSE, global_position INTEGER PRIMARY KEY,
              created DATETIME DEFAULT CURRENT_TIMESTAMP, UNIQUE (stream_id, stream_position, partition, is_archived));"
            .to_owned(),
        Backend::Postgres => "CREATE TABLE emt_streams(stream_id TEXT NOT NULL, stream_position BIGINT NOT NULL, partition TEXT NOT NULL DEFAULT 'emt:default',
              stream_type TEXT NOT NULL, stream_metadata JSONB NOT NULL, is_archived BOOLEAN NOT NULL DEFAULT FALSE, PRIMARY KEY (stream_id, partition, is_archived)) PARTITION BY LIST (partition);
            CREATE TABLE emt_streams_emt_default PARTITION OF emt_streams FOR VALUES IN ('emt:default');
            CREATE SEQUENCE emt_global_message_position;
            CREATE TABLE emt_messages(stream_position BIGINT NOT NULL, global_position BIGINT DEFAULT nextval('emt_global_message_position'),
              transaction_id XID8 NOT NULL DEFAULT pg_current_xact_id(), created TIMESTAMPTZ NOT NULL DEFAULT now(), is_archived BOOLEAN NOT NULL DEFAULT FALSE,
              message_kind VARCHAR(1) NOT NULL DEFAULT 'E', stream_id TEXT NOT NULL, partition TEXT NOT NULL DEFAULT 'emt:default', message_schema_version TEXT NOT NULL,
              message_id TEXT NOT NULL, message_type TEXT NOT NULL, message_data JSONB NOT NULL, message_metadata JSONB NOT NULL,
              PRIMARY KEY (stream_id, stream_position, partition, is_archived)) PARTITION BY LIST (partition);
            CREATE TABLE emt_messages_emt_default PARTITION OF emt_messages FOR VALUES IN ('emt:default') PARTITION BY LIST (is_archived);
            CREATE TABLE emt_messages_emt_default_active PARTITION OF emt_messages_emt_default FOR VALUES IN (FALSE);
            CREATE TABLE emt_messages_emt_default_archived PARTITION OF emt_messages_emt_default FOR VALUES IN (TRUE);"
            .to_owned(),
    };
    let columns = "stream_id, stream_position, partition, message_kind, message_data, message_metadata, message_schema_version, message_type, message_id, is_archived, global_position, created";
    let row = |stream: &str, pos: i64, kind: &str, ty: &str, data: &str, archived: bool, global: i64, created: &str| {
        format!(
            "INSERT INTO emt_messages ({columns}) VALUES ({}, {pos}, 'emt:default', '{kind}', {}, '{{}}', '1', '{ty}', 'msg-{global}', {archived}, {global}, '{created}');",
            lit(stream),
            lit(data)
        )
    };
    db.exec(&format!(
        "{ddl}
         {}
         {}
         {}
         {}",
        row(
            "shopping_cart-1",
            1,
            "E",
            "ProductItemAdded",
            r#"{"productId": "p-1", "quantity": 2}"#,
            false,
            1,
            "2026-03-02T08:00:00Z"
        ),
        row("shopping_cart-1", 2, "E", "DiscountApplied", r#"{"percent": 10}"#, true, 2, "2026-03-02T08:01:00Z"),
        row("shopping_cart-1", 3, "C", "ConfirmShoppingCart", r#"{"by": "u-1"}"#, false, 3, "2026-03-02T08:02:00Z"),
        row("guest_stay-7", 1, "E", "GuestCheckedIn", r#"{"room": 12}"#, false, 4, "2026-03-02T09:00:00Z"),
    ));
    let store = open(&db, None);
    assert_eq!(store.layout.library, "emmett", "{backend:?}");
    assert_eq!(
        streams(&store),
        ["guest_stay-7", "shopping_cart-1"],
        "{backend:?}: partitions are not streams of their own"
    );
    let read = events(&store, "shopping_cart-1");
    assert_eq!(read.len(), 3);
    assert!(!read[0].archived && read[1].archived && !read[2].archived, "archived messages are listed, marked");
    assert_eq!(read[2].metadata_str("message_kind"), Some("C"));
    assert_eq!(read[0].category(), "shopping_cart");
    assert_eq!(read.iter().map(|e| e.position.unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(read[0].recorded_at.map(eventscope::model::format_time).as_deref(), Some("2026-03-02T08:00:00.000Z"));
    let printed = cli_works(&db, "shopping_cart-1", None);
    assert_eq!(printed.iter().map(|e| e["archived"].clone()).collect::<Vec<_>>(), [false, true, false]);
}

#[test]
fn message_db() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "messagedb");
    db.exec(
        "CREATE SCHEMA message_store;
         CREATE TABLE message_store.messages (global_position bigserial NOT NULL, position bigint NOT NULL,
           time TIMESTAMP WITHOUT TIME ZONE DEFAULT (now() AT TIME ZONE 'utc') NOT NULL, stream_name text NOT NULL, type text NOT NULL,
           data jsonb, metadata jsonb, id UUID NOT NULL DEFAULT gen_random_uuid());
         ALTER TABLE message_store.messages ADD PRIMARY KEY (global_position);
         CREATE UNIQUE INDEX messages_stream ON message_store.messages (stream_name, position);
         INSERT INTO message_store.messages (position, time, stream_name, type, data, metadata) VALUES
           (0, '2026-03-02 08:00:00', 'account-123', 'Opened', '{\"customerId\": \"c-1\"}', '{\"correlationStreamName\": \"onboarding-9\"}'),
           (0, '2026-03-02 08:00:01', 'account:command-123', 'Deposit', '{\"amount\": 11}', null),
           (1, '2026-03-02 08:00:02', 'account-123', 'Deposited', '{\"amount\": 11}', '{\"causationMessageStreamName\": \"account:command-123\"}');",
    );
    let store = open(&db, None);
    assert_eq!(store.layout.library, "message-db");
    let read = events(&store, "account-123");
    assert_eq!(read.iter().map(|e| e.version).collect::<Vec<_>>(), [0, 1], "positions from 0, shown as they are");
    assert!(eventscope::model::version_anomalies(read.iter().map(|e| e.version)).is_empty());
    assert_eq!(read[0].category(), "account");
    assert_eq!(read[1].position, Some(3));
    assert!(read[0].metadata_str("message_id").is_some());
    assert_eq!(read[0].recorded_at.map(eventscope::model::format_time).as_deref(), Some("2026-03-02T08:00:00.000Z"));
    cli_works(&db, "account-123", None);
}

#[test]
fn marten() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "marten");
    db.exec(
        "CREATE SEQUENCE mt_events_sequence;
         CREATE TABLE mt_streams (id uuid PRIMARY KEY, type varchar, version bigint, timestamp timestamptz default now() not null,
           snapshot jsonb, snapshot_version integer, created timestamptz default now() not null, tenant_id varchar default '*DEFAULT*', is_archived boolean default false);
         CREATE TABLE mt_events (seq_id bigint PRIMARY KEY, id uuid not null, stream_id uuid REFERENCES mt_streams(id) ON DELETE CASCADE,
           version bigint not null, data jsonb not null, type varchar(500) not null, timestamp timestamptz default now() not null,
           tenant_id varchar default '*DEFAULT*', mt_dotnet_type varchar, correlation_id varchar, causation_id varchar, headers jsonb, is_archived bool default false);
         INSERT INTO mt_streams (id, type, version, snapshot, snapshot_version) VALUES
           ('a0000000-0000-4000-8000-000000000001', 'Quest', 2, '{\"name\": \"Destroy the ring\", \"members\": [\"Frodo\"]}', 1);
         INSERT INTO mt_events VALUES
           (1, 'e0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 1, '{\"name\": \"Destroy the ring\"}', 'quest_started', '2026-03-02T08:00:00Z', '*DEFAULT*', 'Quests.QuestStarted, Quests', 'corr-1', null, '{\"user\": \"gandalf\"}', false),
           (2, 'e0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000001', 2, '{\"members\": [\"Frodo\", \"Sam\"]}', 'members_joined', '2026-03-02T08:05:00Z', '*DEFAULT*', 'Quests.MembersJoined, Quests', 'corr-1', 'e0000000-0000-4000-8000-000000000001', null, false);",
    );
    let store = open(&db, None);
    assert_eq!(store.layout.library, "marten");
    let stream = "a0000000-0000-4000-8000-000000000001";
    let read = events(&store, stream);
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].aggregate_type.as_deref(), Some("Quest"), "the aggregate type comes from mt_streams");
    assert_eq!(read[0].metadata_str("user"), Some("gandalf"), "headers are the metadata");
    assert_eq!(read[1].metadata_str("correlation_id"), Some("corr-1"));
    assert_eq!(read[1].metadata_str("causation_id"), Some("e0000000-0000-4000-8000-000000000001"));
    let snapshots = block_on(store.snapshots(stream)).unwrap();
    assert_eq!(snapshots, vec![(1, Payload::Json(json!({"name": "Destroy the ring", "members": ["Frodo"]})))]);
    // Correlation filters reach the columns.
    let filter =
        eventscope::audit::AuditFilter { meta: vec![("correlation_id".into(), "corr-1".into())], ..Default::default() };
    assert_eq!(block_on(store.audit_count(&filter)).unwrap(), 2);
    cli_works(&db, stream, None);
}

fn rails_event_store(backend: Backend) {
    let db = TestDb::new(backend, "res");
    let b = backend;
    let ddl = match backend {
        Backend::Postgres => "CREATE TABLE event_store_events (id bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, event_type varchar NOT NULL,
               metadata bytea, data bytea NOT NULL, created_at timestamp(6) NOT NULL, valid_at timestamp(6));
             CREATE TABLE event_store_events_in_streams (id bigserial PRIMARY KEY, stream varchar NOT NULL, position integer,
               event_id uuid NOT NULL REFERENCES event_store_events (event_id), created_at timestamp(6) NOT NULL);
             CREATE UNIQUE INDEX ON event_store_events_in_streams (stream, position);",
        Backend::Sqlite => "CREATE TABLE event_store_events (id integer PRIMARY KEY AUTOINCREMENT NOT NULL, event_id varchar(36) NOT NULL, event_type varchar NOT NULL,
               metadata blob, data blob NOT NULL, created_at datetime(6) NOT NULL, valid_at datetime(6));
             CREATE TABLE event_store_events_in_streams (id integer PRIMARY KEY AUTOINCREMENT NOT NULL, stream varchar NOT NULL, position integer,
               event_id varchar(36) NOT NULL, created_at datetime(6) NOT NULL);",
    };
    let yaml_data = "---\n:order_id: 42\n:amount: 19.5\n:items:\n- sku-1\n- sku-2\n";
    let yaml_meta = "---\n:correlation_id: c-9\n:remote_ip: 127.0.0.1\n";
    let event = |n: i64, ty: &str, data: &str, meta: &str, at: &str| {
        format!(
            "INSERT INTO event_store_events (id, event_id, event_type, metadata, data, created_at) VALUES ({n}, '00000000-0000-4000-8000-00000000000{n}', '{ty}', {}, {}, '{at}');",
            blob(b, meta.as_bytes()),
            blob(b, data.as_bytes())
        )
    };
    let link = |id: i64, stream: &str, position: &str, n: i64| {
        format!(
            "INSERT INTO event_store_events_in_streams (id, stream, position, event_id, created_at) VALUES ({id}, '{stream}', {position}, '00000000-0000-4000-8000-00000000000{n}', '2026-03-02 08:00:00');"
        )
    };
    db.exec(&format!(
        "{ddl} {} {} {} {} {} {} {} {}",
        event(1, "Ordering::OrderPlaced", yaml_data, yaml_meta, "2026-03-02 08:00:00"),
        event(2, "Ordering::OrderPaid", "---\n:paid: true\n", yaml_meta, "2026-03-02 08:10:00"),
        event(3, "Ordering::OrderShipped", r#"{"carrier": "UPS"}"#, "{}", "2026-03-02 09:00:00"),
        link(1, "Ordering::Order$42", "0", 1),
        link(2, "Ordering::Order$42", "1", 2),
        link(3, "Customer$9", "NULL", 1),
        link(4, "Ordering::Order$42", "2", 3),
        link(5, "all", "NULL", 3),
    ));
    let store = open(&db, None);
    assert_eq!(store.layout.library, "rails-event-store", "{backend:?}");
    assert_eq!(streams(&store), ["Customer$9", "Ordering::Order$42"], "{backend:?}: `all` is not a stream");
    let read = events(&store, "Ordering::Order$42");
    assert_eq!(read.iter().map(|e| e.version).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(
        json_of(&read[0]),
        &json!({":order_id": 42, ":amount": 19.5, ":items": ["sku-1", "sku-2"]}),
        "YAML read as JSON"
    );
    assert_eq!(read[0].metadata_str(":correlation_id"), Some("c-9"));
    assert_eq!(json_of(&read[2])["carrier"], json!("UPS"));
    assert_eq!(
        read.iter().map(|e| e.position.unwrap()).collect::<Vec<_>>(),
        [1, 2, 3],
        "the global order is the event's id"
    );
    // A linked event appears in the other stream too (its version there is the link's id).
    let linked = events(&store, "Customer$9");
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].event_type, "Ordering::OrderPlaced");
    cli_works(&db, "Ordering::Order$42", None);
}

#[test]
fn commanded_eventstore() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "commanded");
    let b = Backend::Postgres;
    let msgpack = rmp_serde::to_vec_named(&json!({"amount": 250, "currency": "EUR"})).unwrap();
    let erlang = [131u8, 116, 0, 0, 0, 1, 100, 0, 6, 97, 109, 111, 117, 110, 116, 97, 5];
    let protobuf = [0x08u8, 0x96, 0x01, 0x12, 0x03, b'E', b'U', b'R'];
    let event = |n: i64, ty: &str, data: &[u8], at: &str| {
        format!(
            "INSERT INTO events VALUES ('00000000-0000-4000-8000-00000000000{n}', '{ty}', NULL, '11111111-0000-4000-8000-000000000000', {}, {}, '{at}');",
            blob(b, data),
            blob(b, br#"{"user_id": "u-7"}"#)
        )
    };
    db.exec(&format!(
        "CREATE TABLE streams (stream_id bigserial PRIMARY KEY NOT NULL, stream_uuid text NOT NULL, stream_version bigint default 0 NOT NULL,
           created_at timestamp with time zone DEFAULT NOW() NOT NULL, deleted_at timestamp with time zone);
         CREATE UNIQUE INDEX ix_streams_stream_uuid ON streams (stream_uuid);
         CREATE TABLE events (event_id uuid PRIMARY KEY NOT NULL, event_type text NOT NULL, causation_id uuid NULL, correlation_id uuid NULL,
           data bytea NOT NULL, metadata bytea NULL, created_at timestamp with time zone DEFAULT NOW() NOT NULL);
         CREATE TABLE stream_events (event_id uuid NOT NULL REFERENCES events (event_id), stream_id bigint NOT NULL REFERENCES streams (stream_id),
           stream_version bigint NOT NULL, original_stream_id bigint REFERENCES streams (stream_id), original_stream_version bigint, PRIMARY KEY(event_id, stream_id));
         CREATE TABLE snapshots (source_uuid text PRIMARY KEY NOT NULL, source_version bigint NOT NULL, source_type text NOT NULL,
           data bytea NOT NULL, metadata bytea NULL, created_at timestamptz DEFAULT NOW() NOT NULL);
         INSERT INTO streams (stream_id, stream_uuid, stream_version) VALUES (0, '$all', 4), (1, 'account-1', 3), (2, 'account-2', 1);
         {} {} {} {}
         INSERT INTO stream_events VALUES
           ('00000000-0000-4000-8000-000000000001', 1, 1, 1, 1), ('00000000-0000-4000-8000-000000000001', 0, 1, 1, 1),
           ('00000000-0000-4000-8000-000000000002', 2, 1, 2, 1), ('00000000-0000-4000-8000-000000000002', 0, 2, 2, 1),
           ('00000000-0000-4000-8000-000000000003', 1, 2, 1, 2), ('00000000-0000-4000-8000-000000000003', 0, 3, 1, 2),
           ('00000000-0000-4000-8000-000000000004', 1, 3, 1, 3), ('00000000-0000-4000-8000-000000000004', 0, 4, 1, 3);
         INSERT INTO snapshots VALUES ('account-1', 2, 'Elixir.Bank.Account', {}, NULL, '2026-03-02T08:03:00Z');",
        event(1, "Elixir.Bank.AccountOpened", br#"{"account": "account-1"}"#, "2026-03-02T08:00:00Z"),
        event(2, "Elixir.Bank.AccountOpened", &msgpack, "2026-03-02T08:01:00Z"),
        event(3, "Elixir.Bank.MoneyDeposited", &erlang, "2026-03-02T08:02:00Z"),
        event(4, "Elixir.Bank.MoneyDeposited", &protobuf, "2026-03-02T08:04:00Z"),
        blob(b, br#"{"balance": 5}"#),
    ));
    let store = open(&db, None);
    assert_eq!(store.layout.library, "commanded");
    assert_eq!(streams(&store), ["account-1", "account-2"], "no $all, no link rows");
    let read = events(&store, "account-1");
    assert_eq!(read.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(read.iter().map(|e| e.position.unwrap()).collect::<Vec<_>>(), [1, 3, 4], "the global order is $all's");
    assert_eq!(json_of(&read[0])["account"], json!("account-1"));
    assert!(reason_of(&read[1]).starts_with("Erlang external term format"));
    assert!(reason_of(&read[2]).contains("Protocol Buffers"));
    assert_eq!(read[0].metadata_str("user_id"), Some("u-7"));
    assert_eq!(read[0].metadata_str("correlation_id"), Some("11111111-0000-4000-8000-000000000000"));
    let other = events(&store, "account-2");
    assert_eq!(json_of(&other[0]), &json!({"amount": 250, "currency": "EUR"}), "MessagePack read as JSON");
    assert_eq!(block_on(store.snapshots("account-1")).unwrap(), vec![(2, Payload::Json(json!({"balance": 5})))]);
    let log = block_on(store.read_log(&eventscope::store::query::LogCursor::Edge, true, 10)).unwrap();
    assert_eq!(log.events.iter().map(|e| e.position.unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    cli_works(&db, "account-1", None);
}

#[test]
fn axon() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "axon");
    let b = Backend::Postgres;
    let xml = "<com.example.GiftCardIssuedEvent><id>gc-1</id><amount>100</amount></com.example.GiftCardIssuedEvent>";
    let xml_meta = "<meta-data><entry><string>traceId</string><string>t-1</string></entry></meta-data>";
    db.exec(&format!(
        "CREATE TABLE domain_event_entry (global_index bigint PRIMARY KEY, aggregate_identifier varchar(255) NOT NULL, sequence_number bigint NOT NULL,
           type varchar(255), event_identifier varchar(255) NOT NULL UNIQUE, meta_data bytea, payload bytea NOT NULL, payload_revision varchar(255),
           payload_type varchar(255) NOT NULL, time_stamp varchar(255) NOT NULL, UNIQUE (aggregate_identifier, sequence_number));
         CREATE TABLE snapshot_event_entry (aggregate_identifier varchar(255) NOT NULL, sequence_number bigint NOT NULL, type varchar(255) NOT NULL,
           event_identifier varchar(255) NOT NULL UNIQUE, meta_data bytea, payload bytea NOT NULL, payload_revision varchar(255),
           payload_type varchar(255) NOT NULL, time_stamp varchar(255) NOT NULL, PRIMARY KEY (aggregate_identifier, sequence_number, type));
         INSERT INTO domain_event_entry VALUES (1, 'gc-1', 0, 'GiftCard', 'ev-1', {}, {}, NULL, 'com.example.GiftCardIssuedEvent', '2026-03-02T08:00:00.000Z');
         INSERT INTO domain_event_entry VALUES (2, 'gc-1', 1, 'GiftCard', 'ev-2', {}, {}, NULL, 'com.example.GiftCardRedeemedEvent', '2026-03-02T08:05:00.000Z');
         INSERT INTO snapshot_event_entry VALUES ('gc-1', 1, 'GiftCard', 'snap-1', NULL, {}, NULL, 'com.example.GiftCard', '2026-03-02T08:06:00.000Z');",
        blob(b, xml_meta.as_bytes()),
        blob(b, xml.as_bytes()),
        blob(b, b"{}"),
        blob(b, br#"{"id": "gc-1", "amount": 30}"#),
        blob(b, br#"{"id": "gc-1", "remaining": 70}"#),
    ));
    let store = open(&db, None);
    assert_eq!(store.layout.library, "axon");
    let read = events(&store, "gc-1");
    assert_eq!(read.iter().map(|e| e.version).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(read[0].event_type, "com.example.GiftCardIssuedEvent");
    assert_eq!(read[0].aggregate_type.as_deref(), Some("GiftCard"));
    assert!(reason_of(&read[0]).starts_with("an XML document"), "XStream XML is named and shown raw");
    // The XML metadata is kept (named) beside the columns shown as metadata.
    let metadata = read[0].metadata.as_deref().and_then(Payload::as_json).expect("metadata");
    assert!(
        metadata["metadata"]["undecodable"]["reason"].as_str().unwrap().starts_with("an XML document"),
        "{metadata}"
    );
    assert_eq!(metadata["event_id"], json!("ev-1"));
    assert_eq!(json_of(&read[1]), &json!({"id": "gc-1", "amount": 30}));
    assert_eq!(read[1].metadata_str("event_id"), Some("ev-2"));
    assert_eq!(read[1].recorded_at.map(eventscope::model::format_time).as_deref(), Some("2026-03-02T08:05:00.000Z"));
    assert_eq!(
        block_on(store.snapshots("gc-1")).unwrap(),
        vec![(1, Payload::Json(json!({"id": "gc-1", "remaining": 70})))]
    );
    cli_works(&db, "gc-1", None);
}

fn a_layout_file_maps_tables_no_library_wrote(backend: Backend) {
    let db = TestDb::new(backend, "custom");
    db.exec(
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, entity TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, at TEXT);
         INSERT INTO audit_log VALUES (1, 'door-1', 1, 'Opened', '{\"by\": \"ada\"}', '2026-03-02T08:00:00Z');
         INSERT INTO audit_log VALUES (2, 'door-1', 2, 'Closed', '{\"by\": \"bob\"}', '2026-03-02T08:01:00Z');",
    );
    let (ok, _, err) = eventscope(&["streams", &db.target]);
    assert!(!ok && err.contains("audit_log") && err.contains("--layout FILE"), "{err}");
    let layout = json!({
        "name": "audit_log", "description": "the door audit log", "table": {"name": "audit_log"},
        "columns": {
            "stream": {"column": {"name": "entity", "kind": "text"}},
            "version": {"name": "seq", "kind": "integer"},
            "event_type": {"name": "kind", "kind": "text"},
            "payload": {"name": "body", "kind": "text"},
            "recorded_at": {"name": "at", "kind": "text"},
            "position": {"name": "id", "kind": "integer"}
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doors.json");
    std::fs::write(&file, layout.to_string()).unwrap();
    let (ok, out, err) = eventscope(&["events", &db.target, "door-1", "--layout", file.to_str().unwrap()]);
    assert!(ok, "{backend:?}: {err}");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out[1]["event_type"], json!("Closed"));
    assert_eq!(out[1]["payload"]["by"], json!("bob"));
    cli_works(&db, "door-1", Some(file.to_str().unwrap()));
}

crate::on_each_backend!(
    python_eventsourcing,
    cqrs_es,
    emmett,
    rails_event_store,
    a_layout_file_maps_tables_no_library_wrote
);
