//! The `ferry` binary: everything is in the library.
fn main() -> std::process::ExitCode {
    ferry_cli::main()
}
