"""Differential: the same WireMock mapping folder served by the real WireMock 3 (npm's `wiremock`
package ships its standalone jar) and by tokenauth-stub with a token; the same requests; the
answers compared — status, the headers the mappings set, and the body (as JSON where it is
JSON). WireMock defines the behaviour, so the test asks WireMock itself."""

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


@pytest.fixture(scope="module")
def wiremock(folder):
    jar = wiremock_jar()
    port = free_port()
    proc = subprocess.Popen(
        ["java", "-jar", str(jar), "--port", str(port), "--root-dir", str(folder),
         "--disable-banner", "--local-response-templating"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/__admin/mappings", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("WireMock did not start within 60 s")
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


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
