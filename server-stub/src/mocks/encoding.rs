//! How a matched mapping's answer travels: gzip when the client accepts it, as WireMock's Jetty
//! does, and framing headers the server owns (`Transfer-Encoding`, `Content-Length`) taken out of
//! the mapping's hands.
//!
//! WireMock 3.13.2, asked directly (tests/clients/test_wiremock_differential.py keeps the cases):
//! its Jetty `GzipHandler` compresses a mapped answer when the request's `Accept-Encoding` names
//! `gzip` with a quality above 0, the status is 2xx but not 204 or 205, the mapping sets no
//! `Content-Encoding`, no `Content-Length` below 32 bytes, and no `Content-Type` on Jetty's list
//! of already-compressed types; it appends `--gzip` to the mapping's `ETag` then, adds no
//! `Vary`, and compresses an empty body too. There is no minimum size otherwise. Its 404
//! near-miss report and the admin API are never compressed (the report is not a 2xx).
//!
//! Only mapped answers are compressed here, never the server's own API: those carry secrets (a
//! token's secret once made, a session) next to text an attacker may choose, and a compressed
//! length is an oracle on them (BREACH). A mapping's body is the developer's fixture.
//!
//! A mapping that sets `Transfer-Encoding` (61 real mapping files do, mostly `chunked` copied
//! from a recording) would have the server send a framing it does not apply: the header is taken
//! out, and `chunked` asks for a body framed in chunks. A mapping's `Content-Length` is taken out
//! too and the body's own length sent, but a shorter one cuts the body, as WireMock's does.

use std::io::Write;

use super::mappings::Answer;

/// Jetty's `minGzipSize`: an answer that declares a shorter `Content-Length` is not compressed.
const MIN_GZIP_SIZE: usize = 32;
/// Bodies larger than this are compressed on the blocking pool, away from the async threads.
const INLINE_BODY: usize = 64 * 1024;

/// What Jetty's `GzipHandler` leaves alone: the audio, image (but SVG) and video types of its
/// `mime.properties`, and the compressed archives and `text/event-stream` it excludes by name.
/// Sorted, for the binary search.
const NOT_COMPRESSED: &[&str] = &[
    "application/brotli",
    "application/bzip2",
    "application/compress",
    "application/gzip",
    "application/x-rar-compressed",
    "application/x-xz",
    "application/zip",
    "audio/basic",
    "audio/midi",
    "audio/mpeg",
    "audio/x-aiff",
    "audio/x-pn-realaudio",
    "audio/x-wav",
    "image/apng",
    "image/avif",
    "image/bmp",
    "image/gif",
    "image/ief",
    "image/jpeg",
    "image/jpeg2000",
    "image/png",
    "image/tiff",
    "image/vnd.wap.wbmp",
    "image/webp",
    "image/x-cmu-raster",
    "image/x-icon",
    "image/x-portable-anymap",
    "image/x-portable-bitmap",
    "image/x-portable-graymap",
    "image/x-portable-pixmap",
    "image/x-rgb",
    "image/x-xbitmap",
    "image/x-xpixmap",
    "image/x-xwindowdump",
    "image/xcf",
    "text/event-stream",
    "video/mp4",
    "video/mpeg",
    "video/quicktime",
    "video/vnd.rn-realvideo",
    "video/x-msvideo",
    "video/x-sgi-movie",
    "video/x.ms.asf",
    "video/x.ms.asx",
];

/// The extensions Jetty's `mime.properties` gives one of [`NOT_COMPRESSED`]'s types: Jetty does
/// not compress the answer to a request whose path ends in one, whatever the mapping's
/// `Content-Type` (`/favicon.ico`, `/logo.png`). Sorted, for the binary search.
const NOT_COMPRESSED_EXTENSIONS: &[&str] = &[
    "aif", "aifc", "aiff", "apng", "asf", "asx", "au", "avi", "avif", "bmp", "br", "gif", "gz",
    "gzip", "ico", "ief", "jp2", "jpe", "jpeg", "jpg", "kar", "mid", "midi", "mov", "movie", "mp2",
    "mp3", "mp4", "mpe", "mpeg", "mpg", "mpga", "pbm", "pgm", "png", "pnm", "ppm", "qt", "ra",
    "ram", "rar", "ras", "rgb", "rm", "rv", "snd", "tif", "tiff", "wav", "wbmp", "webp", "xbm",
    "xcf", "xpm", "xwd", "xz", "z", "zip",
];

/// How the server frames the body it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Framing {
    /// The mapping asked for `Transfer-Encoding: chunked`: the body goes without a length.
    pub chunked: bool,
    /// The mapping's `Content-Length`, taken out of its headers: the decision to compress reads it.
    pub declared_length: Option<usize>,
}

/// Whether a request takes a gzipped answer: `Accept-Encoding` names `gzip` (any case) with a
/// quality above 0 (`x-gzip` and `*` do not count, as in Jetty). A `HEAD` has no body to compress.
pub fn accepts_gzip<'a>(method: &str, accept_encoding: impl IntoIterator<Item = &'a str>) -> bool {
    method != "HEAD"
        && accept_encoding
            .into_iter()
            .flat_map(|v| v.split(','))
            .any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or_default().trim();
                name.eq_ignore_ascii_case("gzip") && parts.all(|p| quality_above_zero(p.trim()))
            })
}

/// [`accepts_gzip`] of a request as axum holds it, and not for a path whose extension names an
/// already-compressed type ([`compressed_by_extension`]).
pub fn accepts(parts: &axum::http::request::Parts) -> bool {
    let values = parts
        .headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok());
    accepts_gzip(parts.method.as_str(), values) && !compressed_by_extension(parts.uri.path())
}

/// Jetty's reading of a path's type from its extension: the text after its last `.` (path
/// parameters after `;` aside, any case), but `.tar.gz`, which it knows as a (compressible)
/// `application/x-gtar`.
pub fn compressed_by_extension(path: &str) -> bool {
    let path = path.split(';').next().unwrap_or_default();
    let Some((stem, ext)) = path.rsplit_once('.') else {
        return false;
    };
    let ext = ext.to_ascii_lowercase();
    if ext.contains('/') || (ext == "gz" && stem.to_ascii_lowercase().ends_with(".tar")) {
        return false;
    }
    NOT_COMPRESSED_EXTENSIONS
        .binary_search(&ext.as_str())
        .is_ok()
}

/// A body that tells hyper no length, so that it frames it in chunks (HTTP/1.1) as the
/// mapping's `Transfer-Encoding: chunked` asked.
pub fn chunked(body: Vec<u8>) -> axum::body::Body {
    let once = tokio_stream::once(Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(
        body,
    )));
    axum::body::Body::from_stream(once)
}

/// `q=0`, `q=0.0`, `q=0.000` refuse a coding; any other parameter, or another quality, does not.
fn quality_above_zero(param: &str) -> bool {
    match param.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("q") => {
            v.trim().parse::<f32>().map_or(true, |q| q > 0.0)
        }
        _ => true,
    }
}

/// `answer` as it is sent: its framing headers taken out (and what they asked for returned), and
/// gzipped when `gzip` (the request accepts it and `--disable-gzip` is off) and WireMock would.
/// Compression of a large body runs on the blocking pool.
pub async fn prepare(mut answer: Answer, gzip: bool) -> (Answer, Framing) {
    let framing = take_framing(&mut answer);
    if !gzip || !compressible(&answer, framing.declared_length) {
        return (answer, framing);
    }
    if answer.body.len() <= INLINE_BODY {
        compress(&mut answer);
        return (answer, framing);
    }
    let body = std::mem::take(&mut answer.body);
    let body = tokio::task::spawn_blocking(move || gzipped(&body))
        .await
        .unwrap_or_default();
    mark_gzipped(&mut answer, body);
    (answer, framing)
}

/// Takes the mapping's `Transfer-Encoding` and `Content-Length` out. A declared length below the
/// body's cuts it there (WireMock sends that many bytes); a longer one is not sent (it would
/// leave the client waiting for bytes that never come), nor one that is not a number.
fn take_framing(answer: &mut Answer) -> Framing {
    let mut framing = Framing::default();
    let mut declared = None;
    answer.headers.retain(|(name, value)| {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            framing.chunked |= value
                .split(',')
                .any(|c| c.trim().eq_ignore_ascii_case("chunked"));
            false
        } else if name.eq_ignore_ascii_case("content-length") {
            declared = value.trim().parse::<usize>().ok();
            false
        } else {
            true
        }
    });
    if let Some(n) = declared {
        answer.body.truncate(n);
    }
    framing.declared_length = declared;
    framing
}

/// WireMock's (Jetty's) rule, on an answer whose framing headers are already taken out.
fn compressible(answer: &Answer, declared_length: Option<usize>) -> bool {
    (200..300).contains(&answer.status)
        && answer.status != 204
        && answer.status != 205
        && declared_length.is_none_or(|n| n >= MIN_GZIP_SIZE)
        && !answer
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
        && answer
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .is_none_or(|(_, v)| !already_compressed(v))
}

/// A media type on [`NOT_COMPRESSED`], its parameters and case aside.
fn already_compressed(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let lower = essence.to_ascii_lowercase();
    NOT_COMPRESSED.binary_search(&lower.as_str()).is_ok()
}

fn compress(answer: &mut Answer) {
    let body = gzipped(&answer.body);
    mark_gzipped(answer, body);
}

fn gzipped(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 32),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .unwrap_or_default()
}

/// The body replaced by its gzip, `Content-Encoding: gzip` added, and `--gzip` appended to the
/// ETag inside its closing quote (`"abc"` → `"abc--gzip"`, `W/"x"` → `W/"x--gzip"`), as Jetty
/// does so that a cache never takes one encoding's tag for the other's.
fn mark_gzipped(answer: &mut Answer, body: Vec<u8>) {
    answer.body = body;
    for (name, value) in &mut answer.headers {
        if name.eq_ignore_ascii_case("etag") {
            match value.strip_suffix('"') {
                Some(open) => *value = format!("{open}--gzip\""),
                None => value.push_str("--gzip"),
            }
        }
    }
    answer
        .headers
        .push(("Content-Encoding".to_owned(), "gzip".to_owned()));
}

#[cfg(test)]
mod tests;
