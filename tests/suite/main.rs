//! The integration tests, as one binary (each test binary links egui, sqlx and QuickJS, so one
//! link instead of nine). Stories that run on both backends are written once as
//! `fn story(backend: Backend)` and become two tests, `story::sqlite` and `story::postgres`
//! ([`on_each_backend!`]), so that a failure names its backend.

mod common;

mod audit;
mod bad_input;
mod cli;
mod follow;
mod fuzz;
mod gui;
mod js;
mod layouts;
mod lesson;
mod preview;
mod screens;
mod sqlite_files;
mod store_story;

/// Without a PostgreSQL server the PostgreSQL tests pass without running (outside CI; in CI
/// they fail): this one test fails instead, so that the skipped half shows in the summary. Set
/// `EVENTSCOPE_SKIP_POSTGRES=1` to skip it knowingly.
#[test]
fn postgres_tests_ran() {
    if std::env::var("EVENTSCOPE_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        return;
    }
    assert!(
        common::postgres_available(),
        "the PostgreSQL half of the suite was skipped: no server at EVENTSCOPE_TEST_POSTGRES ({}). Start one \
         (`bash .ci/run` as root sets it up), or set EVENTSCOPE_SKIP_POSTGRES=1 to skip it knowingly",
        common::admin_url()
    );
}
