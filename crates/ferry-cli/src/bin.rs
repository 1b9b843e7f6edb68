//! The `ferry` binary: everything is in the library.

use libmimalloc_sys as mi;

/// See the dependency's note in Cargo.toml: allocation is on every
/// request's path.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferry_cli::main_with(release_freed_memory)
}

/// Called by the library once start-up is over, before the first connection
/// is served: the command line's parser and the configuration are freed by
/// then, and mimalloc would keep their pages resident until it next purges.
fn release_freed_memory() {
    // SAFETY: mimalloc's documented call to return freed memory to the OS;
    // it takes no pointers.
    unsafe { mi::mi_collect(true) };
}

/// Runs among the program's constructors, before Rust's runtime starts (its
/// start-up allocates, which reserves the first arena); mimalloc reads the
/// option when it reserves. `.init_array` is ELF's: elsewhere the arena keeps
/// its default size.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static SIZE_FIRST_ARENA: extern "C" fn() = size_first_arena;

/// Makes mimalloc's first arena 64 MiB. Its default, 1 GiB, comes with
/// ~190 KiB of bitmaps that are resident from the first allocation on; a
/// server that needs more gets further arenas, each larger than the last.
#[cfg(target_os = "linux")]
extern "C" fn size_first_arena() {
    use std::ffi::c_long;
    /// `mi_option_arena_reserve` in mimalloc.h's `mi_option_t` (the Rust
    /// binding names only the older options), and its default there, in KiB
    /// as mimalloc counts it.
    const ARENA_RESERVE: mi::mi_option_t = 23;
    const DEFAULT_KIB: c_long = 1 << 20;
    const FIRST_ARENA_KIB: c_long = 64 * 1024;
    // SAFETY: reads and sets an option by its index, which mimalloc allows
    // at any time. The index is checked by its default value first, so an
    // enum renumbered in another version changes nothing.
    unsafe {
        if mi::mi_option_get(ARENA_RESERVE) == DEFAULT_KIB {
            mi::mi_option_set(ARENA_RESERVE, FIRST_ARENA_KIB);
        }
    }
}
