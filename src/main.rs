//! The `eventscope` binary: everything lives in the library; see `cli.rs`.

fn main() -> std::process::ExitCode {
    eventscope::cli::main()
}
