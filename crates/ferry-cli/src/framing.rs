//! HTTP/1.1 message body framing (RFC 9112 §6): Content-Length, chunked
//! (§7.1), or the end of the connection, decoded over a connection's read
//! buffer. Request bodies on the fast path and the upstream's responses in
//! `ferry proxy` are read with it.
use crate::h1::wire::Wire;
use bytes::Bytes;
use std::io;
use std::time::Duration;

/// Longest chunk-size line (with extensions) and trailer section accepted.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

impl Framing {
    /// The length it declares, when it does.
    pub(crate) fn len(self) -> Option<u64> {
        match self {
            Framing::None => Some(0),
            Framing::Length(n) => Some(n),
            Framing::Chunked | Framing::Close => None,
        }
    }
}

/// The fields of a message head that frame its body and say whether the
/// connection stays open (RFC 9112 §6, §9.3), gathered field by field by
/// both parsers of heads: the fast path's requests, the proxy's responses.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// Content-Length, once valid.
    pub(crate) length: Option<u64>,
    /// Transfer-Encoding lines seen.
    pub(crate) te_lines: u32,
    /// Whether each of them is exactly `chunked`.
    pub(crate) te_only_chunked: bool,
    /// `Connection: close`, and `keep-alive` (HTTP/1.0's opt-in).
    pub(crate) close: bool,
    pub(crate) keep_alive_token: bool,
}

impl Fields {
    /// Takes note of one field; `Err` for an invalid Content-Length or two
    /// that differ (§6.3 items 5 and 6: unrecoverable framing).
    pub(crate) fn see(&mut self, name: &http::HeaderName, value: &[u8]) -> Result<(), ()> {
        use http::header;
        if name == header::CONTENT_LENGTH {
            let n = std::str::from_utf8(value)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(())?;
            if self.length.is_some_and(|l| l != n) {
                return Err(());
            }
            self.length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            let chunked = |v: &[u8]| v.trim_ascii().eq_ignore_ascii_case(b"chunked");
            self.te_only_chunked = (self.te_lines == 0 || self.te_only_chunked) && chunked(value);
            self.te_lines += 1;
        } else if name == header::CONNECTION {
            for t in value.split(|&b| b == b',') {
                let t = t.trim_ascii();
                self.close |= t.eq_ignore_ascii_case(b"close");
                self.keep_alive_token |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(())
    }

    /// Whether the connection may carry another message after this one
    /// (§9.3): HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive`.
    pub(crate) fn persistent(&self, http11: bool) -> bool {
        !self.close && (http11 || self.keep_alive_token)
    }
}

/// Where the decoder is in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers(usize),
    Close,
    Done,
}

/// What the decoder made of the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Body bytes at `buf[..n]`.
    Data(usize),
    /// Framing bytes to drop.
    Skip(usize),
    /// Nothing complete yet.
    More,
    /// The body ended after dropping these framing bytes.
    End(usize),
}

/// Decodes one message body's framing (a request's, or an upstream's
/// response).
pub(crate) struct Decoder {
    state: State,
}

fn bad(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl Decoder {
    pub(crate) fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::None => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        Decoder { state }
    }

    /// Bytes still to come, when known.
    pub(crate) fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    fn step(&mut self, buf: &[u8]) -> io::Result<Step> {
        match self.state {
            State::Done => Ok(Step::End(0)),
            State::Close if buf.is_empty() => Ok(Step::More),
            State::Close => Ok(Step::Data(buf.len())),
            State::Length(0) => {
                self.state = State::Done;
                Ok(Step::End(0))
            }
            State::Length(rem) | State::ChunkData(rem) => {
                if buf.is_empty() {
                    return Ok(Step::More);
                }
                let n = rem.min(buf.len() as u64);
                self.state = match self.state {
                    State::Length(_) => State::Length(rem - n),
                    _ if rem == n => State::ChunkEnd,
                    _ => State::ChunkData(rem - n),
                };
                Ok(Step::Data(n as usize))
            }
            State::ChunkEnd => match buf {
                [b'\r', b'\n', ..] => {
                    self.state = State::ChunkSize;
                    Ok(Step::Skip(2))
                }
                [] | [b'\r'] => Ok(Step::More),
                _ => Err(bad("chunk data not followed by CRLF")),
            },
            State::ChunkSize => {
                let Some(line) = crlf_line(buf, MAX_LINE)? else {
                    return Ok(Step::More);
                };
                let size = chunk_size(&buf[..line])?;
                self.state = if size == 0 {
                    State::Trailers(0)
                } else {
                    State::ChunkData(size)
                };
                Ok(Step::Skip(line + 2))
            }
            State::Trailers(seen) => {
                // The whole trailer section counts against MAX_TRAILERS,
                // each line with its CRLF.
                let room = MAX_TRAILERS
                    .checked_sub(seen)
                    .ok_or_else(|| bad("trailer section too long"))?;
                let Some(line) = crlf_line(buf, room)? else {
                    return Ok(Step::More);
                };
                if line == 0 {
                    self.state = State::Done;
                    return Ok(Step::End(2));
                }
                // Trailer fields are read and dropped (RFC 9112 §7.1.2
                // lets a recipient discard them).
                if seen + line + 2 > MAX_TRAILERS {
                    return Err(bad("trailer section too long"));
                }
                if !trailer_line(&buf[..line]) {
                    return Err(bad("a trailer line that is not a field"));
                }
                self.state = State::Trailers(seen + line + 2);
                Ok(Step::Skip(line + 2))
            }
        }
    }

    /// The next piece of the body: buffered bytes at `rbuf[*rpos..]` first,
    /// then reads, each within `timeout`; `None` at the end of the body.
    pub(crate) async fn next<W: Wire>(
        &mut self,
        stream: &mut W,
        rbuf: &mut Vec<u8>,
        rpos: &mut usize,
        timeout: Duration,
    ) -> io::Result<Option<Bytes>> {
        loop {
            match self.step(&rbuf[*rpos..])? {
                Step::Data(n) => {
                    let b = Bytes::copy_from_slice(&rbuf[*rpos..*rpos + n]);
                    *rpos += n;
                    return Ok(Some(b));
                }
                Step::Skip(n) => *rpos += n,
                Step::End(n) => {
                    *rpos += n;
                    return Ok(None);
                }
                Step::More => {
                    if *rpos > 0 {
                        rbuf.drain(..*rpos);
                        *rpos = 0;
                    }
                    if rbuf.capacity() - rbuf.len() < 4096 {
                        rbuf.reserve(64 * 1024);
                    }
                    let n = tokio::time::timeout(timeout, crate::h1::wire::read(stream, rbuf))
                        .await
                        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                    if n == 0 && self.state == State::Close {
                        self.state = State::Done;
                        return Ok(None);
                    }
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the peer closed during the body",
                        ));
                    }
                }
            }
        }
    }
}

/// The length of the CRLF-terminated line at the start of `buf`, `None`
/// while incomplete. A bare LF, or a line longer than `max`, is an error:
/// lenient line endings inside chunked framing are how requests get smuggled.
fn crlf_line(buf: &[u8], max: usize) -> io::Result<Option<usize>> {
    match buf.iter().take(max + 2).position(|&b| b == b'\n') {
        Some(0) => Err(bad("bare LF in chunked framing")),
        Some(i) if buf[i - 1] == b'\r' => Ok(Some(i - 1)),
        Some(_) => Err(bad("bare LF in chunked framing")),
        None if buf.len() > max + 1 => Err(bad("chunked framing line too long")),
        None => Ok(None),
    }
}

/// RFC 9112 §7.1: `chunk-size [ chunk-ext ]`, hex digits that fit a u64.
fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 || digits > 16 || !chunk_ext(&line[digits..]) {
        return Err(bad("invalid chunk size"));
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| bad("invalid chunk size"))?;
    u64::from_str_radix(hex, 16).map_err(|_| bad("invalid chunk size"))
}

/// RFC 9112 §7.1.1: `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS
/// ext-val ] )`, `ext-val = token / quoted-string`. Anything else after the
/// size (`0 x`, a second number) is refused: a recipient that read it
/// differently would see another body end (request smuggling). Whitespace
/// alone after the size is tolerated, as nginx does.
fn chunk_ext(mut s: &[u8]) -> bool {
    fn bws(s: &[u8]) -> &[u8] {
        let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        &s[n..]
    }
    fn token(s: &[u8]) -> Option<&[u8]> {
        let n = s.iter().take_while(|&&b| is_tchar(b)).count();
        (n > 0).then_some(&s[n..])
    }
    fn quoted(s: &[u8]) -> Option<&[u8]> {
        let mut i = 1;
        while i < s.len() {
            match s[i] {
                b'"' => return Some(&s[i + 1..]),
                b'\\'
                    if i + 1 < s.len()
                        && s[i + 1] != 0x7f
                        && (s[i + 1] >= b' ' || s[i + 1] == b'\t') =>
                {
                    i += 2
                }
                b'\t' | b' '..=0x7e | 0x80..=0xff if s[i] != 0x7f => i += 1,
                _ => return None,
            }
        }
        None
    }
    loop {
        s = bws(s);
        match s {
            [] => return true,
            [b';', rest @ ..] => s = bws(rest),
            _ => return false,
        }
        let Some(rest) = token(s) else { return false };
        s = rest;
        let after = bws(s);
        if let [b'=', rest @ ..] = after {
            let v = bws(rest);
            let next = if v.first() == Some(&b'"') {
                quoted(v)
            } else {
                token(v)
            };
            let Some(next) = next else { return false };
            s = next;
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`: the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9112 §7.1.2: a trailer line is a field line, `field-name ":" …`. A
/// line that is not (a request line smuggled after the last chunk) is refused.
fn trailer_line(line: &[u8]) -> bool {
    let name = line.iter().take_while(|&&b| is_tchar(b)).count();
    name > 0 && line.get(name) == Some(&b':')
}

/// Decodes `wire` fed to the decoder in pieces of `step` bytes: the body,
/// and how many bytes are left after it; for tests and the fuzz targets.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn decode(framing: Framing, wire: &[u8], step: usize) -> io::Result<(Vec<u8>, usize)> {
    let mut d = Decoder::new(framing);
    let (mut body, mut at, mut avail) = (Vec::new(), 0, 0);
    loop {
        match d.step(&wire[at..avail])? {
            Step::Data(n) => {
                body.extend_from_slice(&wire[at..at + n]);
                at += n;
            }
            Step::Skip(n) => at += n,
            Step::End(n) => return Ok((body, wire.len() - at - n)),
            Step::More if avail == wire.len() => return Err(io::ErrorKind::UnexpectedEof.into()),
            Step::More => avail = (avail + step.max(1)).min(wire.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_rfc_9112_7_1() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: x\r\n\r\nNEXT";
        for step in [1, 2, 7, wire.len()] {
            let (body, left) = decode(Framing::Chunked, wire, step).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert_eq!(left, 4, "the next request's bytes stay");
        }
        for bad in [
            &b"4\nWiki\r\n0\r\n\r\n"[..],        // bare LF
            b"4\r\nWikiX\r\n0\r\n\r\n",          // data longer than its size
            b"x\r\n",                            // not hex
            b"10000000000000000\r\n",            // over 64 bits
            b"-1\r\n",                           // sign
            b"4 \x01\r\nWiki\r\n0\r\n\r\n",      // control byte in an extension
            b"0 x\r\n\r\n",                      // junk after the size, not `;ext`
            b"4 4\r\nWiki\r\n0\r\n\r\n",         // a second size
            b"4;\r\nWiki\r\n0\r\n\r\n",          // `;` without a name
            b"4;a=\"x\r\nWiki\r\n0\r\n\r\n",     // unterminated quoted value
            b"0\r\nGET /admin HTTP/1.1\r\n\r\n", // a request line as a trailer
            b"0\r\n: v\r\n\r\n",                 // a trailer without a name
        ] {
            assert!(decode(Framing::Chunked, bad, 3).is_err(), "{bad:?}");
        }
        assert!(
            decode(Framing::Chunked, b"4\r\nWi", 10).is_err(),
            "cut short"
        );
    }

    #[test]
    fn trailer_sections_are_bounded() {
        // One long trailer line, or many short ones: past MAX_TRAILERS the
        // body is refused, never read on without end.
        let mut long = b"1\r\nx\r\n0\r\nx: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_TRAILERS));
        long.extend_from_slice(b"\r\n\r\n");
        assert!(decode(Framing::Chunked, &long, 4096).is_err());
        let mut many = b"0\r\n".to_vec();
        for _ in 0..(MAX_TRAILERS / 8 + 1) {
            many.extend_from_slice(b"x: abc\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert!(decode(Framing::Chunked, &many, 4096).is_err());
        let ok = b"0\r\nx: abc\r\ny: def\r\n\r\n";
        assert!(decode(Framing::Chunked, ok, 3).is_ok());
        // Extensions per §7.1.1 are read and ignored.
        for ok in [
            &b"4;a\r\nWiki\r\n0\r\n\r\n"[..],
            b"4 ; a = b ;c=\"q \\\" ;\"\r\nWiki\r\n0 \r\n\r\n",
        ] {
            assert_eq!(
                decode(Framing::Chunked, ok, 3).unwrap().0,
                b"Wiki",
                "{ok:?}"
            );
        }
    }

    #[test]
    fn length_framing_leaves_what_follows() {
        let (body, left) = decode(Framing::Length(5), b"helloGET /", 3).unwrap();
        assert_eq!((body.as_slice(), left), (&b"hello"[..], 5));
    }

    proptest::proptest! {
        /// Any chunking of any body decodes back to it, fed in any steps.
        #[test]
        fn chunked_round_trip(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            cut in 1usize..40,
            step in 1usize..50,
        ) {
            let mut wire = Vec::new();
            for c in body.chunks(cut) {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let (got, left) = decode(Framing::Chunked, &wire, step).unwrap();
            proptest::prop_assert_eq!(got, body);
            proptest::prop_assert_eq!(left, 0);
        }

        /// Any bytes: a body, a wait or an error, never a panic.
        #[test]
        fn chunked_never_panics(wire in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode(Framing::Chunked, &wire, 7);
        }
    }
}
