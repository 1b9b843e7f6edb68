//! The `ferry` binary: everything is in the library.

/// See the dependency's note in Cargo.toml: allocation is on every
/// request's path.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferry_cli::main()
}
