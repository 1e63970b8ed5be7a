//! SQLite stores written by other programs: WAL-mode files with `-wal`/`-shm` beside them open,
//! show every committed event (including the ones still in the WAL), and every file stays
//! byte-for-byte unchanged.

use crate::common;

use std::path::Path;

use common::{block_on, fingerprints};
use eventscope::store::{Store, Target};
use sqlx::{ConnectOptions, Connection, Executor};

/// A writing connection to a WAL-mode SQLite file, as the application that owns the store has.
async fn wal_writer(path: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .pragma("wal_autocheckpoint", "0")
        .connect()
        .await
        .unwrap()
}

/// Builds `dir/store.sqlite` in WAL mode with `rows` events, copying the files while the writer
/// still holds them open (so the WAL is not checkpointed into the main file), then removes the
/// files named in `drop_files` from the copy.
fn wal_store(dir: &Path, rows: i64, drop_files: &[&str]) {
    let source = tempfile::tempdir().unwrap();
    let db = source.path().join("store.sqlite");
    block_on(async {
        let mut conn = wal_writer(&db).await;
        conn.execute("CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload TEXT, PRIMARY KEY (aggregate_id, version))")
            .await
            .unwrap();
        for v in 1..=rows {
            sqlx::query("INSERT INTO events VALUES ('s-1', ?1, 'Counted', json_object('n', ?1))")
                .bind(v)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        for name in ["store.sqlite", "store.sqlite-wal", "store.sqlite-shm"] {
            let from = source.path().join(name);
            if from.exists() {
                std::fs::copy(&from, dir.join(name)).unwrap();
            }
        }
        conn.close().await.unwrap();
    });
    for name in drop_files {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
}

fn read_all_and_check_unchanged(dir: &Path, rows: i64, expected_mode: &str) {
    let before = fingerprints(dir);
    let store = block_on(Store::open(Target::Sqlite(dir.join("store.sqlite")), None)).expect("open");
    assert!(store.describe().contains(expected_mode), "{}", store.describe());
    let counts = block_on(store.counts()).unwrap();
    assert_eq!(counts.events, rows, "events still in the WAL must be visible");
    let page = block_on(store.read_stream("s-1", eventscope::store::EventCursor::from_version(rows), 10)).unwrap();
    assert_eq!(page.events.len(), 1);
    assert!(matches!(
        block_on(store.run_read_only("DELETE FROM events")),
        Err(eventscope::store::StoreError::ReadOnly(_))
    ));
    block_on(store.close());
    assert_eq!(fingerprints(dir), before, "the store's files changed");
}

#[test]
fn a_wal_store_with_its_shm_opens_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    wal_store(dir.path(), 500, &[]);
    let files: Vec<String> = fingerprints(dir.path()).into_iter().map(|f| f.0).collect();
    assert_eq!(files, ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"]);
    read_all_and_check_unchanged(dir.path(), 500, "WAL read with a private index");
}

#[test]
fn a_wal_store_whose_shm_is_gone_opens_through_a_private_copy() {
    let dir = tempfile::tempdir().unwrap();
    wal_store(dir.path(), 300, &["store.sqlite-shm"]);
    read_all_and_check_unchanged(dir.path(), 300, "private copy");
}

#[test]
fn a_cleanly_closed_wal_store_opens_without_creating_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    block_on(async {
        let mut conn = wal_writer(&db).await;
        conn.execute("CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload TEXT); INSERT INTO events VALUES ('s-1', 1, 'A', '{}')")
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    assert_eq!(fingerprints(dir.path()).len(), 1, "a clean close leaves only the main file");
    read_all_and_check_unchanged(dir.path(), 1, "immutable");
}

#[test]
fn a_store_a_writer_has_open_shows_the_writers_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    block_on(async {
        let mut writer = wal_writer(&db).await;
        writer
            .execute("CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload TEXT); INSERT INTO events VALUES ('s-1', 1, 'A', '{}'); PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("store.sqlite-wal")).unwrap().len(), 0, "the WAL is empty");
        let store = Store::open(Target::Sqlite(db.clone()), None).await.expect("open");
        assert!(store.describe().contains("WAL read"), "{}", store.describe());
        assert_eq!(store.counts().await.unwrap().events, 1);
        writer.execute("INSERT INTO events VALUES ('s-1', 2, 'B', '{}')").await.unwrap();
        assert_eq!(store.counts().await.unwrap().events, 2, "the writer's new event is seen");
        store.close().await;
        writer.close().await.unwrap();
    });
}

#[test]
fn the_workshop_store_file_is_unchanged_by_reading_it() {
    let db = common::TestDb::new(common::Backend::Sqlite, "workshop");
    db.write_workshop();
    let dir = db.path().parent().unwrap().to_owned();
    let before = fingerprints(&dir);
    for args in [
        vec!["streams", &db.target],
        vec!["events", &db.target, "00001042-0000-4000-8000-0000007de8ce"],
        vec!["state", &db.target, "00001042-0000-4000-8000-0000007de8ce"],
    ] {
        let (ok, _, err) = common::eventscope(&args);
        assert!(ok, "{err}");
    }
    assert_eq!(fingerprints(&dir), before);
}

/// A symbolic link to a WAL store: its `-wal` and `-shm` are found next to the real file, so
/// the events still in the WAL are shown; nothing changes.
#[test]
fn a_link_to_a_wal_store_reads_the_real_files() {
    let dir = tempfile::tempdir().unwrap();
    wal_store(dir.path(), 300, &[]);
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("link.sqlite");
    std::os::unix::fs::symlink(dir.path().join("store.sqlite"), &link).unwrap();
    let before = fingerprints(dir.path());
    let store = block_on(Store::open(Target::Sqlite(link), None)).expect("open through the link");
    assert_eq!(block_on(store.counts()).unwrap().events, 300, "events in the WAL are missing");
    block_on(store.close());
    assert_eq!(fingerprints(dir.path()), before);
    assert_eq!(std::fs::read_dir(links.path()).unwrap().count(), 1, "nothing created beside the link");
}

/// A rollback-journal store whose writer stopped mid-transaction (a hot journal): it is read
/// as of its last commit, through a private copy rolled back there; its files stay as they are.
#[test]
fn a_store_with_a_hot_journal_is_read_as_of_its_last_commit() {
    let source = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let db = source.path().join("store.sqlite");
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete)
            .connect()
            .await
            .unwrap();
        conn.execute("CREATE TABLE events (aggregate_id TEXT, version INTEGER, event_type TEXT, payload TEXT)")
            .await
            .unwrap();
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
             INSERT INTO events SELECT 's-1', i, 'Counted', json_object('n', i, 'pad', printf('%.200c', 'x')) FROM n",
        )
        .await
        .unwrap();
        // A transaction that spills its changes into the file, copied before it ends: the copy
        // is what a crashed writer leaves.
        conn.execute("PRAGMA cache_size = 2").await.unwrap();
        conn.execute("BEGIN").await.unwrap();
        conn.execute("UPDATE events SET payload = '{\"n\": -1}'").await.unwrap();
        for name in ["store.sqlite", "store.sqlite-journal"] {
            std::fs::copy(source.path().join(name), dir.path().join(name)).unwrap();
        }
        conn.execute("ROLLBACK").await.unwrap();
        conn.close().await.unwrap();
    });
    assert!(std::fs::metadata(dir.path().join("store.sqlite-journal")).unwrap().len() > 0);
    let before = fingerprints(dir.path());
    let store = block_on(Store::open(Target::Sqlite(dir.path().join("store.sqlite")), None)).expect("open");
    assert!(store.describe().contains("hot journal"), "{}", store.describe());
    let page = block_on(store.read_stream("s-1", eventscope::store::EventCursor::from_version(1), 5)).unwrap();
    assert_eq!(page.events[0].payload.as_json().unwrap()["n"], 1, "the half-done update is not shown");
    block_on(store.close());
    assert_eq!(fingerprints(dir.path()), before);
}
