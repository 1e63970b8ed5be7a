//! The workshop store: a deterministic e-commerce order domain in the article's `events` table.
//!
//! Sixty orders over four weeks, one stream per order (`aggregate_type = 'Order'`), holding the
//! outcomes of its commands: OrderPlaced / OrderRejected, PaymentConfirmed / PaymentDeclined,
//! RefundRequested / RefundDenied, and a retroactive OrderTaxRecalculated (5 %) for every order
//! placed before the tax date, caused by one TaxRateChanged event. Each customer has an account
//! stream; one busy reseller's account holds 2,400+ events. Every event's metadata carries
//! event_id, actor, command, correlation_id, causation_id and recorded_at. A `snapshots` table
//! keeps states for some streams — one of them deliberately stale, to show snapshot drift — and
//! an `orders_by_region` table holds the read model as an older definition deployed it.
//!
//! Order ids are readable inside the UUIDs: order ORD-1042 is stream `00001042-…`, so searching
//! the streams for `1042` finds it. Order ORD-1042 was refunded twice (a retried command).
//!
//! This is the only code in eventscope that writes to a database.

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::fold::MergeFold;
use crate::model::{Event, Payload, StreamId, format_time};

/// One event of the workshop store, before it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoEvent {
    pub position: i64,
    pub aggregate_id: String,
    pub aggregate_type: &'static str,
    pub version: i64,
    pub event_type: &'static str,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

/// A stored snapshot of the workshop store.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoSnapshot {
    pub aggregate_id: String,
    pub version: i64,
    pub state: Value,
    pub taken_at: DateTime<Utc>,
}

/// The whole workshop store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DemoStore {
    pub events: Vec<DemoEvent>,
    pub snapshots: Vec<DemoSnapshot>,
    /// The `orders_by_region` read model as an older definition deployed it (see
    /// [`deployed_orders_by_region`]).
    pub orders_by_region: Vec<(String, Value)>,
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoOptions {
    pub orders: usize,
    /// Extra events in the busy reseller's account stream.
    pub busy_account_events: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { orders: 60, busy_account_events: 2_400 }
    }
}

/// The first order's number; order `n` (0-based) is `ORD-{FIRST_ORDER + n}`.
pub const FIRST_ORDER: usize = 1001;
/// The order that was refunded twice.
pub const DOUBLE_REFUND_ORDER: usize = 1042;
/// The order whose stored snapshot is stale.
pub const STALE_SNAPSHOT_ORDER: usize = 1013;
/// The busy reseller.
pub const BUSY_CUSTOMER: &str = "C-107";
pub const TAX_RATE: f64 = 0.05;

/// The workshop's fixed calendar.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).single().unwrap_or_default()
}

/// Orders placed before this date get the retroactive tax.
pub fn tax_date() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 16, 0, 0, 0).single().unwrap_or_default()
}

/// When the tax job ran.
pub fn tax_job_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 2, 0, 0).single().unwrap_or_default()
}

/// The stream id of order number `n` (for example 1042).
pub fn order_stream(n: usize) -> String {
    format!("{n:08}-0000-4000-8000-{:012x}", n * 7919)
}

/// The account stream of a customer id `C-1xx`.
pub fn account_stream(customer: &str) -> String {
    let n: usize = customer.trim_start_matches("C-").parse().unwrap_or(0);
    format!("acc{n:05}-0000-4000-8000-{:012x}", n * 104_729)
}

pub fn tax_policy_stream() -> String {
    "fee00001-0000-4000-8000-000000000001".to_owned()
}

/// A small deterministic generator (SplitMix64), so the store is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

const REGIONS: [&str; 4] = ["eu-west", "eu-north", "us-east", "apac"];
const SKUS: [(&str, i64); 7] = [
    ("SKU-KB-01", 4990),
    ("SKU-MS-02", 2450),
    ("SKU-MN-27", 21900),
    ("SKU-HD-10", 8999),
    ("SKU-CB-USB", 999),
    ("SKU-LT-14", 129900),
    ("SKU-DK-05", 15900),
];
const STAFF: [&str; 2] = ["staff:grace", "staff:linus"];

fn customers() -> Vec<String> {
    (101..=112).map(|n| format!("C-{n}")).collect()
}

fn money(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

/// An event being built for one stream; versions are given when the stream is complete.
struct Draft {
    at: DateTime<Utc>,
    event_type: &'static str,
    payload: Value,
    event_id: String,
    actor: String,
    command: &'static str,
    correlation_id: String,
    causation_id: String,
}

struct Builder {
    rng: Rng,
    streams: Vec<(String, &'static str, Vec<Draft>)>,
}

impl Builder {
    fn stream(&mut self, id: &str, aggregate_type: &'static str) -> usize {
        match self.streams.iter().position(|(s, _, _)| s == id) {
            Some(i) => i,
            None => {
                self.streams.push((id.to_owned(), aggregate_type, Vec::new()));
                self.streams.len() - 1
            }
        }
    }

    /// Records an event and returns its id.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        stream: usize,
        at: DateTime<Utc>,
        event_type: &'static str,
        payload: Value,
        actor: &str,
        command: &'static str,
        correlation_id: &str,
        causation_id: &str,
    ) -> String {
        let event_id = self.rng.uuid();
        self.streams[stream].2.push(Draft {
            at,
            event_type,
            payload,
            event_id: event_id.clone(),
            actor: actor.to_owned(),
            command,
            correlation_id: correlation_id.to_owned(),
            causation_id: causation_id.to_owned(),
        });
        event_id
    }
}

/// Generates the workshop store (the same every time for the same options).
pub fn generate(options: DemoOptions) -> DemoStore {
    let mut b = Builder { rng: Rng(0x5EED_2026), streams: Vec::new() };
    let start = start_time();
    let span = Duration::days(28);
    let customers = customers();

    // Accounts are registered a week before the first order.
    for (i, customer) in customers.iter().enumerate() {
        let s = b.stream(&account_stream(customer), "CustomerAccount");
        let cmd = b.rng.uuid();
        let at = start - Duration::days(7) + Duration::minutes(37 * i as i64);
        b.push(
            s,
            at,
            "CustomerRegistered",
            json!({"customer_id": customer, "region_id": REGIONS[i % REGIONS.len()], "points_balance": 0, "credit_limit": 5000}),
            &format!("user:{customer}"),
            "RegisterCustomer",
            &cmd,
            &cmd,
        );
    }

    // The tax policy change that causes every retroactive recalculation.
    let tax_stream = b.stream(&tax_policy_stream(), "TaxPolicy");
    let tax_cmd = b.rng.uuid();
    let tax_event = b.push(
        tax_stream,
        tax_job_time() - Duration::minutes(5),
        "TaxRateChanged",
        json!({"rate": TAX_RATE, "effective_from": format_time(start - Duration::days(1)), "applies_to_orders_placed_before": format_time(tax_date())}),
        "staff:linus",
        "ChangeTaxRate",
        &tax_cmd,
        &tax_cmd,
    );

    let mut points: Vec<i64> = vec![0; customers.len()];
    for n in 0..options.orders {
        let number = FIRST_ORDER + n;
        let order_id = format!("ORD-{number}");
        let ci = b.rng.below(customers.len() as u64) as usize;
        let customer = customers[ci].clone();
        let region = REGIONS[ci % REGIONS.len()];
        let placed_at = start
            + Duration::seconds(span.num_seconds() * n as i64 / options.orders.max(1) as i64)
            + Duration::minutes(b.rng.below(360) as i64);
        let s = b.stream(&order_stream(number), "Order");
        let cmd = b.rng.uuid();
        let user = format!("user:{customer}");

        let line_count = 1 + b.rng.below(3) as usize;
        let mut lines = Vec::new();
        let mut amount = 0;
        for _ in 0..line_count {
            let (sku, price) = SKUS[b.rng.below(SKUS.len() as u64) as usize];
            let qty = 1 + b.rng.below(3) as i64;
            amount += qty * price;
            lines.push(json!({"sku": sku, "qty": qty, "unit_price": money(price)}));
        }

        if (b.rng.chance(6) || number == 1007) && number != DOUBLE_REFUND_ORDER && number != STALE_SNAPSHOT_ORDER {
            b.push(
                s,
                placed_at,
                "OrderRejected",
                json!({"order_id": order_id, "customer_id": customer, "status": "rejected",
                       "reason": if amount > 500_000 { "credit limit exceeded" } else { "address could not be verified" }}),
                &user,
                "PlaceOrder",
                &cmd,
                &cmd,
            );
            continue;
        }
        let placed = b.push(
            s,
            placed_at,
            "OrderPlaced",
            json!({"order_id": order_id, "customer_id": customer, "region_id": region, "lines": lines,
                   "amount": money(amount), "currency": "EUR", "at": format_time(placed_at), "status": "placed"}),
            &user,
            "PlaceOrder",
            &cmd,
            &cmd,
        );
        let account = b.stream(&account_stream(&customer), "CustomerAccount");
        b.push(
            account,
            placed_at + Duration::seconds(2),
            "OrderLinked",
            json!({"last_order_id": order_id, "last_order_at": format_time(placed_at)}),
            "system:accounts",
            "LinkOrder",
            &cmd,
            &placed,
        );

        // Payment: sometimes declined first, sometimes never attempted.
        let mut paid_at = None;
        let mut cause = placed.clone();
        let mut at = placed_at + Duration::minutes(3 + b.rng.below(20) as i64);
        if b.rng.chance(5) && number != DOUBLE_REFUND_ORDER {
            // Left unpaid.
        } else {
            if b.rng.chance(15) {
                cause = b.push(
                    s,
                    at,
                    "PaymentDeclined",
                    json!({"status": "payment_declined", "decline_reason": "card expired"}),
                    "system:payments",
                    "ConfirmPayment",
                    &cmd,
                    &cause,
                );
                at += Duration::hours(2 + b.rng.below(20) as i64);
            }
            let payment_id = format!("PAY-{}", 70_000 + n * 13);
            let method = if b.rng.chance(70) { "card" } else { "invoice" };
            let paid = b.push(
                s,
                at,
                "PaymentConfirmed",
                json!({"status": "paid", "payment_id": payment_id, "amount_paid": money(amount), "method": method, "paid_at": format_time(at)}),
                "system:payments",
                "ConfirmPayment",
                &cmd,
                &cause,
            );
            paid_at = Some(at);
            points[ci] += amount / 1000;
            b.push(
                account,
                at + Duration::seconds(1),
                "LoyaltyPointsEarned",
                json!({"points_balance": points[ci], "last_points_earned": amount / 1000}),
                "system:accounts",
                "AwardPoints",
                &cmd,
                &paid,
            );
        }

        // Retroactive tax for orders placed before the tax date.
        if placed_at < tax_date() {
            let tax = (amount as f64 * TAX_RATE).round() as i64;
            b.push(
                s,
                tax_job_time() + Duration::seconds(n as i64),
                "OrderTaxRecalculated",
                json!({"tax_rate": TAX_RATE, "tax": money(tax), "amount_with_tax": money(amount + tax),
                       "reason": "retroactive VAT change"}),
                "system:tax-job",
                "RecalculateTax",
                &tax_cmd,
                &tax_event,
            );
        }

        // Refund requests on some paid orders; late ones are denied.
        if let Some(paid_at) = paid_at {
            let wants_refund = number == DOUBLE_REFUND_ORDER || b.rng.chance(22);
            if wants_refund {
                let late = b.rng.chance(30) && number != DOUBLE_REFUND_ORDER;
                let requested_at =
                    paid_at + Duration::days(if late { 16 } else { 2 }) + Duration::minutes(b.rng.below(600) as i64);
                let refund_cmd = b.rng.uuid();
                let refund = json!({"amount": money(amount), "reason": "item damaged on arrival", "requested_at": format_time(requested_at)});
                if late {
                    b.push(
                        s,
                        requested_at,
                        "RefundDenied",
                        json!({"status": "paid", "customer_id": customer, "refund_denied_reason": "outside the 14-day refund window", "refund": refund}),
                        STAFF[n % 2],
                        "RequestRefund",
                        &refund_cmd,
                        &refund_cmd,
                    );
                } else {
                    let first = b.push(
                        s,
                        requested_at,
                        "RefundRequested",
                        json!({"status": "refund_requested", "customer_id": customer, "refund": refund}),
                        &user,
                        "RequestRefund",
                        &refund_cmd,
                        &refund_cmd,
                    );
                    if number == DOUBLE_REFUND_ORDER {
                        // The support tool retried the command after a time-out: a second refund.
                        let again = requested_at + Duration::minutes(4);
                        b.push(
                            s,
                            again,
                            "RefundRequested",
                            json!({"status": "refund_requested", "customer_id": customer, "refund": {"amount": money(amount), "reason": "item damaged on arrival", "requested_at": format_time(again)}}),
                            "staff:grace",
                            "RequestRefund",
                            &refund_cmd,
                            &first,
                        );
                    }
                }
            }
        }
    }

    // The busy reseller's account activity.
    let busy_index = customers.iter().position(|c| c == BUSY_CUSTOMER).unwrap_or(0);
    let busy = b.stream(&account_stream(BUSY_CUSTOMER), "CustomerAccount");
    let mut balance = points[busy_index] + 500;
    let mut credit_limit = 5000;
    for i in 0..options.busy_account_events {
        let at =
            start + Duration::seconds((span.num_seconds() * i as i64) / options.busy_account_events.max(1) as i64 + 17);
        let cmd = b.rng.uuid();
        let (event_type, payload, command) = match b.rng.below(20) {
            0 => {
                credit_limit += 500;
                ("CreditLimitChanged", json!({"credit_limit": credit_limit}), "ChangeCreditLimit")
            }
            1 => (
                "AddressChanged",
                {
                    let city = ["Rotterdam", "Hamburg", "Gdansk"][b.rng.below(3) as usize];
                    json!({"address": {"street": format!("{} Harbour Road", 1 + b.rng.below(200)), "city": city, "country": "EU"}})
                },
                "ChangeAddress",
            ),
            2..=5 => {
                let used = (b.rng.below(40) as i64).min(balance);
                balance -= used;
                (
                    "LoyaltyPointsRedeemed",
                    json!({"points_balance": balance, "last_points_redeemed": used}),
                    "RedeemPoints",
                )
            }
            _ => {
                let earned = 1 + b.rng.below(25) as i64;
                balance += earned;
                ("LoyaltyPointsEarned", json!({"points_balance": balance, "last_points_earned": earned}), "AwardPoints")
            }
        };
        let actor =
            if command == "ChangeCreditLimit" { STAFF[i % 2].to_owned() } else { format!("user:{BUSY_CUSTOMER}") };
        b.push(busy, at, event_type, payload, &actor, command, &cmd, &cmd);
    }

    finish(b)
}

/// Gives versions in time order within each stream, positions in time order across the store,
/// and takes the snapshots.
fn finish(mut b: Builder) -> DemoStore {
    let mut events = Vec::new();
    for (stream, aggregate_type, drafts) in &mut b.streams {
        drafts.sort_by_key(|d| d.at);
        for (i, d) in drafts.iter().enumerate() {
            events.push(DemoEvent {
                position: 0,
                aggregate_id: stream.clone(),
                aggregate_type,
                version: i as i64 + 1,
                event_type: d.event_type,
                payload: d.payload.clone(),
                metadata: json!({
                    "event_id": d.event_id,
                    "actor": d.actor,
                    "command": d.command,
                    "correlation_id": d.correlation_id,
                    "causation_id": d.causation_id,
                    "recorded_at": format_time(d.at),
                }),
                recorded_at: d.at,
            });
        }
    }
    events
        .sort_by(|a, b| (a.recorded_at, &a.aggregate_id, a.version).cmp(&(b.recorded_at, &b.aggregate_id, b.version)));
    for (i, e) in events.iter_mut().enumerate() {
        e.position = i as i64 + 1;
    }
    let snapshots = take_snapshots(&events);
    let orders_by_region = deployed_orders_by_region(&events);
    DemoStore { events, snapshots, orders_by_region }
}

/// When the older `orders_by_region` was last refreshed.
pub fn read_model_refreshed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).single().unwrap_or_default()
}

/// The read model an older definition deployed, materialized as a table: the two European
/// regions still merged into `eu`, no `placed_at`, and refreshed on 2026-03-20 — so comparing
/// the article's definition with it shows rows added, removed and changed.
pub fn deployed_orders_by_region(events: &[DemoEvent]) -> Vec<(String, Value)> {
    let mut regions: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for e in events.iter().filter(|e| e.event_type == "OrderPlaced" && e.recorded_at < read_model_refreshed_at()) {
        let region = e.payload["region_id"].as_str().unwrap_or_default();
        let old_region = if region.starts_with("eu-") { "eu" } else { region };
        regions
            .entry(old_region.to_owned())
            .or_default()
            .push(json!({"order_id": e.payload["order_id"], "total": e.payload["amount"]}));
    }
    regions.into_iter().map(|(region, orders)| (region, Value::Array(orders))).collect()
}

fn take_snapshots(events: &[DemoEvent]) -> Vec<DemoSnapshot> {
    let mut by_stream: std::collections::BTreeMap<&str, Vec<&DemoEvent>> = Default::default();
    for e in events {
        by_stream.entry(e.aggregate_id.as_str()).or_default().push(e);
    }
    let mut snapshots = Vec::new();
    for (stream, mut stream_events) in by_stream {
        stream_events.sort_by_key(|e| e.version);
        let every = if stream_events.len() > 100 { 500 } else { 3 };
        let mut state = json!({});
        for e in &stream_events {
            MergeFold::step(&mut state, &e.to_event());
            if (e.version as usize).is_multiple_of(every) {
                let mut snapshot = state.clone();
                if stream == order_stream(STALE_SNAPSHOT_ORDER) {
                    // A snapshot written by an older version of the service, which forgot payments.
                    snapshot["status"] = json!("placed");
                    if let Some(map) = snapshot.as_object_mut() {
                        map.remove("payment_id");
                        map.remove("amount_paid");
                    }
                }
                snapshots.push(DemoSnapshot {
                    aggregate_id: stream.to_owned(),
                    version: e.version,
                    state: snapshot,
                    taken_at: e.recorded_at + Duration::seconds(1),
                });
            }
        }
    }
    snapshots
}

impl DemoEvent {
    /// The event as eventscope reads it back.
    pub fn to_event(&self) -> Event {
        Event {
            stream: StreamId(self.aggregate_id.clone()),
            version: self.version,
            position: Some(self.position),
            event_type: self.event_type.to_owned(),
            payload: Payload::Json(self.payload.clone()).into(),
            metadata: Some(Payload::Json(self.metadata.clone()).into()),
            recorded_at: Some(self.recorded_at),
            aggregate_type: Some(self.aggregate_type.to_owned()),
            archived: false,
            anomalies: Vec::new(),
        }
    }
}

/// Why the workshop store could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0} already exists: pass --force to replace it")]
    Exists(String),
    #[error("cannot write the workshop store: {0}")]
    Write(String),
}

fn write_error(e: impl std::fmt::Display) -> DemoError {
    DemoError::Write(e.to_string())
}

const SQLITE_SCHEMA: &str = "
CREATE TABLE events (
    position INTEGER NOT NULL UNIQUE,
    aggregate_id TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, version)
);
CREATE INDEX events_recorded_at ON events (recorded_at);
CREATE TABLE snapshots (
    aggregate_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, version)
);
CREATE TABLE orders_by_region (region_id TEXT PRIMARY KEY, orders TEXT NOT NULL);";

const POSTGRES_SCHEMA: &str = "
CREATE TABLE events (
    position BIGINT NOT NULL UNIQUE,
    aggregate_id UUID NOT NULL,
    aggregate_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    payload JSONB NOT NULL,
    metadata JSONB NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (aggregate_id, version)
);
CREATE INDEX events_recorded_at ON events (recorded_at);
CREATE TABLE snapshots (
    aggregate_id UUID NOT NULL,
    version INTEGER NOT NULL,
    state JSONB NOT NULL,
    taken_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (aggregate_id, version)
);
CREATE TABLE orders_by_region (region_id TEXT PRIMARY KEY, orders JSONB NOT NULL);";

/// Writes the store to a new SQLite file (replacing an existing one only with `force`).
pub async fn write_sqlite(path: &Path, store: &DemoStore, force: bool) -> Result<(), DemoError> {
    if path.exists() {
        if !force {
            return Err(DemoError::Exists(path.display().to_string()));
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.map_err(write_error)?;
    sqlx::raw_sql(SQLITE_SCHEMA).execute(&mut conn).await.map_err(write_error)?;
    let mut tx = conn.begin().await.map_err(write_error)?;
    for e in &store.events {
        sqlx::query(
            "INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(e.position)
        .bind(&e.aggregate_id)
        .bind(e.aggregate_type)
        .bind(e.version)
        .bind(e.event_type)
        .bind(e.payload.to_string())
        .bind(e.metadata.to_string())
        .bind(format_time(e.recorded_at))
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
    }
    for s in &store.snapshots {
        sqlx::query("INSERT INTO snapshots (aggregate_id, version, state, taken_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(&s.aggregate_id)
            .bind(s.version)
            .bind(s.state.to_string())
            .bind(format_time(s.taken_at))
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
    }
    for (region, orders) in &store.orders_by_region {
        sqlx::query("INSERT INTO orders_by_region (region_id, orders) VALUES (?1, ?2)")
            .bind(region)
            .bind(orders.to_string())
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
    }
    tx.commit().await.map_err(write_error)?;
    conn.close().await.map_err(write_error)?;
    Ok(())
}

/// Writes the store into a PostgreSQL database (replacing the workshop tables only with `force`).
pub async fn write_postgres(url: &str, store: &DemoStore, force: bool) -> Result<(), DemoError> {
    // A server that accepts the connection and then never answers must not hang the command.
    let no_answer = |what: &str, limit: std::time::Duration| {
        DemoError::Write(format!(
            "the PostgreSQL server at {} did not answer within {} s {what}: check that it is running and reachable",
            crate::store::mask_url(url),
            limit.as_secs()
        ))
    };
    let connect_limit = crate::store::postgres::CONNECT_TIMEOUT;
    let conn = tokio::time::timeout(connect_limit, sqlx::PgConnection::connect(url))
        .await
        .map_err(|_| no_answer("to the connection", connect_limit))?
        .map_err(|e| {
            DemoError::Write(crate::store::clean_message(&crate::store::postgres::scrub(&e.to_string(), url)))
        })?;
    let write_limit = std::time::Duration::from_secs(300);
    tokio::time::timeout(write_limit, write_postgres_on(conn, url, store, force))
        .await
        .map_err(|_| no_answer("while the store was written (nothing was committed)", write_limit))?
}

async fn write_postgres_on(
    mut conn: sqlx::PgConnection,
    url: &str,
    store: &DemoStore,
    force: bool,
) -> Result<(), DemoError> {
    let shown = crate::store::mask_url(url);
    let scrub = |e: sqlx::Error| {
        DemoError::Write(crate::store::clean_message(&crate::store::postgres::scrub(&e.to_string(), url)))
    };
    // The first answer is awaited no longer than connecting is (a server that logs in and then
    // goes silent); the writing itself has the caller's longer limit.
    let first_limit = crate::store::postgres::CONNECT_TIMEOUT;
    let existing: i64 = tokio::time::timeout(first_limit, async {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() \
         AND table_name IN ('events', 'snapshots', 'orders_by_region')",
        )
        .fetch_one(&mut conn)
        .await
    })
    .await
    .map_err(|_| {
        DemoError::Write(format!(
            "the PostgreSQL server at {shown} did not answer within {} s after logging in: check that it is \
             running and not overloaded",
            first_limit.as_secs()
        ))
    })?
    .map_err(scrub)?;
    if existing > 0 && !force {
        return Err(DemoError::Exists(format!("an events, snapshots or orders_by_region table in {shown}")));
    }
    let mut tx = conn.begin().await.map_err(scrub)?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS snapshots; DROP TABLE IF EXISTS orders_by_region;",
    )
    .execute(&mut *tx)
    .await
    .map_err(scrub)?;
    sqlx::raw_sql(POSTGRES_SCHEMA).execute(&mut *tx).await.map_err(scrub)?;
    for chunk in store.events.chunks(500) {
        let mut builder = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, recorded_at) ",
        );
        builder.push_values(chunk, |mut row, e| {
            row.push_bind(e.position)
                .push_bind(e.aggregate_id.clone())
                .push_unseparated("::uuid")
                .push_bind(e.aggregate_type)
                .push_bind(e.version as i32)
                .push_bind(e.event_type)
                .push_bind(e.payload.to_string())
                .push_unseparated("::jsonb")
                .push_bind(e.metadata.to_string())
                .push_unseparated("::jsonb")
                .push_bind(e.recorded_at);
        });
        builder.build().execute(&mut *tx).await.map_err(scrub)?;
    }
    for chunk in store.snapshots.chunks(500) {
        let mut builder = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO snapshots (aggregate_id, version, state, taken_at) ",
        );
        builder.push_values(chunk, |mut row, s| {
            row.push_bind(s.aggregate_id.clone())
                .push_unseparated("::uuid")
                .push_bind(s.version as i32)
                .push_bind(s.state.to_string())
                .push_unseparated("::jsonb")
                .push_bind(s.taken_at);
        });
        builder.build().execute(&mut *tx).await.map_err(scrub)?;
    }
    for (region, orders) in &store.orders_by_region {
        sqlx::query("INSERT INTO orders_by_region (region_id, orders) VALUES ($1, $2::jsonb)")
            .bind(region)
            .bind(orders.to_string())
            .execute(&mut *tx)
            .await
            .map_err(scrub)?;
    }
    tx.commit().await.map_err(scrub)?;
    let _ = conn.close().await;
    Ok(())
}

/// Where the workshop store lives: the user's data directory (`$XDG_DATA_HOME/eventscope`).
pub fn workshop_store_path() -> std::path::PathBuf {
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("eventscope").join("workshop.sqlite")
}

/// The workshop store's path, creating the store the first time. It is written beside its
/// final name and renamed into place, so an interrupted first run leaves no half store.
pub async fn ensure_workshop_store() -> Result<std::path::PathBuf, DemoError> {
    let path = workshop_store_path();
    if !path.exists() {
        let partial = path.with_extension("sqlite.partial");
        write_sqlite(&partial, &generate(DemoOptions::default()), true).await?;
        std::fs::rename(&partial, &path).map_err(write_error)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_deterministic_and_shaped_as_promised() {
        let store = generate(DemoOptions::default());
        assert_eq!(store, generate(DemoOptions::default()));
        let orders: std::collections::BTreeSet<_> =
            store.events.iter().filter(|e| e.aggregate_type == "Order").map(|e| &e.aggregate_id).collect();
        assert_eq!(orders.len(), 60);
        let busy = store.events.iter().filter(|e| e.aggregate_id == account_stream(BUSY_CUSTOMER)).count();
        assert!(busy >= 2_400, "{busy}");
        for event_type in [
            "OrderPlaced",
            "OrderRejected",
            "PaymentConfirmed",
            "PaymentDeclined",
            "RefundRequested",
            "RefundDenied",
            "OrderTaxRecalculated",
        ] {
            assert!(store.events.iter().any(|e| e.event_type == event_type), "no {event_type}");
        }
        let double = order_stream(DOUBLE_REFUND_ORDER);
        let refunds =
            store.events.iter().filter(|e| e.aggregate_id == double && e.event_type == "RefundRequested").count();
        assert_eq!(refunds, 2);
        // Positions follow time; versions are 1..=n within each stream.
        assert!(
            store.events.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at && w[0].position + 1 == w[1].position)
        );
        for e in &store.events {
            for key in ["actor", "correlation_id", "causation_id", "recorded_at", "event_id"] {
                assert!(e.metadata.get(key).is_some(), "{key} missing");
            }
        }
        assert!(!store.snapshots.is_empty());
        assert!(store.snapshots.iter().any(|s| s.aggregate_id == order_stream(STALE_SNAPSHOT_ORDER)));
    }

    #[test]
    fn order_ids_are_readable_in_stream_ids() {
        assert!(order_stream(1042).starts_with("00001042-"));
        assert_eq!(order_stream(1042).len(), 36);
        assert_eq!(account_stream("C-107").len(), 36);
    }
}
