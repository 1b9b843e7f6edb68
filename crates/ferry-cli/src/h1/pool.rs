//! Each worker's spare connection buffers: a connection takes one when a
//! request arrives and gives it back when it goes idle, so 1000 open
//! keep-alive connections hold no buffers, without a `malloc`/`free` pair per
//! request. HTTP/2 connections take their write buffers here too.
use std::cell::RefCell;

/// Buffers kept per worker, and the largest kept (larger ones are freed).
const KEEP: usize = 16;
const MAX_CAPACITY: usize = 16 * 1024;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer of at least 2 KiB: a request head, or a response head
/// with a small file.
pub(crate) fn take() -> Vec<u8> {
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(2048))
}

pub(crate) fn give(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_CAPACITY {
        return;
    }
    buf.clear();
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < KEEP {
            f.push(buf);
        }
    });
}
