//! The PostgreSQL preview guard: a preview's text is read by PostgreSQL's own parser
//! (libpg_query, through `pg_query`) and checked against the connected server's catalog before
//! anything of it runs.
//!
//! - [`analyse`] (pure): exactly one statement, a `SELECT` (or `WITH … SELECT`, `VALUES`,
//!   `TABLE`), with no data-modifying `WITH`, no `SELECT INTO` and no `FOR UPDATE/SHARE`; it
//!   collects every function called, every operator, every type cast to and every relation read.
//!   Names arrive decoded by the parser, so quoting, `U&""` escapes and comments no longer matter.
//! - [`check_catalog`] (on the preview's own connection): every candidate the server could pick
//!   for those names — each overload in the schemas searched, the function behind each operator,
//!   each cast and input function of each type cast to, and every function a view, a row-level
//!   policy or a virtual generated column of a relation read calls — must pass [`judge`]:
//!   built into PostgreSQL, immutable or stable, and not one that runs SQL given as text or
//!   assigns a transaction id; or one of a few harmless volatile built-ins (`random()`,
//!   `clock_timestamp()`, …); or allowed by name by the user.
//! - [`RolePrivileges`]: what the connected role may do, read on connecting; a privileged role
//!   (superuser, replication, server files or programs, signalling backends, bypassing row
//!   security) is named, with the statements that create a read-only role.
//!
//! The backend (`postgres.rs`) then runs the statement on a fresh read-only session, in a
//! transaction that is rolled back, with `statement_timeout`, a client-side deadline and a row
//! cap, and closes the session afterwards.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::Row as _;
use sqlx::postgres::PgConnection;

/// A name as the parser gives it: an optional schema and the object's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What a query uses, as the parser read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryFacts {
    pub functions: BTreeSet<QualifiedName>,
    /// Names after a dot (`alias.name`, `(expr).name`): PostgreSQL reads `x.f` as the call
    /// `f(x)` when `x` has no column `f`, so each may be a function.
    pub field_names: BTreeSet<String>,
    pub operators: BTreeSet<QualifiedName>,
    pub types: BTreeSet<QualifiedName>,
    pub relations: BTreeSet<QualifiedName>,
}

/// Why a text may not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Not one read-only query: what, in words.
    Refused(String),
    /// The parser could not read it (the server is asked where, without running anything).
    Syntax(String),
}

/// How deep a query may nest (parentheses, subqueries, operator chains) before it is refused:
/// far beyond real queries, well within the stack the analysis runs on.
const MAX_DEPTH: usize = 2_000;

/// The longest text previewed on PostgreSQL (its parse tree is read whole into memory), string
/// literals aside: a literal is one node of the tree, whatever its length.
pub const MAX_TEXT: usize = 64 * 1024;

/// The longest text previewed on PostgreSQL, string literals included (a what-if's appended
/// events are one literal).
pub const MAX_TEXT_WITH_LITERALS: usize = 16 * 1024 * 1024;

/// Operators PostgreSQL uses without their being written: `IN`, `NOT IN`, `CASE x WHEN`,
/// `BETWEEN`, `DISTINCT`, `GROUP BY`, `ORDER BY`, `UNION`, joins `USING`, `GREATEST` … Every
/// overload of these is checked whatever the text says.
const IMPLICIT_OPERATORS: &[&str] = &["=", "<>", "<", ">", "<=", ">="];

/// Functions that PostgreSQL versions before 18 call by name where the parser used here (the
/// version 18 grammar) reads SQL/JSON syntax: every one is checked when the text uses SQL/JSON.
const JSON_SYNTAX_FUNCTIONS: &[&str] = &[
    "json",
    "json_scalar",
    "json_serialize",
    "json_object",
    "json_array",
    "json_objectagg",
    "json_arrayagg",
    "json_value",
    "json_query",
    "json_exists",
    "json_table",
    "merge_action",
];

/// Reads `text` with PostgreSQL's parser and says what it uses, or why it may not run.
pub fn analyse(text: &str) -> Result<QueryFacts, Rejection> {
    let literals: usize = crate::projection::sql::tokens(text)
        .into_iter()
        .filter(|(kind, _)| *kind == crate::projection::sql::TokenKind::String)
        .map(|(_, range)| range.len())
        .sum();
    if text.len() - literals > MAX_TEXT || text.len() > MAX_TEXT_WITH_LITERALS {
        return Err(Rejection::Refused(format!(
            "the text is {} KB: previews take at most {} KB of SQL besides quoted values, {} MB in all",
            text.len() / 1024,
            MAX_TEXT / 1024,
            MAX_TEXT_WITH_LITERALS / (1024 * 1024)
        )));
    }
    if text.contains('\0') {
        return Err(Rejection::Refused("the text holds a NUL character".to_owned()));
    }
    let parsed = pg_query::parse(text, pg_query::ParserOptions::DEFAULT).map_err(|e| match e {
        // PostgreSQL read it, but the parse tree nests deeper than its decoder follows (about a
        // hundred levels): refused, in words that say what to change.
        pg_query::Error::Decode(_) => Rejection::Refused(
            "the query nests too deep for eventscope to check (about a hundred levels of expressions or \
             subqueries): split it, for example into WITH parts"
                .to_owned(),
        ),
        other => Rejection::Syntax(parse_message(other)),
    })?;
    let statements = &parsed.protobuf.stmts;
    let statement = match statements.as_slice() {
        [] => return Err(Rejection::Refused("the query is empty: write a SELECT".to_owned())),
        [one] => one,
        _ => {
            return Err(Rejection::Refused(format!(
                "the text holds {} statements: previews run exactly one",
                statements.len()
            )));
        }
    };
    let tree = serde_json::to_value(&statement.stmt)
        .map_err(|e| Rejection::Refused(format!("the parse tree could not be read: {e}")))?;
    let kind = tree.get("node").and_then(Value::as_object).and_then(|o| o.keys().next().cloned()).unwrap_or_default();
    if kind != "SelectStmt" {
        return Err(Rejection::Refused(format!("{} is not a query", statement_words(&kind))));
    }
    let mut facts = QueryFacts::default();
    for operator in IMPLICIT_OPERATORS {
        facts.operators.insert(QualifiedName { schema: None, name: (*operator).to_owned() });
    }
    // An explicit stack: the tree can be as deep as the query nests.
    let mut stack: Vec<(&Value, usize)> = vec![(&tree, 0)];
    while let Some((value, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Rejection::Refused(format!("the query nests deeper than {MAX_DEPTH} levels")));
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => {
                for (key, inner) in map {
                    visit(key, inner, &mut facts)?;
                    stack.push((inner, depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// The parser's message without its internal prefix.
fn parse_message(e: pg_query::Error) -> String {
    match e {
        pg_query::Error::Parse(message) => message,
        other => other.to_string(),
    }
}

/// A statement kind of the parse tree (`DeleteStmt`) in the words of SQL.
fn statement_words(kind: &str) -> String {
    let words = match kind {
        "InsertStmt" => "INSERT (it writes)",
        "UpdateStmt" => "UPDATE (it writes)",
        "DeleteStmt" => "DELETE (it writes)",
        "MergeStmt" => "MERGE (it writes)",
        "CopyStmt" => "COPY",
        "TransactionStmt" => "transaction control",
        "VariableSetStmt" => "SET",
        "ExplainStmt" => "EXPLAIN",
        "CallStmt" => "CALL",
        "DoStmt" => "DO",
        "VacuumStmt" => "VACUUM / ANALYZE",
        "LockStmt" => "LOCK",
        "NotifyStmt" => "NOTIFY",
        "ListenStmt" => "LISTEN",
        "LoadStmt" => "LOAD",
        "TruncateStmt" => "TRUNCATE (it writes)",
        "DropStmt" => "DROP",
        "PrepareStmt" | "ExecuteStmt" => "PREPARE / EXECUTE",
        "DeclareCursorStmt" | "FetchStmt" | "ClosePortalStmt" => "a cursor statement",
        "" => "this statement",
        other => {
            return format!(
                "{} (a statement that changes the database or the session)",
                other.trim_end_matches("Stmt")
            );
        }
    };
    words.to_owned()
}

/// Collects what one node of the tree uses; refuses what may not be inside a query.
fn visit(key: &str, node: &Value, facts: &mut QueryFacts) -> Result<(), Rejection> {
    match key {
        "SelectStmt" => {
            if node.get("into_clause").is_some_and(|v| !v.is_null()) {
                return Err(Rejection::Refused("SELECT INTO creates a table".to_owned()));
            }
            if node.get("locking_clause").and_then(Value::as_array).is_some_and(|l| !l.is_empty()) {
                return Err(Rejection::Refused("FOR UPDATE / FOR SHARE locks rows".to_owned()));
            }
        }
        // Names of functions and operators, each in its own field of its node.
        "FuncCall" | "RangeTableSample" | "AExpr" | "SubLink" | "SortBy" => {
            let (field, is_function) = match key {
                "FuncCall" => ("funcname", true),
                "RangeTableSample" => ("method", true),
                "AExpr" => ("name", false),
                "SubLink" => ("oper_name", false),
                _ => ("use_op", false),
            };
            if let Some(name) = qualified(node.get(field)) {
                if is_function {
                    facts.functions.insert(name);
                } else {
                    facts.operators.insert(name);
                }
            }
        }
        // A type cast to (`x::t`, `CAST(x AS t)`, a column of XMLTABLE / JSON_TABLE).
        "TypeName" | "type_name" => {
            if let Some(name) = qualified(node.get("names")) {
                facts.types.insert(name);
            }
        }
        // `alias.name`, `(expr).name`: each name after the first may be a function called on
        // what stands before it.
        "ColumnRef" | "AIndirection" => {
            let (field, skip) = if key == "ColumnRef" { ("fields", 1) } else { ("indirection", 0) };
            let names = node.get(field).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for name in names.iter().skip(skip) {
                if let Some(name) = name.get("node").and_then(|n| n.get("String")).and_then(|s| s.get("sval")) {
                    facts.field_names.extend(name.as_str().map(str::to_owned));
                }
            }
        }
        json if json.starts_with("Json") || json == "MergeSupportFunc" => {
            for name in JSON_SYNTAX_FUNCTIONS {
                facts.functions.insert(QualifiedName { schema: None, name: (*name).to_owned() });
            }
        }
        "RangeVar" => {
            let text = |field: &str| node.get(field).and_then(Value::as_str).filter(|s| !s.is_empty());
            if let Some(relation) = text("relname") {
                facts
                    .relations
                    .insert(QualifiedName { schema: text("schemaname").map(str::to_owned), name: relation.to_owned() });
            }
        }
        other if other.ends_with("Stmt") && other != "SelectStmt" => {
            return Err(Rejection::Refused(format!("{} inside the query", statement_words(other))));
        }
        _ => {}
    }
    Ok(())
}

/// A name list of the tree (`[{"node": {"String": {"sval": "pg_catalog"}}}, …]`) as a name:
/// the last part, and the one before it as the schema.
fn qualified(list: Option<&Value>) -> Option<QualifiedName> {
    let parts: Vec<&str> =
        list?.as_array()?.iter().filter_map(|n| n.get("node")?.get("String")?.get("sval")?.as_str()).collect();
    let (name, rest) = parts.split_last()?;
    Some(QualifiedName { schema: rest.last().map(|s| (*s).to_owned()), name: (*name).to_owned() })
}

/// Built-in functions that run SQL given to them as text (so what they run was never parsed
/// here) or read a relation by name (bypassing the check of what a view calls).
const RUNS_SQL_TEXT: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    "ts_rewrite",
];

/// Built-in functions marked stable that still act: they assign a transaction id.
const ASSIGNS_XID: &[&str] = &["txid_current", "pg_current_xact_id"];

/// Built-in volatile functions that only make values: no effect outside the query.
const HARMLESS_VOLATILE: &[&str] =
    &["random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7", "clock_timestamp", "timeofday"];

/// Extensions whose functions compute values only (types, operators, indexes support): their
/// functions written in C that are immutable or stable are treated like built-in ones. An
/// extension not named here (`dblink`, `postgres_fdw`, `tablefunc`'s `crosstab` runs SQL text
/// …) has its functions refused unless allowed by name.
const VALUE_EXTENSIONS: &[&str] = &[
    "citext",
    "hstore",
    "ltree",
    "cube",
    "earthdistance",
    "fuzzystrmatch",
    "pg_trgm",
    "intarray",
    "isn",
    "seg",
    "btree_gin",
    "btree_gist",
    "unaccent",
    "pgcrypto",
    "uuid-ossp",
    "postgis",
    "postgis_raster",
    "postgis_topology",
    "vector",
    "bloom",
    "lo",
];

/// PostgreSQL's first object id for objects made after `initdb` (`FirstNormalObjectId`).
const FIRST_NORMAL_OBJECT_ID: i64 = 16_384;

/// What the catalog says of one function the query may call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionFacts {
    pub schema: String,
    pub name: String,
    pub oid: i64,
    /// `i`mmutable, `s`table or `v`olatile.
    pub volatility: String,
    pub language: String,
    /// Its argument types, to name the overload.
    pub arguments: String,
    /// 1 when it can be called with one argument (what `x.name` passes), else 0.
    pub argument_count: i64,
    /// The extension that installed it, if one did.
    pub extension: Option<String>,
}

impl FunctionFacts {
    fn built_in(&self) -> bool {
        self.oid < FIRST_NORMAL_OBJECT_ID
    }
}

/// Why a function may not be called: what to tell the user, and the name that would allow it
/// (`None` when no allowing can make it safe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRefusal {
    pub message: String,
    pub allow_name: Option<String>,
}

/// Whether a preview may call this function. `allowed` holds the names the user allows
/// (`name` or `schema.name`).
pub fn judge(f: &FunctionFacts, allowed: &BTreeSet<String>) -> Result<(), FunctionRefusal> {
    let qualified = format!("{}.{}", f.schema, f.name);
    if allowed.contains(&f.name) || allowed.contains(&qualified) {
        return Ok(());
    }
    let shown = format!("{qualified}({})", f.arguments);
    if f.built_in() {
        if RUNS_SQL_TEXT.contains(&f.name.as_str()) {
            return Err(FunctionRefusal {
                message: format!("{shown} runs SQL given to it as text, which the preview cannot check"),
                allow_name: None,
            });
        }
        if ASSIGNS_XID.contains(&f.name.as_str()) {
            return Err(FunctionRefusal {
                message: format!("{shown} assigns a transaction id on the server"),
                allow_name: None,
            });
        }
        if matches!(f.volatility.as_str(), "i" | "s") || HARMLESS_VOLATILE.contains(&f.name.as_str()) {
            return Ok(());
        }
        return Err(FunctionRefusal {
            message: format!(
                "{shown} is volatile: it can act on the server or outside it (files, other sessions, locks, \
                 replication, settings), so previews do not call it"
            ),
            allow_name: None,
        });
    }
    let computes_values = matches!(f.volatility.as_str(), "i" | "s")
        && matches!(f.language.as_str(), "c" | "internal")
        && f.extension.as_deref().is_some_and(|x| VALUE_EXTENSIONS.contains(&x));
    if computes_values {
        return Ok(());
    }
    let volatility = match f.volatility.as_str() {
        "i" => "immutable",
        "s" => "stable",
        _ => "volatile: it may write through another connection or act on the server",
    };
    Err(FunctionRefusal {
        message: format!(
            "{shown} is not built into PostgreSQL ({volatility}, language {}): previews call it only if you \
             allow it by name (--allow-function {})",
            f.language, f.name
        ),
        allow_name: Some(f.name.clone()),
    })
}

/// Why the catalog check refused, or failed.
#[derive(Debug)]
pub enum CatalogRefusal {
    Function(FunctionRefusal),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for CatalogRefusal {
    fn from(e: sqlx::Error) -> Self {
        CatalogRefusal::Database(e)
    }
}

const FUNCTION_COLUMNS: &str = "n.nspname::text, p.proname::text, p.oid::int8, p.provolatile::text, \
     l.lanname::text, pg_catalog.pg_get_function_identity_arguments(p.oid), \
     (CASE WHEN p.pronargs - p.pronargdefaults <= 1 AND (p.pronargs >= 1 OR p.provariadic <> 0) THEN 1 ELSE 0 END)::int8, \
     (SELECT x.extname::text FROM pg_catalog.pg_depend xd JOIN pg_catalog.pg_extension x ON x.oid = xd.refobjid \
      WHERE xd.classid = 'pg_catalog.pg_proc'::regclass AND xd.objid = p.oid AND xd.deptype = 'e' LIMIT 1)";

const FUNCTION_JOINS: &str = "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     JOIN pg_catalog.pg_language l ON l.oid = p.prolang";

fn function_facts(row: &sqlx::postgres::PgRow) -> Result<FunctionFacts, sqlx::Error> {
    Ok(FunctionFacts {
        schema: row.try_get(0)?,
        name: row.try_get(1)?,
        oid: row.try_get(2)?,
        volatility: row.try_get(3)?,
        language: row.try_get(4)?,
        arguments: row.try_get::<Option<String>, _>(5)?.unwrap_or_default(),
        argument_count: row.try_get(6)?,
        extension: row.try_get(7)?,
    })
}

/// Whether a catalog object in `schema` is one the parser's `name` can mean: the schema
/// written, or one of the schemas searched.
fn reachable(name: &QualifiedName, schema: &str, searched: &[String]) -> bool {
    match &name.schema {
        Some(written) => written == schema,
        None => searched.iter().any(|s| s == schema),
    }
}

/// Checks every function the query can reach against the server's catalog (see the module
/// docs). Runs on the preview's own connection, inside its read-only transaction.
pub async fn check_catalog(
    conn: &mut PgConnection,
    facts: &QueryFacts,
    allowed: &BTreeSet<String>,
) -> Result<(), CatalogRefusal> {
    let searched: Vec<String> =
        sqlx::query_scalar("SELECT pg_catalog.current_schemas(true)::text[]").fetch_one(&mut *conn).await?;
    // Each function the query may reach, with how it is reached where that is not by its name.
    let mut candidates: Vec<(Option<String>, FunctionFacts)> = Vec::new();

    // Functions called by name (every overload the name can reach), and names after a dot
    // (every one-argument function of that name).
    let mut names: Vec<String> = facts.functions.iter().map(|n| n.name.clone()).collect();
    names.extend(facts.field_names.iter().cloned());
    if !names.is_empty() {
        let sql = format!(
            "SELECT {FUNCTION_COLUMNS} FROM pg_catalog.pg_proc p {FUNCTION_JOINS} WHERE p.proname = ANY($1::text[])"
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&names).fetch_all(&mut *conn).await? {
            let f = function_facts(&row)?;
            let called = facts.functions.iter().any(|n| n.name == f.name && reachable(n, &f.schema, &searched));
            let after_a_dot =
                f.argument_count == 1 && facts.field_names.contains(&f.name) && searched.contains(&f.schema);
            if called {
                candidates.push((None, f));
            } else if after_a_dot {
                let used = format!("`.{}` after a value calls {}()", f.name, f.name);
                candidates.push((Some(used), f));
            }
        }
    }

    // Operators: the function behind every operator of each name, and behind the negator and
    // commutator the planner may put in its place.
    let names: Vec<String> = facts.operators.iter().map(|n| n.name.clone()).collect();
    let sql = format!(
        "WITH named AS (SELECT o.oid, o.oprname::text AS name, opn.nspname::text AS schema \
             FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace \
             WHERE o.oprname = ANY($1::text[])), \
         related AS (SELECT named.name, named.schema, o.oprcode FROM named \
             JOIN pg_catalog.pg_operator base ON base.oid = named.oid \
             JOIN pg_catalog.pg_operator o ON o.oid IN (base.oid, base.oprnegate, base.oprcom)) \
         SELECT {FUNCTION_COLUMNS}, related.name, related.schema FROM related \
         JOIN pg_catalog.pg_proc p ON p.oid = related.oprcode {FUNCTION_JOINS}"
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&names).fetch_all(&mut *conn).await? {
        let f = function_facts(&row)?;
        let (operator, schema): (String, String) = (row.try_get(8)?, row.try_get(9)?);
        if facts.operators.iter().any(|n| n.name == operator && reachable(n, &schema, &searched)) {
            candidates.push((Some(format!("the operator {operator} may call {}()", f.name)), f));
        }
    }

    // The relations read, with the views and policies behind them.
    let relations: Vec<String> = facts.relations.iter().map(qualified_sql).collect();
    let foreign: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "{RELATIONS} SELECT c.oid::regclass::text FROM rels JOIN pg_catalog.pg_class c ON c.oid = rels.oid \
         WHERE c.relkind = 'f'"
    )))
    .bind(&relations)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(table) = foreign.first() {
        return Err(CatalogRefusal::Function(FunctionRefusal {
            message: format!(
                "{table} is a foreign table: reading it opens a session on another server that this read-only \
                 transaction does not bind"
            ),
            allow_name: None,
        }));
    }
    // What views, row-level policies and virtual generated columns of those relations call.
    let sql = format!(
        "{RELATIONS}, \
         objs(classid, objid, rel) AS ( \
             SELECT 'pg_catalog.pg_rewrite'::regclass, w.oid, r.oid FROM rels r \
               JOIN pg_catalog.pg_rewrite w ON w.ev_class = r.oid \
           UNION ALL SELECT 'pg_catalog.pg_policy'::regclass, pol.oid, r.oid FROM rels r \
               JOIN pg_catalog.pg_policy pol ON pol.polrelid = r.oid \
           UNION ALL SELECT 'pg_catalog.pg_attrdef'::regclass, ad.oid, r.oid FROM rels r \
               JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = r.oid \
               JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum \
                 AND a.attgenerated = 'v'), \
         deps AS (SELECT d.refclassid, d.refobjid, o.rel FROM objs o \
             JOIN pg_catalog.pg_depend d ON d.classid = o.classid AND d.objid = o.objid), \
         procs(fn, rel) AS ( \
             SELECT refobjid, rel FROM deps WHERE refclassid = 'pg_catalog.pg_proc'::regclass \
           UNION SELECT o.oprcode::oid, deps.rel FROM deps JOIN pg_catalog.pg_operator o ON o.oid = deps.refobjid \
               WHERE deps.refclassid = 'pg_catalog.pg_operator'::regclass \
           UNION SELECT d2.refobjid, deps.rel FROM deps \
               JOIN pg_catalog.pg_constraint con ON con.contypid = deps.refobjid \
               JOIN pg_catalog.pg_depend d2 ON d2.classid = 'pg_catalog.pg_constraint'::regclass \
                 AND d2.objid = con.oid AND d2.refclassid = 'pg_catalog.pg_proc'::regclass \
               WHERE deps.refclassid = 'pg_catalog.pg_type'::regclass) \
         SELECT {FUNCTION_COLUMNS}, procs.rel::regclass::text FROM procs \
         JOIN pg_catalog.pg_proc p ON p.oid = procs.fn {FUNCTION_JOINS}"
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&relations).fetch_all(&mut *conn).await? {
        let f = function_facts(&row)?;
        let relation: String = row.try_get(8)?;
        candidates.push((Some(format!("reading {relation} calls {}()", f.name)), f));
    }

    // Types: those cast to, and those of every column read. Their input, output and domain
    // check functions, and every cast from one of them (implicit ones too) to a built-in type
    // or another of them.
    let type_names: Vec<String> = facts.types.iter().map(|n| n.name.clone()).collect();
    let sql = format!(
        "{RELATIONS}, \
         types(oid) AS ( \
             SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typname = ANY($2::text[]) \
           UNION SELECT a.atttypid FROM rels r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 \
           UNION SELECT t.oid FROM pg_catalog.pg_type t WHERE t.oid < 16384 AND t.typtype IN ('b', 'p')), \
         fns(fn, what) AS ( \
             SELECT c.castfunc, format('a cast from %s to %s', c.castsource::regtype, c.casttarget::regtype) \
               FROM pg_catalog.pg_cast c WHERE c.castfunc <> 0 AND c.castsource IN (SELECT oid FROM types) \
               AND (c.casttarget IN (SELECT oid FROM types) OR c.casttarget < 16384) \
           UNION ALL SELECT t.typinput::oid, format('reading a value of type %s', t.oid::regtype) \
               FROM pg_catalog.pg_type t WHERE t.oid IN (SELECT oid FROM types) \
           UNION ALL SELECT t.typoutput::oid, format('showing a value of type %s', t.oid::regtype) \
               FROM pg_catalog.pg_type t WHERE t.oid IN (SELECT oid FROM types) \
           UNION ALL SELECT d.refobjid, format('the check of domain %s', con.contypid::regtype) \
               FROM pg_catalog.pg_constraint con \
               JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::regclass AND d.objid = con.oid \
                 AND d.refclassid = 'pg_catalog.pg_proc'::regclass \
               WHERE con.contypid IN (SELECT oid FROM types)) \
         SELECT {FUNCTION_COLUMNS}, fns.what FROM fns JOIN pg_catalog.pg_proc p ON p.oid = fns.fn {FUNCTION_JOINS} \
         WHERE p.oid >= 16384"
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&relations).bind(&type_names).fetch_all(&mut *conn).await? {
        let f = function_facts(&row)?;
        let what: String = row.try_get(8)?;
        candidates.push((Some(format!("{what} calls {}()", f.name)), f));
    }

    for (used_by, f) in &candidates {
        if let Err(mut refusal) = judge(f, allowed) {
            if let Some(used_by) = used_by {
                refusal.message = format!("{used_by}, and {}", refusal.message);
            }
            return Err(CatalogRefusal::Function(refusal));
        }
    }
    Ok(())
}

/// The relations a query reads (`$1`, names as `to_regclass` reads them), with every relation
/// their views and row-level policies read in turn: a `WITH RECURSIVE` prefix naming `rels`.
const RELATIONS: &str = "WITH RECURSIVE given AS ( \
         SELECT pg_catalog.to_regclass(name)::oid AS oid FROM unnest($1::text[]) AS name), \
     rels(oid) AS ( \
         SELECT oid FROM given WHERE oid IS NOT NULL \
       UNION \
         SELECT d.refobjid FROM rels r \
         JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::regclass AND ( \
              (d.classid = 'pg_catalog.pg_rewrite'::regclass \
                 AND d.objid IN (SELECT w.oid FROM pg_catalog.pg_rewrite w WHERE w.ev_class = r.oid)) \
           OR (d.classid = 'pg_catalog.pg_policy'::regclass \
                 AND d.objid IN (SELECT pol.oid FROM pg_catalog.pg_policy pol WHERE pol.polrelid = r.oid))))";

/// Checks what reading the layout's relations (`relations`, as SQL names) calls — their
/// views, policies, column types — as a preview of `SELECT * FROM` each would be: browsing a
/// store never runs a function a preview could not.
pub async fn check_relations(
    conn: &mut PgConnection,
    relations: &[String],
    allowed: &BTreeSet<String>,
) -> Result<(), CatalogRefusal> {
    let mut facts = QueryFacts::default();
    for relation in relations {
        let parsed = analyse(&format!("SELECT * FROM {relation}"));
        if let Ok(more) = parsed {
            facts.relations.extend(more.relations);
        }
    }
    for operator in IMPLICIT_OPERATORS {
        facts.operators.insert(QualifiedName { schema: None, name: (*operator).to_owned() });
    }
    check_catalog(conn, &facts, allowed).await
}

/// A name as `to_regclass` reads it: each part quoted.
fn qualified_sql(name: &QualifiedName) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    match &name.schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(&name.name)),
        None => quote(&name.name),
    }
}

/// What the connected role may do, read on connecting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolePrivileges {
    pub role: String,
    /// The database connected to (for the statements that make a reading role).
    pub database: String,
    pub superuser: bool,
    pub replication: bool,
    pub bypass_rls: bool,
    /// Memberships that reach outside the database: server files, programs, other sessions.
    pub powerful_memberships: Vec<String>,
    /// Whether the role could write the events table (were the session not read-only).
    pub can_write_events: bool,
}

impl RolePrivileges {
    /// Whether previews under this role are refused until the user says they understand.
    pub fn is_privileged(&self) -> bool {
        self.superuser || self.replication || self.bypass_rls || !self.powerful_memberships.is_empty()
    }

    /// What the role may do, in words (empty for a plain reading role).
    pub fn powers(&self) -> Vec<String> {
        // A superuser may do everything else too: saying so is enough.
        if self.superuser {
            return vec!["is a superuser (it may do anything on the server)".to_owned()];
        }
        let mut powers = Vec::new();
        if self.replication {
            powers.push("may create replication slots (REPLICATION)".to_owned());
        }
        if self.bypass_rls {
            powers.push("bypasses row-level security (BYPASSRLS)".to_owned());
        }
        if !self.powerful_memberships.is_empty() {
            powers.push(format!("is a member of {}", self.powerful_memberships.join(", ")));
        }
        if self.can_write_events {
            powers.push("could write the events table".to_owned());
        }
        powers
    }

    /// One line for the status bar and the SQL panel.
    pub fn summary(&self) -> String {
        let powers = self.powers();
        if powers.is_empty() {
            return format!("role {}: reads only", self.role);
        }
        let what = if self.is_privileged() { "privileged role" } else { "role" };
        format!("{what} {}: {}", self.role, powers.join("; "))
    }
}

/// The statements that create a role that can only read, to connect eventscope with (run them
/// yourself, as an administrator: eventscope never does).
pub fn read_only_role_sql(database: &str) -> String {
    let db = format!("\"{}\"", database.replace('"', "\"\""));
    format!(
        "CREATE ROLE eventscope_reader LOGIN PASSWORD 'choose-a-password';\n\
         GRANT CONNECT ON DATABASE {db} TO eventscope_reader;\n\
         GRANT pg_read_all_data TO eventscope_reader;  -- PostgreSQL 14+; before: GRANT USAGE ON SCHEMA … and GRANT SELECT ON ALL TABLES IN SCHEMA … TO eventscope_reader"
    )
}

/// Reads what the connected role may do; `events_table` is the layout's table as SQL.
pub async fn read_role(conn: &mut PgConnection, events_table: &str) -> Result<RolePrivileges, sqlx::Error> {
    let row = sqlx::query(
        "SELECT current_user::text, pg_catalog.current_database()::text, r.rolsuper, r.rolreplication, r.rolbypassrls, \
             ARRAY(SELECT m.rolname::text FROM pg_catalog.pg_roles m \
                   WHERE m.rolname IN ('pg_read_server_files', 'pg_write_server_files', \
                                       'pg_execute_server_program', 'pg_signal_backend') \
                     AND pg_catalog.pg_has_role(current_user, m.oid, 'MEMBER') ORDER BY 1), \
             COALESCE(pg_catalog.has_table_privilege(pg_catalog.to_regclass($1)::oid, \
                      'INSERT, UPDATE, DELETE, TRUNCATE'), false) \
         FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
    )
    .bind(events_table)
    .fetch_one(&mut *conn)
    .await?;
    Ok(RolePrivileges {
        role: row.try_get(0)?,
        database: row.try_get(1)?,
        superuser: row.try_get(2)?,
        replication: row.try_get(3)?,
        bypass_rls: row.try_get(4)?,
        powerful_memberships: row.try_get(5)?,
        can_write_events: row.try_get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(schema: Option<&str>, n: &str) -> QualifiedName {
        QualifiedName { schema: schema.map(str::to_owned), name: n.to_owned() }
    }

    #[test]
    fn a_query_nesting_past_the_decoder_is_refused_in_words() {
        // (Run with room, as the preview does: libpg_query recurses per level.)
        let text = format!("SELECT {}", vec!["'a'"; 120].join(" || "));
        let outcome =
            std::thread::Builder::new().stack_size(64 << 20).spawn(move || analyse(&text)).unwrap().join().unwrap();
        match outcome {
            Err(Rejection::Refused(reason)) => assert!(reason.contains("nests too deep"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_select_is_read_with_everything_it_uses() {
        let facts = analyse(
            "WITH recent AS (SELECT * FROM public.events WHERE recorded_at > now() - interval '1 day') \
             SELECT upper(event_type), count(*) FILTER (WHERE version > 1), payload->>'x', '1'::int8 \
             FROM recent r JOIN snapshots s USING (aggregate_id) ORDER BY 1 USING < TABLESAMPLE",
        );
        // (TABLESAMPLE after ORDER BY is not SQL: the parser says so.)
        assert!(matches!(facts, Err(Rejection::Syntax(_))), "{facts:?}");
        let facts = analyse(
            "WITH recent AS (SELECT * FROM public.events WHERE recorded_at > now() - interval '1 day') \
             SELECT upper(event_type), count(*) FILTER (WHERE version > 1), payload->>'x', '1'::int8, \
             pg_catalog.lower(\"U&\"), x = ANY (SELECT 1) FROM recent r JOIN snapshots s TABLESAMPLE system (5) \
             USING (aggregate_id) ORDER BY 1 USING <",
        )
        .unwrap();
        for f in ["now", "upper", "count", "system"] {
            assert!(facts.functions.contains(&name(None, f)), "{f}: {facts:?}");
        }
        assert!(facts.functions.contains(&name(Some("pg_catalog"), "lower")));
        for op in ["-", ">", "->>", "=", "<"] {
            assert!(facts.operators.contains(&name(None, op)), "{op}: {facts:?}");
        }
        assert!(facts.types.contains(&name(None, "int8")), "{facts:?}");
        assert!(facts.relations.contains(&name(Some("public"), "events")));
        assert!(facts.relations.contains(&name(None, "snapshots")));
        // Names after a dot may be functions called on what stands before them.
        let facts = analyse("SELECT (42::int8).pg_advisory_lock, e.fnote FROM events e").unwrap();
        assert!(facts.field_names.contains("pg_advisory_lock") && facts.field_names.contains("fnote"), "{facts:?}");
        // SQL/JSON syntax names the functions older servers would call instead.
        let facts = analyse("SELECT json_scalar(1)").unwrap();
        assert!(facts.functions.contains(&name(None, "json_scalar")), "{facts:?}");
    }

    #[test]
    fn names_arrive_decoded() {
        // U&"\0070g_read_file" is pg_read_file; quoting keeps the case written.
        let facts = analyse(r#"SELECT U&"\0070g_read_file"('/etc/passwd'), "PG_Sleep"(1)"#).unwrap();
        assert!(facts.functions.contains(&name(None, "pg_read_file")), "{facts:?}");
        assert!(facts.functions.contains(&name(None, "PG_Sleep")));
    }

    #[test]
    fn anything_but_one_read_only_query_is_refused() {
        for (text, expected) in [
            ("DELETE FROM events", "DELETE"),
            ("SELECT 1; DELETE FROM events", "2 statements"),
            ("SELECT $$;$$; DROP TABLE events", "2 statements"),
            ("WITH gone AS (DELETE FROM events RETURNING 1) SELECT * FROM gone", "DELETE (it writes) inside"),
            ("SELECT * INTO copy FROM events", "SELECT INTO"),
            ("SELECT * FROM events FOR UPDATE", "FOR UPDATE"),
            ("SELECT * FROM (SELECT * FROM events FOR SHARE) x", "FOR UPDATE"),
            ("BEGIN", "transaction control"),
            ("SET default_transaction_read_only = off", "SET"),
            ("EXPLAIN ANALYZE DELETE FROM events", "EXPLAIN"),
            ("COPY events TO '/tmp/x'", "COPY"),
            ("CREATE TABLE t (x int)", "Create"),
            ("-- only a comment", "empty"),
        ] {
            match analyse(text) {
                Err(Rejection::Refused(reason)) => assert!(reason.contains(expected), "{text}: {reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(analyse("SELEC 1"), Err(Rejection::Syntax(_))));
        // Deep nesting is refused, not a crash (the backend analyses on a thread with room).
        for deep in [
            format!("SELECT {}1", "1 + ".repeat(3_000)),
            format!("SELECT {}1{}", "(SELECT ".repeat(1_000), ")".repeat(1_000)),
        ] {
            let outcome =
                std::thread::Builder::new().stack_size(64 << 20).spawn(move || analyse(&deep)).unwrap().join().unwrap();
            assert!(matches!(outcome, Err(Rejection::Refused(_)) | Err(Rejection::Syntax(_))), "{outcome:?}");
        }
    }

    fn function(name: &str, oid: i64, volatility: &str) -> FunctionFacts {
        FunctionFacts {
            schema: "pg_catalog".into(),
            name: name.into(),
            oid,
            volatility: volatility.into(),
            language: "internal".into(),
            arguments: String::new(),
            argument_count: 1,
            extension: None,
        }
    }

    #[test]
    fn built_in_stable_functions_pass_and_the_rest_is_named() {
        let none = BTreeSet::new();
        assert!(judge(&function("upper", 871, "i"), &none).is_ok());
        assert!(judge(&function("now", 1299, "s"), &none).is_ok());
        assert!(judge(&function("random", 1598, "v"), &none).is_ok());
        let refused = judge(&function("pg_read_file", 2624, "v"), &none).unwrap_err();
        assert!(refused.message.contains("volatile") && refused.allow_name.is_none(), "{refused:?}");
        let refused = judge(&function("txid_current", 2943, "s"), &none).unwrap_err();
        assert!(refused.message.contains("transaction id"));
        let refused = judge(&function("query_to_xml", 2925, "s"), &none).unwrap_err();
        assert!(refused.message.contains("as text"));
        // A user-defined function is refused unless allowed by name, even when immutable.
        let mut mine = function("add_tax", 40_000, "i");
        mine.schema = "public".into();
        let refused = judge(&mine, &none).unwrap_err();
        assert_eq!(refused.allow_name.as_deref(), Some("add_tax"));
        assert!(judge(&mine, &BTreeSet::from(["add_tax".to_owned()])).is_ok());
        assert!(judge(&mine, &BTreeSet::from(["public.add_tax".to_owned()])).is_ok());
        // C functions of an extension that only computes values count as built in; others not.
        let mut citext = function("citext_eq", 50_000, "i");
        citext.language = "c".into();
        citext.extension = Some("citext".into());
        assert!(judge(&citext, &none).is_ok());
        let mut crosstab = function("crosstab", 50_001, "s");
        crosstab.language = "c".into();
        crosstab.extension = Some("tablefunc".into());
        assert!(judge(&crosstab, &none).is_err());
        // Allowing a built-in by name is the user's call too.
        assert!(judge(&function("pg_sleep", 2626, "v"), &BTreeSet::from(["pg_sleep".to_owned()])).is_ok());
    }

    #[test]
    fn a_role_says_what_it_may_do() {
        let plain = RolePrivileges { role: "reader".into(), ..Default::default() };
        assert!(!plain.is_privileged());
        assert_eq!(plain.summary(), "role reader: reads only");
        let owner = RolePrivileges { role: "app".into(), can_write_events: true, ..Default::default() };
        assert!(!owner.is_privileged());
        assert!(owner.summary().contains("could write the events table"));
        let admin = RolePrivileges {
            role: "postgres".into(),
            superuser: true,
            powerful_memberships: vec!["pg_read_server_files".into()],
            ..Default::default()
        };
        assert!(admin.is_privileged());
        assert!(admin.summary().starts_with("privileged role postgres: is a superuser"), "{}", admin.summary());
        assert!(read_only_role_sql("shop").contains("GRANT CONNECT ON DATABASE \"shop\""));
    }
}
