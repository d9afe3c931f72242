//! Each case is what WireMock 3.13.2 answered when asked (tests/clients/test_wiremock_differential.py
//! asks it again).

use std::io::Read;
use std::time::Duration;

use super::*;
use crate::mocks::journal::StubRef;

fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    Answer {
        stub: StubRef {
            id: "id".into(),
            name: None,
        },
        templated: false,
        status,
        status_message: None,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_vec(),
        delay: Duration::ZERO,
        dribble: None,
        fault: None,
        proxy: None,
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap();
    out
}

async fn sent(a: Answer) -> (Answer, Framing) {
    prepare(a, true).await
}

#[test]
fn gzip_is_accepted_when_named_with_a_quality_above_zero() {
    assert!(accepts_gzip("GET", ["gzip"]));
    assert!(accepts_gzip("POST", ["GZIP"]));
    assert!(accepts_gzip("GET", ["deflate, gzip;q=0.5"]));
    assert!(accepts_gzip("GET", ["br", "gzip"]));
    assert!(!accepts_gzip("GET", ["gzip;q=0"]));
    assert!(!accepts_gzip("GET", ["gzip; q=0.000"]));
    assert!(!accepts_gzip("GET", ["*", "x-gzip", "deflate", "identity"]));
    assert!(!accepts_gzip("GET", []));
    assert!(!accepts_gzip("HEAD", ["gzip"]));
}

#[tokio::test]
async fn a_2xx_answer_is_gzipped_however_short_and_its_etag_marked() {
    let (a, framing) = sent(answer(200, &[("ETag", "\"abc\"")], b"hi")).await;
    assert_eq!(header(&a, "content-encoding"), Some("gzip"));
    assert_eq!(header(&a, "etag"), Some("\"abc--gzip\""));
    assert_eq!(gunzip(&a.body), b"hi");
    assert!(!framing.chunked);
    let (weak, _) = sent(answer(201, &[("ETag", "W/\"x\"")], b"")).await;
    assert_eq!(header(&weak, "etag"), Some("W/\"x--gzip\""));
    assert_eq!(gunzip(&weak.body), b"", "an empty body is gzipped too");
    let (bare, _) = sent(answer(206, &[("etag", "abc")], b"q")).await;
    assert_eq!(header(&bare, "etag"), Some("abc--gzip"));
    assert!(header(&bare, "vary").is_none(), "WireMock adds no Vary");
}

#[tokio::test]
async fn other_statuses_and_no_content_are_not_gzipped() {
    for status in [204, 205, 302, 404, 500] {
        let (a, _) = sent(answer(status, &[], &[b'q'; 3000])).await;
        assert_eq!(header(&a, "content-encoding"), None, "{status}");
        assert_eq!(a.body.len(), 3000);
    }
}

#[tokio::test]
async fn compressed_types_and_the_mappings_own_encoding_are_left_alone() {
    for ct in [
        "image/png",
        "IMAGE/PNG; charset=x",
        "video/mp4",
        "application/zip",
        "text/event-stream;charset=utf-8",
    ] {
        let (a, _) = sent(answer(200, &[("Content-Type", ct)], b"body")).await;
        assert_eq!(header(&a, "content-encoding"), None, "{ct}");
    }
    for ct in [
        "image/svg+xml",
        "image/x-foo",
        "application/x-gzip",
        "font/woff2",
    ] {
        let (a, _) = sent(answer(200, &[("Content-Type", ct)], b"body")).await;
        assert_eq!(header(&a, "content-encoding"), Some("gzip"), "{ct}");
    }
    let (a, _) = sent(answer(200, &[("Content-Encoding", "identity")], b"body")).await;
    assert_eq!(a.body, b"body");
    assert_eq!(a.headers.len(), 1);
}

#[tokio::test]
async fn a_declared_length_below_32_bytes_is_not_gzipped_and_a_short_one_cuts_the_body() {
    let (a, _) = sent(answer(200, &[("Content-Length", "31")], &[b'a'; 31])).await;
    assert_eq!(header(&a, "content-encoding"), None);
    assert_eq!(
        header(&a, "content-length"),
        None,
        "the server sends the length"
    );
    let (a, _) = sent(answer(200, &[("Content-Length", "32")], &[b'a'; 32])).await;
    assert_eq!(header(&a, "content-encoding"), Some("gzip"));
    let (cut, _) = prepare(
        answer(200, &[("Content-Length", "10")], &[b'q'; 3000]),
        false,
    )
    .await;
    assert_eq!(cut.body.len(), 10);
    let (long, _) = prepare(answer(200, &[("Content-Length", "100")], b"short"), false).await;
    assert_eq!(long.body, b"short");
}

#[tokio::test]
async fn transfer_encoding_is_the_servers_and_chunked_asks_for_chunks() {
    let (a, framing) = prepare(
        answer(
            200,
            &[("Transfer-Encoding", "chunked"), ("X-A", "1")],
            b"hello",
        ),
        false,
    )
    .await;
    assert!(framing.chunked);
    assert_eq!(a.headers, [("X-A".to_owned(), "1".to_owned())]);
    let (_, framing) = prepare(
        answer(200, &[("transfer-encoding", "identity")], b"x"),
        false,
    )
    .await;
    assert!(!framing.chunked);
}

#[tokio::test]
async fn without_gzip_nothing_is_compressed() {
    let (a, _) = prepare(answer(200, &[], b"hello"), false).await;
    assert_eq!(a.body, b"hello");
    assert!(a.headers.is_empty());
}

#[tokio::test]
async fn a_large_body_is_gzipped_off_the_async_threads_all_the_same() {
    let body = vec![b'z'; INLINE_BODY + 1];
    let (a, _) = sent(answer(200, &[], &body)).await;
    assert_eq!(gunzip(&a.body), body);
}

#[test]
fn a_path_whose_extension_names_a_compressed_type_is_not_gzipped() {
    for p in [
        "/favicon.ico",
        "/a.PNG",
        "/n.png;x=1",
        "/f.gz",
        "/x.zip",
        "/s.mp3",
    ] {
        assert!(compressed_by_extension(p), "{p}");
    }
    for p in [
        "/i.svg",
        "/k.woff",
        "/l.unknownext",
        "/m.png/x",
        "/t.tar.gz",
        "/plain",
        "/",
    ] {
        assert!(!compressed_by_extension(p), "{p}");
    }
}

#[test]
fn the_lists_of_compressed_types_are_sorted() {
    assert!(NOT_COMPRESSED.windows(2).all(|w| w[0] < w[1]));
    assert!(NOT_COMPRESSED_EXTENSIONS.windows(2).all(|w| w[0] < w[1]));
}
