//! JavaScript folds and projections on the workshop store, on both backends, through the command
//! line: the Order fold and the two example projections give the states worked out here from the
//! generator's own data; an endless loop, a throw, a syntax error and a handler returning
//! `undefined` each stop with one clear line naming the event.

use crate::common;

use std::collections::BTreeMap;

use common::{Backend, TestDb, eventscope};
use eventscope::demo::{DOUBLE_REFUND_ORDER, DemoEvent, FIRST_ORDER, order_stream};
use serde_json::{Value, json};

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64
}

fn run_json(args: &[&str]) -> Value {
    let (ok, out, err) = eventscope(args);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// What the Order fold must say about one order, worked out from the generated events.
struct ExpectedOrder {
    status: &'static str,
    subtotal: i64,
    tax: i64,
    paid: i64,
    refunded: i64,
    refunds: usize,
}

fn expected_order(events: &[&DemoEvent]) -> ExpectedOrder {
    let mut e = ExpectedOrder { status: "new", subtotal: 0, tax: 0, paid: 0, refunded: 0, refunds: 0 };
    for event in events {
        let p = &event.payload;
        match event.event_type {
            "OrderPlaced" => {
                e.status = "placed";
                e.subtotal = p["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["qty"].as_i64().unwrap() * cents(&l["unit_price"]))
                    .sum();
            }
            "OrderRejected" => e.status = "rejected",
            "PaymentDeclined" => e.status = "payment_declined",
            "PaymentConfirmed" => {
                e.status = "paid";
                e.paid = cents(&p["amount_paid"]);
            }
            "OrderTaxRecalculated" => e.tax = cents(&p["tax"]),
            "RefundRequested" => {
                e.status = "refund_requested";
                e.refunded += cents(&p["refund"]["amount"]);
                e.refunds += 1;
            }
            _ => {}
        }
    }
    e
}

fn the_order_fold_gives_every_order_its_expected_state(backend: Backend) {
    let shared = common::workshop(backend);
    let (db, demo) = (&shared.db, &shared.demo);
    let fold = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/folds/order.js");
    for n in FIRST_ORDER..FIRST_ORDER + 60 {
        let stream = order_stream(n);
        let events: Vec<&DemoEvent> = demo.events.iter().filter(|e| e.aggregate_id == stream).collect();
        let expected = expected_order(&events);
        let out = run_json(&["state", &db.target, &stream, "--fold", fold]);
        let state = &out["state"];
        assert_eq!(out["fold"], json!("order.js"));
        assert_eq!(state["status"], json!(expected.status), "{backend:?} ORD-{n}");
        assert_eq!(cents(&state["subtotal"]), expected.subtotal, "ORD-{n}");
        assert_eq!(cents(&state["tax"]), expected.tax, "ORD-{n}");
        assert_eq!(cents(&state["total"]), expected.subtotal + expected.tax, "ORD-{n}");
        assert_eq!(cents(&state["paid"]), expected.paid, "ORD-{n}");
        assert_eq!(cents(&state["refunded"]), expected.refunded, "ORD-{n}");
        assert_eq!(cents(&state["balance"]), expected.paid - expected.refunded, "ORD-{n}");
        assert_eq!(state["refunds"].as_array().unwrap().len(), expected.refunds, "ORD-{n}");
        if n != DOUBLE_REFUND_ORDER {
            assert_eq!(state["warnings"], json!([]), "ORD-{n}");
        }
    }
    // Order 1042 was refunded twice: the fold says so.
    let out = run_json(&["state", &db.target, &order_stream(DOUBLE_REFUND_ORDER), "--fold", fold]);
    assert_eq!(out["state"]["refunds"][1]["by"], json!("staff:grace"));
    assert_eq!(out["state"]["warnings"], json!(["v4: refunds (3699) exceed the payment (1849.5)"]));
    // --at stops the fold at a version.
    let out = run_json(&["state", &db.target, &order_stream(DOUBLE_REFUND_ORDER), "--fold", fold, "--at", "2"]);
    assert_eq!(out["state"]["status"], json!("paid"));
    assert_eq!(out["state"]["refunds"], json!([]));
}

fn orders_by_region_matches_the_generated_orders(backend: Backend) {
    let shared = common::workshop(backend);
    let (db, demo) = (&shared.db, &shared.demo);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/projections/orders_by_region.js");
    let out = run_json(&["project", &db.target, "--js", script]);
    assert_eq!(out["source"], json!("category Order"));
    // The database hands over the Order streams' events only (the other categories are left out).
    let orders = demo.events.iter().filter(|e| e.aggregate_type == "Order").count();
    assert!(orders < demo.events.len());
    assert_eq!(out["events_read"], json!(orders));
    // region → (orders, placed, paid, refunded, tax), in cents.
    let mut expected: BTreeMap<String, (i64, i64, i64, i64, i64)> = BTreeMap::new();
    let mut region_of: BTreeMap<&str, String> = BTreeMap::new();
    for e in &demo.events {
        let p = &e.payload;
        match e.event_type {
            "OrderPlaced" => {
                let region = p["region_id"].as_str().unwrap().to_owned();
                let entry = expected.entry(region.clone()).or_default();
                entry.0 += 1;
                entry.1 += cents(&p["amount"]);
                region_of.insert(&e.aggregate_id, region);
            }
            "PaymentConfirmed" => {
                expected.get_mut(&region_of[e.aggregate_id.as_str()]).unwrap().2 += cents(&p["amount_paid"])
            }
            "RefundRequested" => {
                expected.get_mut(&region_of[e.aggregate_id.as_str()]).unwrap().3 += cents(&p["refund"]["amount"])
            }
            "OrderTaxRecalculated" => {
                expected.get_mut(&region_of[e.aggregate_id.as_str()]).unwrap().4 += cents(&p["tax"])
            }
            _ => {}
        }
    }
    let regions = out["state"]["regions"].as_object().unwrap();
    assert_eq!(regions.len(), expected.len(), "{backend:?}");
    for (region, (orders, placed, paid, refunded, tax)) in expected {
        let r = &regions[&region];
        assert_eq!(r["orders"], json!(orders), "{backend:?} {region}");
        assert_eq!(cents(&r["placed_amount"]), placed, "{region}");
        assert_eq!(cents(&r["paid"]), paid, "{region}");
        assert_eq!(cents(&r["refunded"]), refunded, "{region}");
        assert_eq!(cents(&r["revenue"]), paid - refunded, "{region}");
        assert_eq!(cents(&r["tax"]), tax, "{region}");
    }
    // --until stops at a global position: the Order events up to it are read, the last of them
    // is where the projection got to.
    let out = run_json(&["project", &db.target, "--js", script, "--until", "100"]);
    let read: Vec<i64> =
        demo.events.iter().filter(|e| e.aggregate_type == "Order" && e.position <= 100).map(|e| e.position).collect();
    assert_eq!(out["events_read"], json!(read.len()));
    assert_eq!(out["position"], json!(read.last()));
}

fn refunds_per_customer_partitions_and_would_emit(backend: Backend) {
    let shared = common::workshop(backend);
    let (db, demo) = (&shared.db, &shared.demo);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/projections/refunds_per_customer.js");
    let out = run_json(&["project", &db.target, "--js", script]);
    // customer → (requests, requested cents, denied)
    let mut expected: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for e in demo.events.iter().filter(|e| e.aggregate_type == "Order") {
        let Some(customer) = e.payload["customer_id"].as_str() else { continue };
        match e.event_type {
            "RefundRequested" => {
                let entry = expected.entry(customer.to_owned()).or_default();
                entry.0 += 1;
                entry.1 += cents(&e.payload["refund"]["amount"]);
            }
            "RefundDenied" => expected.entry(customer.to_owned()).or_default().2 += 1,
            _ => {}
        }
    }
    let partitions = out["partitions"].as_object().unwrap_or_else(|| panic!("{backend:?}: {out}"));
    assert_eq!(partitions.len(), expected.len(), "{backend:?}: one partition per customer with a refund");
    for (customer, (requests, amount, denied)) in &expected {
        let p = &partitions[customer];
        assert_eq!(p["requests"], json!(requests), "{customer}");
        assert_eq!(cents(&p["requested_amount"]), *amount, "{customer}");
        assert_eq!(p["denied"], json!(denied), "{customer}");
    }
    assert_eq!(partitions["C-112"]["orders_refunded_twice"], json!([order_stream(DOUBLE_REFUND_ORDER)]));
    let requests: i64 = expected.values().map(|v| v.0).sum();
    let emitted = out["would_emit"].as_array().unwrap();
    assert_eq!(emitted.len() as i64, requests);
    assert!(emitted.iter().all(|o| o["linkTo"]["stream"].as_str().unwrap().starts_with("refunds-C-")));
    // Nothing was written: the store still has exactly the generated events.
    let streams = run_json(&["streams", &db.target]);
    assert_eq!(streams.as_array().unwrap().len(), 73);
}

fn assert_one_line_error(args: &[&str], expected: &[&str]) {
    let (ok, out, err) = eventscope(args);
    assert!(!ok, "{args:?} should fail");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    for part in expected {
        assert!(err.contains(part), "expected `{part}` in: {err}");
    }
}

#[test]
fn broken_folds_stop_with_a_clear_error_naming_the_event() {
    let db = TestDb::new(common::Backend::Sqlite, "jsbroken");
    db.write_workshop();
    let dir = tempfile::tempdir().unwrap();
    let stream = order_stream(DOUBLE_REFUND_ORDER);
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "loop.js",
            "({\n  OrderPlaced: (s, e) => s,\n  PaymentConfirmed: (s, e) => { while (true) {} },\n})",
            &["the fold stopped at version 2 (PaymentConfirmed)", "took longer than 1000 ms"],
        ),
        (
            "throws.js",
            "({\n  PaymentConfirmed: (s, e) => {\n    throw new Error('no payments today');\n  },\n})",
            &["version 2 (PaymentConfirmed)", "throws.js:3:", "Error: no payments today"],
        ),
        ("syntax.js", "({\n  OrderPlaced: (s, e) => { return s +; },\n})", &["syntax.js:2:", "SyntaxError"]),
        (
            "undefined.js",
            "({ RefundRequested: (s, e) => { s.refunds = (s.refunds || 0) + 1; } })",
            &["version 3 (RefundRequested)", "returned undefined", "return s;"],
        ),
        (
            "clock.js",
            "({ OrderPlaced: (s, e) => { s.at = Date.now(); return s; } })",
            &["version 1", "Date.now() is not available"],
        ),
    ];
    for (name, source, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, source).unwrap();
        assert_one_line_error(&["state", &db.target, &stream, "--fold", path.to_str().unwrap()], expected);
    }
    let projection = dir.path().join("bad_projection.js");
    std::fs::write(&projection, "fromAll().when({ OrderPlaced: (s, e) => { s.n = 1; } })").unwrap();
    assert_one_line_error(
        &["project", &db.target, "--js", projection.to_str().unwrap()],
        &["the projection stopped", "the OrderPlaced handler (stream 0000", "returned undefined"],
    );
}

/// A stream whose event types are named like the members every JavaScript object inherits, with
/// (on SQLite, whose payload column is text) a payload nested 100,000 deep and a YAML alias bomb.
fn write_hostile_stream(db: &TestDb) -> String {
    let stream = match db.backend {
        common::Backend::Sqlite => "odd-1",
        common::Backend::Postgres => "00000000-0000-0000-0000-00000000abcd",
    };
    let mut payloads: Vec<(&str, String)> =
        ["__proto__", "toString", "constructor", "hasOwnProperty", "__proto__", "$init"]
            .iter()
            .map(|t| (*t, r#"{"n": 1}"#.to_owned()))
            .collect();
    if db.backend == common::Backend::Sqlite {
        payloads.push(("Deep", format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))));
        let mut bomb = String::from("---\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (name, previous) in
            ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{previous}"); 9].join(", ")));
        }
        payloads.push(("Bomb", bomb));
    }
    for (i, (event_type, payload)) in payloads.iter().enumerate() {
        db.exec(&format!(
            "INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, recorded_at) \
             VALUES ({}, '{stream}', 'Odd', {}, '{event_type}', '{}', '{{\"actor\": \"u\"}}', '2026-03-02T08:00:00Z')",
            1_000_000 + i,
            i + 1,
            payload.replace('\'', "''"),
        ));
    }
    stream.to_owned()
}

fn hostile_event_types_and_payloads_are_data(backend: Backend) {
    let db = TestDb::new(backend, "jshostile");
    db.write_workshop();
    let stream = write_hostile_stream(&db);
    let sqlite = backend == common::Backend::Sqlite;
    let events = run_json(&["events", &db.target, &stream]);
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), if sqlite { 8 } else { 6 }, "{backend:?}");
    assert_eq!(events[0]["event_type"], json!("__proto__"));
    assert_eq!(events[0]["payload"], json!({"n": 1}));
    if sqlite {
        let reason = events[6]["payload"]["undecodable"]["reason"].as_str().unwrap();
        assert!(reason.contains("nests deeper than 127 levels"), "{reason}");
        let reason = events[7]["payload"]["undecodable"]["reason"].as_str().unwrap();
        assert!(reason.contains("aliases copy more than"), "{reason}");
    }
    // The merge fold keeps what it cannot merge under the event type.
    let state = run_json(&["state", &db.target, &stream]);
    assert_eq!(state["state"]["n"], json!(1), "{backend:?}: {state}");
    // A JavaScript fold: its own handlers only, every other type to $any.
    let dir = tempfile::tempdir().unwrap();
    let fold = dir.path().join("odd.js");
    std::fs::write(
        &fold,
        "({ $init: () => ({ seen: [] }), toString: (s, e) => { s.seen.push('own toString'); return s; },\n\
           $any: (s, e) => { s.seen.push(e.type + (e.data.undecodable ? ' (undecodable)' : '')); return s; } })",
    )
    .unwrap();
    let state = run_json(&["state", &db.target, &stream, "--fold", fold.to_str().unwrap()]);
    let mut expected = vec!["__proto__", "own toString", "constructor", "hasOwnProperty", "__proto__", "$init"];
    if sqlite {
        expected.extend(["Deep (undecodable)", "Bomb (undecodable)"]);
    }
    assert_eq!(state["state"]["seen"], json!(expected), "{backend:?}");
    // A projection partitioned by event type.
    let projection = dir.path().join("by_type.js");
    std::fs::write(
        &projection,
        "fromCategory('Odd').partitionBy(e => e.type).when({ $init: () => ({ n: 0 }), $any: (s, e) => { s.n++; return s; } })",
    )
    .unwrap();
    let out = run_json(&["project", &db.target, "--js", projection.to_str().unwrap()]);
    let partitions = &out["partitions"];
    assert_eq!(partitions["__proto__"], json!({"n": 2}), "{backend:?}: {out}");
    for key in ["toString", "constructor", "hasOwnProperty", "$init"] {
        assert_eq!(partitions[key], json!({"n": 1}), "{backend:?} {key}");
    }
}

crate::on_each_backend!(
    the_order_fold_gives_every_order_its_expected_state,
    orders_by_region_matches_the_generated_orders,
    refunds_per_customer_partitions_and_would_emit,
    hostile_event_types_and_payloads_are_data
);
