//! `cargo bench`: the figures of `eventscope bench` (the history explorer on a 200,000-event
//! stream) and of `eventscope bench --audit` (the audit view on 1,000,000 events; on PostgreSQL
//! too when `EVENTSCOPE_BENCH_POSTGRES` holds a URL whose user may create databases: it creates
//! its own database there and drops it afterwards). Each figure
//! is printed next to a baseline measured in the same run; the subcommand takes the sizes as
//! options.

fn main() -> anyhow::Result<()> {
    eventscope::bench::run(eventscope::bench::BenchOptions::default())?;
    eventscope::bench::audit::run(1_000_000, std::env::var("EVENTSCOPE_BENCH_POSTGRES").ok(), false)
}
