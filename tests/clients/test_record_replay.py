"""Record your Jira, replay it in CI (docs/src/developers/record-replay.md), run as written: the
real WireMock serving a folder stands in for "your Jira" (it answers only with the operator's
credential), the manual's commands record the PyPI `jira` client's script through the stub, and
replay it with no upstream. Then the recorded folder is loaded into the real WireMock too, and
every recorded request is answered the same by both; and no file of it holds a secret in any
form."""

import base64
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import urllib.parse

import requests

from conftest import BINARY, ROOT, running_stub
from test_wiremock_differential import running_wiremock

PAT = "jira-personal-access-token-0123456789"


def manual_blocks():
    text = (ROOT / "docs" / "src" / "developers" / "record-replay.md").read_text()
    section = text[text.index("## The recipe"):]
    py = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    sh = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return py, sh


def jira_folder(root):
    """What "your Jira" answers, and only to the operator's credential."""
    (root / "mappings").mkdir(parents=True)
    (root / "__files").mkdir()
    auth = {"Authorization": {"equalTo": f"Bearer {PAT}"}}
    issue = {"id": "10001", "key": "PROJ-1", "self": "http://jira/rest/api/2/issue/10001",
             "fields": {"summary": "Recorded from the real server", "status": {"name": "Open"}}}
    mappings = [
        {"request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1", "headers": auth},
         "response": {"status": 200, "jsonBody": issue, "headers": {"Content-Type": "application/json"}}},
        {"request": {"method": "GET", "urlPathPattern": "/rest/api/2/search(/jql)?", "headers": auth},
         "response": {"status": 200, "headers": {"Content-Type": "application/json"},
                      "jsonBody": {"startAt": 0, "maxResults": 50, "total": 2, "issues": [
                          issue, {"id": "10002", "key": "PROJ-2", "fields": {"summary": "Second"}}]}}},
        {"request": {"method": "GET", "urlPath": "/rest/api/2/field", "headers": auth},
         "response": {"status": 200, "jsonBody": [], "headers": {"Content-Type": "application/json"}}},
        {"priority": 10, "request": {"method": "ANY", "urlPattern": ".*"},
         "response": {"status": 401, "jsonBody": {"errorMessages": ["not the operator's credential"]}}},
    ]
    (root / "mappings" / "jira.json").write_text(json.dumps({"mappings": mappings}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forms(secret):
    """A secret as sent, URL-encoded, and the middle of its base64 at each alignment."""
    out = {secret, urllib.parse.quote(secret, safe="")}
    for skip in range(3):
        b64 = base64.b64encode(secret[skip:].encode()).decode()
        out.add(b64[4:-4])
    return out


def request_of(mapping):
    """The request a recorded mapping answers: method, URL with its query, body."""
    r = mapping["request"]
    url = r.get("url") or r["urlPath"]
    if "queryParameters" in r:
        url += "?" + urllib.parse.urlencode({k: v["equalTo"] for k, v in r["queryParameters"].items()})
    body = None
    for p in r.get("bodyPatterns", []):
        body = p.get("equalToJson") or p.get("equalTo")
    return r["method"], url, body


def test_the_manual_recipe_records_through_the_stub_and_replays_the_same(tmp_path):
    py, sh = manual_blocks()
    jira_folder(tmp_path / "jira")
    (tmp_path / "my_script.py").write_text(py)
    port = str(free_port())
    bin_dir = pathlib.Path(sys.executable).parent
    with running_wiremock(tmp_path / "jira") as jira_url:
        env = dict(os.environ, PATH=f"{BINARY.parent}:{bin_dir}:{os.environ.get('PATH', '')}",
                   JIRA_URL=jira_url, JIRA_PAT=PAT)
        env.pop("TOKENAUTH_UPSTREAM_AUTHORIZATION", None)
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", sh.replace("2990", port)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("same answers"), run.stdout
    recorded_run = (tmp_path / "recorded-run.txt").read_text().splitlines()
    assert recorded_run == ["PROJ-1 Recorded from the real server", "found PROJ-1", "found PROJ-2"]

    recorded = tmp_path / "recorded"
    files = [p for p in recorded.rglob("*") if p.is_file()]
    mappings = [json.loads(p.read_text()) for p in (recorded / "mappings").glob("*.json")]
    assert mappings, "the recording wrote mappings"
    secret = re.search(r'secret = "(.*)"', (tmp_path / "users.toml").read_text()).group(1)
    for path in files:
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
        text = path.read_bytes().decode("utf-8", "replace")
        for s in (PAT, secret):
            for form in forms(s) | forms(f"Bearer {s}"):
                assert form not in text, f"{path} holds a form of a secret"

    # The recorded folder in the real WireMock, and replayed by the stub: the same answers.
    with running_wiremock(recorded) as wiremock, \
            running_stub("--users", str(tmp_path / "users.toml"), "--mappings", str(recorded)) as stub:
        compared = 0
        for m in mappings:
            method, url, body = request_of(m)
            headers = {"Content-Type": "application/json"} if body else {}
            theirs = requests.request(method, wiremock + url, data=body, headers=headers, timeout=10)
            ours = requests.request(method, stub + url, data=body, timeout=10,
                                    headers={**headers, "Authorization": f"Bearer {secret}"})
            assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content), url
            compared += 1
            assert requests.request(method, stub + url, data=body, timeout=10).status_code == 401
        assert compared == len(mappings)


def test_a_proxy_mapping_answers_as_wiremocks_does(tmp_path):
    """The same `proxyBaseUrl` mapping (with `additionalProxyRequestHeaders` and
    `removeProxyRequestHeaders`) in the real WireMock and in the stub, both in front of one
    upstream (a third WireMock that answers with the headers it got): the same answers, except
    that the stub sends on none of the caller's credentials."""
    upstream = tmp_path / "upstream"
    (upstream / "mappings").mkdir(parents=True)
    (upstream / "__files").mkdir()
    (upstream / "mappings" / "echo.json").write_text(json.dumps({
        "request": {"method": "ANY", "urlPathPattern": "/rest/.*"},
        "response": {"status": 200, "headers": {"Content-Type": "text/plain", "X-Upstream": "yes"},
                     "body": "{{request.method}} {{request.url}} env={{request.headers.X-Env}} "
                             "trace={{request.headers.X-Trace}} keep={{request.headers.X-Keep}}",
                     "transformers": ["response-template"]}}))
    with running_wiremock(upstream, "--local-response-templating") as up:
        front = tmp_path / "front"
        (front / "mappings").mkdir(parents=True)
        (front / "__files").mkdir()
        (front / "mappings" / "proxy.json").write_text(json.dumps({
            "request": {"method": "ANY", "urlPathPattern": "/rest/api/2/.*"},
            "response": {"proxyBaseUrl": up, "additionalProxyRequestHeaders": {"X-Env": "ci"},
                         # Lower-case: WireMock 3.13.2 compares this list with lower-cased
                         # header names as written (later WireMock lower-cases the list; the
                         # stub compares without case, see record-replay.md).
                         "removeProxyRequestHeaders": ["x-trace"]}}))
        with running_wiremock(front) as wiremock, running_stub("--mappings", str(front)) as stub:
            from conftest import create_token
            token = create_token(stub, "alice", "alice", "READ_WRITE")
            for method, path, body in [("GET", "/rest/api/2/issue/P-1?fields=summary", None),
                                       ("POST", "/rest/api/2/issue", '{"fields": {}}'),
                                       ("DELETE", "/rest/api/2/issue/P-1", None)]:
                headers = {"X-Trace": "t-1", "X-Keep": "k-1", "Content-Type": "application/json"}
                theirs = requests.request(method, wiremock + path, data=body, headers=headers, timeout=10)
                ours = requests.request(method, stub + path, data=body, timeout=10,
                                        headers={**headers, "Authorization": f"Bearer {token}"})
                assert (ours.status_code, ours.text) == (theirs.status_code, theirs.text), path
                assert ours.headers["X-Upstream"] == theirs.headers["X-Upstream"] == "yes"
                assert "env=ci trace= keep=k-1" in ours.text, ours.text
            assert requests.get(stub + "/rest/api/2/issue/P-1", timeout=10).status_code == 401
