//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte frame header, the frame
//! types and error codes, and writers for the frames a server sends. Pure
//! functions over byte slices; the connection in `conn.rs` does the I/O.

/// The client connection preface (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The frame header's size (RFC 9113 §4.1).
pub(crate) const HEAD: usize = 9;

/// SETTINGS_MAX_FRAME_SIZE's initial value, the largest frame ferry accepts
/// (it never advertises more; RFC 9113 §6.5.2).
pub(crate) const DEFAULT_MAX_FRAME: usize = 16_384;

/// The largest flow-control window (RFC 9113 §6.9.1).
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The initial flow-control window (RFC 9113 §6.9.2).
pub(crate) const DEFAULT_WINDOW: i64 = 65_535;

/// Frame types (RFC 9113 §6).
pub(crate) mod kind {
    pub(crate) const DATA: u8 = 0x0;
    pub(crate) const HEADERS: u8 = 0x1;
    pub(crate) const PRIORITY: u8 = 0x2;
    pub(crate) const RST_STREAM: u8 = 0x3;
    pub(crate) const SETTINGS: u8 = 0x4;
    pub(crate) const PUSH_PROMISE: u8 = 0x5;
    pub(crate) const PING: u8 = 0x6;
    pub(crate) const GOAWAY: u8 = 0x7;
    pub(crate) const WINDOW_UPDATE: u8 = 0x8;
    pub(crate) const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 §6).
pub(crate) mod flag {
    pub(crate) const END_STREAM: u8 = 0x1;
    pub(crate) const ACK: u8 = 0x1;
    pub(crate) const END_HEADERS: u8 = 0x4;
    pub(crate) const PADDED: u8 = 0x8;
    pub(crate) const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameters (RFC 9113 §6.5.2).
pub(crate) mod setting {
    pub(crate) const HEADER_TABLE_SIZE: u16 = 0x1;
    pub(crate) const ENABLE_PUSH: u16 = 0x2;
    pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub(crate) const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub(crate) const MAX_FRAME_SIZE: u16 = 0x5;
    pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// Error codes (RFC 9113 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Code {
    NoError = 0x0,
    Protocol = 0x1,
    Internal = 0x2,
    FlowControl = 0x3,
    StreamClosed = 0x5,
    FrameSize = 0x6,
    RefusedStream = 0x7,
    Compression = 0x9,
    EnhanceYourCalm = 0xb,
}

/// A frame header (RFC 9113 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    /// The stream identifier, the reserved bit dropped (§4.1: "MUST be
    /// ignored when receiving").
    pub(crate) stream: u32,
}

impl Head {
    /// The header at the start of `b`, if 9 bytes are there.
    pub(crate) fn parse(b: &[u8]) -> Option<Head> {
        let h: &[u8; HEAD] = b.get(..HEAD)?.try_into().ok()?;
        Some(Head {
            len: usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Appends a frame header.
pub(crate) fn head(dst: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len < 1 << 24);
    let l = (len as u32).to_be_bytes();
    dst.extend_from_slice(&[l[1], l[2], l[3], kind, flags]);
    dst.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Strips the padding of a DATA or HEADERS payload (RFC 9113 §6.1, §6.2):
/// the content without the Pad Length field and the padding, or `None` when
/// the padding is as long as the payload or longer (a connection error of
/// type PROTOCOL_ERROR).
pub(crate) fn unpad<'a>(h: &Head, payload: &'a [u8]) -> Option<&'a [u8]> {
    if !h.has(flag::PADDED) {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|end| &rest[..end])
}

/// A priority block's stream dependency, exclusive bit dropped (RFC 9113
/// §6.3, §5.3.2 of RFC 7540).
pub(crate) fn dependency(b: &[u8]) -> Option<u32> {
    let d: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(d) & 0x7fff_ffff)
}

/// A 4-byte payload (RST_STREAM's code, WINDOW_UPDATE's increment).
pub(crate) fn word(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Appends a SETTINGS frame with `params` (RFC 9113 §6.5).
pub(crate) fn settings(dst: &mut Vec<u8>, params: &[(u16, u32)]) {
    head(dst, params.len() * 6, kind::SETTINGS, 0, 0);
    for &(id, v) in params {
        dst.extend_from_slice(&id.to_be_bytes());
        dst.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends a SETTINGS frame with the ACK flag.
pub(crate) fn settings_ack(dst: &mut Vec<u8>) {
    head(dst, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends a PING frame (RFC 9113 §6.7) that asks the client to echo `payload`.
pub(crate) fn ping(dst: &mut Vec<u8>, payload: [u8; 8]) {
    head(dst, 8, kind::PING, 0, 0);
    dst.extend_from_slice(&payload);
}

/// Appends a PING frame with the ACK flag and the client's payload.
pub(crate) fn ping_ack(dst: &mut Vec<u8>, payload: &[u8]) {
    head(dst, 8, kind::PING, flag::ACK, 0);
    dst.extend_from_slice(payload);
}

/// Appends a WINDOW_UPDATE frame (RFC 9113 §6.9).
pub(crate) fn window_update(dst: &mut Vec<u8>, stream: u32, increment: u32) {
    head(dst, 4, kind::WINDOW_UPDATE, 0, stream);
    dst.extend_from_slice(&increment.to_be_bytes());
}

/// Appends a RST_STREAM frame (RFC 9113 §6.4).
pub(crate) fn rst_stream(dst: &mut Vec<u8>, stream: u32, code: Code) {
    head(dst, 4, kind::RST_STREAM, 0, stream);
    dst.extend_from_slice(&(code as u32).to_be_bytes());
}

/// Appends a GOAWAY frame (RFC 9113 §6.8).
pub(crate) fn goaway(dst: &mut Vec<u8>, last_stream: u32, code: Code) {
    head(dst, 8, kind::GOAWAY, 0, 0);
    dst.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    dst.extend_from_slice(&(code as u32).to_be_bytes());
}

/// Appends a header block as one HEADERS frame and as many CONTINUATION
/// frames as `max_frame` requires (RFC 9113 §6.2, §6.10).
pub(crate) fn headers(dst: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool, max: usize) {
    let mut chunks = block.chunks(max.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let end = if end_stream { flag::END_STREAM } else { 0 };
    let last = first.len() == block.len();
    let fl = end | if last { flag::END_HEADERS } else { 0 };
    head(dst, first.len(), kind::HEADERS, fl, stream);
    dst.extend_from_slice(first);
    let mut done = first.len();
    for c in chunks {
        done += c.len();
        let fl = if done == block.len() {
            flag::END_HEADERS
        } else {
            0
        };
        head(dst, c.len(), kind::CONTINUATION, fl, stream);
        dst.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_round_trips_rfc_9113_4_1() {
        let mut b = Vec::new();
        head(
            &mut b,
            0x01_02_03,
            kind::HEADERS,
            flag::END_HEADERS,
            0x7fff_ffff,
        );
        assert_eq!(b, [1, 2, 3, 1, 4, 0x7f, 0xff, 0xff, 0xff]);
        let h = Head::parse(&b).unwrap();
        assert_eq!(
            (h.len, h.kind, h.flags, h.stream),
            (0x01_02_03, 1, 4, 0x7fff_ffff)
        );
        // "The semantics of this bit are undefined, and the bit MUST remain
        // unset (0x00) when sending and MUST be ignored when receiving."
        let r = Head::parse(&[0, 0, 0, 0, 0, 0x80, 0, 0, 1]).unwrap();
        assert_eq!(r.stream, 1);
        assert_eq!(Head::parse(&b[..8]), None);
    }

    #[test]
    fn padding_rfc_9113_6_1() {
        let h = Head {
            len: 0,
            kind: kind::DATA,
            flags: flag::PADDED,
            stream: 1,
        };
        assert_eq!(unpad(&h, &[2, b'a', b'b', 0, 0]), Some(&b"ab"[..]));
        assert_eq!(unpad(&h, &[0]), Some(&b""[..]));
        // "If the length of the padding is the length of the frame payload
        // or greater, the recipient MUST treat this as a connection error".
        assert_eq!(unpad(&h, &[3, 0, 0]), None);
        assert_eq!(unpad(&h, &[]), None);
        let plain = Head { flags: 0, ..h };
        assert_eq!(unpad(&plain, &[3, 0]), Some(&[3, 0][..]));
    }

    #[test]
    fn a_large_block_is_split_into_continuations_rfc_9113_6_10() {
        let block: Vec<u8> = (0..25u8).collect();
        let mut b = Vec::new();
        headers(&mut b, 3, &block, true, 10);
        let mut at = 0;
        let mut got = Vec::new();
        let mut frames = Vec::new();
        while at < b.len() {
            let h = Head::parse(&b[at..]).unwrap();
            got.extend_from_slice(&b[at + HEAD..at + HEAD + h.len]);
            frames.push((h.kind, h.flags, h.len));
            at += HEAD + h.len;
        }
        assert_eq!(got, block);
        assert_eq!(
            frames,
            [
                (kind::HEADERS, flag::END_STREAM, 10),
                (kind::CONTINUATION, 0, 10),
                (kind::CONTINUATION, flag::END_HEADERS, 5)
            ]
        );
        let mut one = Vec::new();
        headers(&mut one, 1, b"ab", false, 10);
        assert_eq!(Head::parse(&one).unwrap().flags, flag::END_HEADERS);
    }
}
