"""Differential: the same WireMock mapping folder served by the real WireMock 3 (npm's `wiremock`
package ships its standalone jar) and by tokenauth-stub with a token; the same requests; the
answers compared — status, the headers the mappings set, and the body (as JSON where it is
JSON). WireMock defines the behaviour, so the test asks WireMock itself."""

import base64
import contextlib
import gzip
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time

import pytest
import requests

from conftest import create_token, running_stub

ROOT = pathlib.Path(__file__).resolve().parents[2]
WIREMOCK_VERSION = "3.13.2"
CACHE = ROOT / ".cache" / "wiremock"


def wiremock_jar():
    jar = CACHE / f"wiremock-standalone-{WIREMOCK_VERSION}.jar"
    if jar.exists():
        return jar
    if not shutil.which("java") or not shutil.which("npm"):
        pytest.skip("needs java and npm (the real WireMock comes from npm's wiremock package)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"wiremock@{WIREMOCK_VERSION}", "--silent"],
                       cwd=tmp, check=True, capture_output=True, timeout=300)
        with tarfile.open(pathlib.Path(tmp) / f"wiremock-{WIREMOCK_VERSION}.tgz") as t:
            member = t.getmember(f"package/build/wiremock-standalone-{WIREMOCK_VERSION}.jar")
            with t.extractfile(member) as src, open(jar, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return jar


# The corpus: Jira-like answers and the generic matchers.
MAPPINGS = [
    {"request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"},
     "response": {"status": 200, "headers": {"Content-Type": "application/json", "X-Kind": "issue"},
                  "jsonBody": {"id": "10001", "key": "PROJ-1", "fields": {"summary": "First", "labels": ["a", "b"], "n": 1.5}}}},
    {"request": {"method": "GET", "urlPath": "/rest/api/2/search",
                 "queryParameters": {"jql": {"equalTo": "project = PROJ"}, "maxResults": {"matches": "[0-9]+"}}},
     "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "bodyFileName": "search.json"}},
    {"request": {"method": "POST", "urlPathTemplate": "/rest/api/2/issue/{key}/comment",
                 "bodyPatterns": [{"equalToJson": {"body": "hello"}, "ignoreExtraElements": True}]},
     "response": {"status": 201, "headers": {"Content-Type": "application/json"},
                  "body": "{\"issue\": \"{{request.pathSegments.[3]}}\", \"method\": \"{{request.method}}\", \"q\": \"{{request.query.x}}\"}",
                  "transformers": ["response-template"]}},
    {"request": {"method": "POST", "urlPath": "/rest/api/2/issue",
                 "bodyPatterns": [{"matchesJsonPath": "$.fields.project"}]},
     "response": {"status": 201, "headers": {"Content-Type": "application/json"}, "jsonBody": {"id": "10002", "key": "PROJ-2"}}},
    {"request": {"method": "GET", "urlPathPattern": "/rest/api/2/user.*",
                 "headers": {"Accept": {"contains": "json"}}},
     "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "jsonBody": {"name": "pattern"}}},
    {"priority": 1,
     "request": {"method": "GET", "urlPath": "/rest/api/2/user/special"},
     "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "jsonBody": {"name": "priority one"}}},
    {"request": {"method": "ANY", "url": "/rest/api/2/anything?exact=1"},
     "response": {"status": 202, "body": "plain text", "headers": {"Content-Type": "text/plain", "X-Multi": ["a", "b"]}}},
    {"request": {"method": "GET", "urlPath": "/rest/api/2/field",
                 "headers": {"X-Absent": {"absent": True}}},
     "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "jsonBody": [{"id": "summary"}]}},
    {"request": {"method": "PUT", "urlPath": "/rest/api/2/issue/PROJ-1",
                 "bodyPatterns": [{"equalToJson": "{\"fields\": {\"labels\": [\"y\", \"x\"]}}", "ignoreArrayOrder": True}]},
     "response": {"status": 204}},
    {"request": {"method": "DELETE", "urlPathPattern": "/rest/api/2/issue/PROJ-[0-9]+"},
     "response": {"status": 204, "headers": {"X-Deleted": "yes"}}},
    {"request": {"method": "GET", "urlPath": "/rest/api/2/base64"},
     "response": {"status": 200, "base64Body": "aGVsbG8gd2lyZW1vY2s="}},
    {"request": {"method": "GET", "urlPath": "/rest/api/2/delayed"},
     "response": {"status": 200, "fixedDelayMilliseconds": 50, "body": "late"}},
    # Basic credentials in the request pattern (outside /rest/, where the token rules do not
    # take the Authorization first): the legacy key and the current one.
    {"request": {"method": "GET", "urlPath": "/basic/legacy", "basicAuth": {"username": "git-user", "password": "git-secret"}},
     "response": {"status": 200, "body": "legacy"}},
    {"request": {"method": "GET", "urlPath": "/basic/current",
                 "headers": {"Authorization": {"contains": "Bearer"}},
                 "basicAuthCredentials": {"username": "git-user", "password": "git-secret"}},
     "response": {"status": 200, "body": "current"}},
    # Jayway's regex filter, on an object (tested itself) and on an array's elements.
    {"request": {"method": "POST", "urlPath": "/rest/api/2/jayway/root",
                 "bodyPatterns": [{"matchesJsonPath": "$[?(@.query =~ /.*CVE-2016-1000031.*/)]"}]},
     "response": {"status": 200, "body": "root"}},
    {"request": {"method": "POST", "urlPath": "/rest/api/2/jayway/list",
                 "bodyPatterns": [{"matchesJsonPath": "$.list[?(@.n =~ /a.c/i)]"}]},
     "response": {"status": 200, "body": "list"}},
    # `request.path` as a list of segments and a map of the template's parameters.
    {"request": {"method": "GET", "urlPathTemplate": "/rest/api/2/tpl/{key}/x"},
     "response": {"status": 200, "transformers": ["response-template"],
                  "body": "[{{request.path.[0]}}|{{request.path.[3]}}|{{request.path.key}}|{{request.path}}]"}},
    # Two operators in one object: WireMock applies the first, in document order.
    {"request": {"method": "POST", "urlPath": "/rest/api/2/first-operator/jsonpath",
                 "bodyPatterns": [{"matchesJsonPath": "$.a", "contains": "xyz"}]},
     "response": {"status": 200, "body": "jsonpath first"}},
    {"request": {"method": "POST", "urlPath": "/rest/api/2/first-operator/contains",
                 "bodyPatterns": [{"contains": "xyz", "matchesJsonPath": "$.a"}]},
     "response": {"status": 200, "body": "contains first"}},
    # What needs the connection itself: the reason phrase, a dribbled body, the faults.
    {"request": {"method": "GET", "urlPath": "/rest/api/2/teapot"},
     "response": {"status": 418, "statusMessage": "Short and stout", "body": "tea"}},
    {"request": {"method": "GET", "urlPath": "/rest/api/2/renamed"},
     "response": {"status": 200, "statusMessage": "Very Fine", "jsonBody": {"ok": True}}},
    {"request": {"method": "GET", "urlPath": "/rest/api/2/dribble"},
     "response": {"status": 200, "headers": {"Content-Type": "text/plain"}, "body": "0123456789abcdefghij",
                  "chunkedDribbleDelay": {"numberOfChunks": 3, "totalDuration": 600}}},
    {"request": {"method": "GET", "urlPath": "/rest/api/2/dribble-more-chunks-than-bytes"},
     "response": {"status": 200, "body": "abc",
                  "chunkedDribbleDelay": {"numberOfChunks": 10, "totalDuration": 300}}},
] + [
    # gzip and framing (mocks/encoding.rs): what WireMock's Jetty compresses, and the framing
    # headers a mapping may set.
    {"request": {"method": "ANY", "urlPath": f"/rest/api/2/gz/{name}"}, "response": response}
    for name, response in {
        "plain": {"status": 200, "body": "hi", "headers": {"Content-Type": "text/plain", "ETag": "\"abc\""}},
        "weak-etag": {"status": 201, "body": "{}", "headers": {"ETag": "W/\"w\""}},
        "empty": {"status": 200},
        "png": {"status": 200, "body": "x" * 100, "headers": {"Content-Type": "image/png"}},
        "svg": {"status": 200, "body": "<svg/>", "headers": {"Content-Type": "image/svg+xml"}},
        "not-found": {"status": 404, "body": "q" * 300},
        "no-content": {"status": 204},
        "reset-content": {"status": 205, "body": "q" * 300},
        "own-encoding": {"status": 200, "body": "q" * 300, "headers": {"Content-Encoding": "identity"}},
        "short-length": {"status": 200, "body": "hello", "headers": {"Content-Length": "5", "ETag": "\"e\""}},
        "length-32": {"status": 200, "body": "a" * 32, "headers": {"Content-Length": "32"}},
        "cut": {"status": 200, "body": "q" * 3000, "headers": {"Content-Length": "10"}},
        "chunked": {"status": 200, "body": "hello", "headers": {"Transfer-Encoding": "chunked", "X-Kind": "te"}},
        "chunked-big": {"status": 200, "body": "z" * 3000, "headers": {"Transfer-Encoding": "chunked"}},
        "favicon.ico": {"status": 200, "body": "q" * 300},
        "logo.PNG": {"status": 200, "body": "q" * 300, "headers": {"Content-Type": "text/plain"}},
        "archive.tar.gz": {"status": 200, "body": "q" * 300},
        "font.woff": {"status": 200, "body": "q" * 300},
    }.items()
] + [
    {"request": {"method": "GET", "urlPath": f"/rest/api/2/fault/{fault}"},
     "response": {"status": 404, "headers": {"X-Kind": "fault"}, "body": "never sent", "fault": fault}}
    for fault in ["CONNECTION_RESET_BY_PEER", "EMPTY_RESPONSE", "MALFORMED_RESPONSE_CHUNK", "RANDOM_DATA_THEN_CLOSE"]
]

REQUESTS = [
    ("GET", "/rest/api/2/issue/PROJ-1", {}, None),
    ("GET", "/rest/api/2/search?jql=project%20%3D%20PROJ&maxResults=50", {}, None),
    ("POST", "/rest/api/2/issue/PROJ-9/comment?x=yes", {"Content-Type": "application/json"}, {"body": "hello", "extra": 1}),
    ("POST", "/rest/api/2/issue", {"Content-Type": "application/json"}, {"fields": {"project": {"key": "PROJ"}}}),
    ("GET", "/rest/api/2/user/someone", {"Accept": "application/json"}, None),
    ("GET", "/rest/api/2/user/special", {"Accept": "application/json"}, None),
    ("PATCH", "/rest/api/2/anything?exact=1", {}, None),
    ("GET", "/rest/api/2/field", {}, None),
    ("PUT", "/rest/api/2/issue/PROJ-1", {"Content-Type": "application/json"}, {"fields": {"labels": ["x", "y"]}}),
    ("DELETE", "/rest/api/2/issue/PROJ-77", {}, None),
    ("GET", "/rest/api/2/base64", {}, None),
    ("GET", "/rest/api/2/delayed", {}, None),
    ("GET", "/rest/api/2/tpl/PROJ-3/x", {}, None),
    ("POST", "/rest/api/2/jayway/root", {"Content-Type": "application/json"}, {"query": "find CVE-2016-1000031 now"}),
    ("POST", "/rest/api/2/jayway/list", {"Content-Type": "application/json"}, {"list": [{"n": "x"}, {"n": "ABC"}]}),
    ("POST", "/rest/api/2/first-operator/jsonpath", {"Content-Type": "application/json"}, {"a": "nope"}),
    ("POST", "/rest/api/2/first-operator/contains", {"Content-Type": "application/json"}, {"b": "xyz"}),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def folder():
    root = pathlib.Path(tempfile.mkdtemp(prefix="tokenauth-diff-"))
    (root / "mappings").mkdir()
    (root / "__files").mkdir()
    for i, m in enumerate(MAPPINGS):
        (root / "mappings" / f"m{i:02}.json").write_text(json.dumps(m))
    (root / "__files" / "search.json").write_text(json.dumps({"total": 1, "issues": [{"key": "PROJ-1"}]}))
    return root


@contextlib.contextmanager
def running_wiremock(root, *extra):
    """The real WireMock on a free port, serving `root` (its `mappings/` and `__files/`);
    yields its URL, stops it on exit."""
    port = free_port()
    proc = subprocess.Popen(
        ["java", "-jar", str(wiremock_jar()), "--port", str(port), "--root-dir", str(root),
         "--disable-banner", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/__admin/mappings", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("WireMock did not start within 60 s")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def wiremock(folder):
    with running_wiremock(folder, "--local-response-templating") as url:
        yield url


@pytest.fixture(scope="module")
def stub(folder):
    with running_stub("--mappings", str(folder)) as url:
        yield url, create_token(url, "alice", "alice", "READ_WRITE")


def answer(r, names):
    ctype = r.headers.get("Content-Type", "")
    try:
        body = r.json() if r.content and "json" in ctype else r.content
    except ValueError:
        body = r.content
    return r.status_code, {n: r.headers.get(n) for n in names}, body


@pytest.mark.parametrize("method,path,headers,body", REQUESTS, ids=[f"{m} {p}" for m, p, _, _ in REQUESTS])
def test_the_stub_answers_each_mapped_request_as_wiremock_does(wiremock, stub, method, path, headers, body):
    stub_url, token = stub
    sent = dict(headers, Authorization=f"Bearer {token}")
    data = json.dumps(body) if body is not None else None
    theirs = requests.request(method, wiremock + path, headers=sent, data=data, timeout=10)
    ours = requests.request(method, stub_url + path, headers=sent, data=data, timeout=10)
    # The headers any mapping of the corpus sets.
    names = ["Content-Type", "X-Kind", "X-Multi", "X-Deleted"]
    assert answer(ours, names) == answer(theirs, names), f"{method} {path}"


def host_port(url):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@pytest.mark.parametrize("path", ["/rest/api/2/teapot", "/rest/api/2/renamed", "/rest/api/2/issue/PROJ-1"])
def test_the_reason_phrase_is_wiremocks(wiremock, stub, path):
    stub_url, token = stub

    def status(url):
        conn = http.client.HTTPConnection(*host_port(url), timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.reason
        finally:
            conn.close()

    assert status(stub_url) == status(wiremock)


def raw_exchange(url, path, token, connection):
    """One GET over a plain socket (with this `Connection` header): each read with its time, and
    how the exchange ended — "eof" (a clean close), the exception's class name (a reset), or
    "last chunk" (a kept-alive chunked answer is complete)."""
    reads = []
    with socket.create_connection(host_port(url), timeout=10) as s:
        start = time.monotonic()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
                  f"Connection: {connection}\r\n\r\n".encode())
        while True:
            try:
                data = s.recv(65536)
            except OSError as e:
                return reads, type(e).__name__
            if not data:
                return reads, "eof"
            reads.append((time.monotonic() - start, data))
            if connection == "keep-alive" and b"".join(d for _, d in reads).endswith(b"\r\n0\r\n\r\n"):
                return reads, "last chunk"


def dechunk(body):
    """A chunked body's chunks, in order."""
    chunks = []
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return chunks
        chunks.append(body[:size])
        body = body[size + 2:]


@pytest.mark.parametrize("path,duration", [("/rest/api/2/dribble", 0.6),
                                           ("/rest/api/2/dribble-more-chunks-than-bytes", 0.3)])
def test_a_dribbled_body_comes_in_wiremocks_chunks(wiremock, stub, path, duration):
    stub_url, token = stub

    def dribbled(url):
        reads, end = raw_exchange(url, path, token, "keep-alive")
        data = b"".join(d for _, d in reads)
        head, body = data.split(b"\r\n\r\n", 1)
        headers = {line.split(b":", 1)[0].strip().lower() for line in head.split(b"\r\n")[1:]}
        # Loosely timed: the whole takes most of the duration, and the chunks come apart.
        assert reads[-1][0] >= 0.8 * duration, (url, reads)
        assert len(reads) >= 2, (url, reads)
        return head.split(b"\r\n")[0], b"transfer-encoding" in headers, dechunk(body), end

    assert dribbled(stub_url) == dribbled(wiremock)


GZ_PATHS = ["plain", "weak-etag", "empty", "png", "svg", "not-found", "no-content", "reset-content", "own-encoding",
            "short-length", "length-32", "cut", "chunked", "chunked-big", "favicon.ico", "logo.PNG", "archive.tar.gz",
            "font.woff"]


def encoded_answer(url, method, path, token, accept_encoding):
    """One exchange over http.client, which decodes nothing: the status, the headers that say
    how the body travels, and the body gunzipped when it says gzip."""
    conn = http.client.HTTPConnection(*host_port(url), timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        if accept_encoding is not None:
            headers["Accept-Encoding"] = accept_encoding
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        encoding = resp.getheader("Content-Encoding")
        body = gzip.decompress(raw) if encoding == "gzip" else raw
        chunked = (resp.getheader("Transfer-Encoding") or "").lower() == "chunked"
        return (resp.status, encoding, resp.getheader("ETag"), resp.getheader("Vary"), resp.getheader("X-Kind"),
                body, chunked if path.endswith(("/chunked", "/chunked-big")) else None)
    finally:
        conn.close()


@pytest.mark.parametrize("accept_encoding", ["gzip", "deflate, GZIP;q=0.5", "gzip;q=0", "x-gzip, *", None])
@pytest.mark.parametrize("name", GZ_PATHS)
def test_a_mapped_answer_is_gzipped_and_framed_as_wiremock_does(wiremock, stub, name, accept_encoding):
    stub_url, token = stub
    path = f"/rest/api/2/gz/{name}"
    for method in ("GET", "POST"):
        ours = encoded_answer(stub_url, method, path, token, accept_encoding)
        assert ours == encoded_answer(wiremock, method, path, token, accept_encoding), (method, path)


def test_head_and_the_servers_own_answers_are_never_gzipped(stub):
    stub_url, token = stub
    assert encoded_answer(stub_url, "HEAD", "/rest/api/2/gz/plain", token, "gzip")[1] is None
    assert encoded_answer(stub_url, "GET", "/rest/api/2/myself", token, "gzip")[1] is None


def test_disable_gzip_sends_mapped_answers_as_they_are(folder):
    with running_wiremock(folder, "--disable-gzip") as wm, running_stub("--mappings", str(folder), "--disable-gzip") as st:
        token = create_token(st, "alice", "alice", "READ_WRITE")
        for name in ("plain", "chunked-big"):
            ours = encoded_answer(st, "GET", f"/rest/api/2/gz/{name}", token, "gzip")
            assert ours == encoded_answer(wm, "GET", f"/rest/api/2/gz/{name}", token, "gzip")
            assert ours[1] is None


@pytest.mark.parametrize("path", ["/basic/legacy", "/basic/current"])
def test_basic_credentials_in_a_mapping_match_as_in_wiremock(wiremock, stub, path):
    stub_url, _ = stub
    right = "Basic " + base64.b64encode(b"git-user:git-secret").decode()
    for headers in ({}, {"Authorization": right}, {"Authorization": right.replace("Basic", "basic")},
                    {"Authorization": "Basic " + base64.b64encode(b"git-user:wrong").decode()},
                    {"Authorization": "Bearer x"}):
        ours = requests.get(stub_url + path, headers=headers, timeout=10)
        theirs = requests.get(wiremock + path, headers=headers, timeout=10)
        assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content) or \
            (ours.status_code == theirs.status_code == 404), (path, headers)
    assert requests.get(stub_url + path, headers={"Authorization": right}, timeout=10).status_code == 200


FAULTS = ["CONNECTION_RESET_BY_PEER", "EMPTY_RESPONSE", "MALFORMED_RESPONSE_CHUNK", "RANDOM_DATA_THEN_CLOSE"]


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_sends_the_bytes_wiremock_sends(wiremock, stub, fault, connection):
    stub_url, token = stub
    path = f"/rest/api/2/fault/{fault}"

    def received(url):
        reads, end = raw_exchange(url, path, token, connection)
        return b"".join(d for _, d in reads), end

    ours, theirs = received(stub_url), received(wiremock)
    assert ours == theirs
    # And what that is, so the comparison cannot pass with both servers answering normally.
    expected_end = "ConnectionResetError" if fault == "CONNECTION_RESET_BY_PEER" else "eof"
    assert ours[1] == expected_end
    assert not ours[0].startswith(b"HTTP/1.1 404")


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_fails_the_clients_request_as_wiremock_does(wiremock, stub, fault):
    stub_url, token = stub
    path = f"/rest/api/2/fault/{fault}"

    def failure_with_requests(url):
        with pytest.raises(requests.RequestException) as e:
            requests.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        cause = e.value.args[0] if e.value.args else None
        # The exception and what it wraps (urllib3's ProtocolError around http.client's error).
        inner = cause.args[1] if getattr(cause, "args", None) and len(cause.args) > 1 else cause
        return type(e.value).__name__, type(inner).__name__

    def failure_with_http_client(url):
        conn = http.client.HTTPConnection(*host_port(url), timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            resp.read()
        except Exception as e:  # noqa: BLE001 — the class is what is compared
            return type(e).__name__
        finally:
            conn.close()
        return f"answered {resp.status}"

    assert failure_with_requests(stub_url) == failure_with_requests(wiremock)
    assert failure_with_http_client(stub_url) == failure_with_http_client(wiremock)
    assert not failure_with_http_client(stub_url).startswith("answered")
