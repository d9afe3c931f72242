"""The PyPI jira client against WireMock mappings served behind the token rules: the script a
team already has, unchanged, gets the mapped issue with a token and Jira's 401 without one."""

import json
import pathlib
import signal
import subprocess
import tempfile

import pytest
from jira import JIRA, JIRAError

from conftest import BINARY, create_token

ISSUE = {
    "id": "10001",
    "key": "PROJ-1",
    "self": "http://stub/rest/api/2/issue/10001",
    "fields": {"summary": "Mapped summary", "status": {"name": "Open"}},
}


@pytest.fixture(scope="module")
def mapped_server():
    root = pathlib.Path(tempfile.mkdtemp(prefix="tokenauth-mappings-"))
    (root / "mappings").mkdir()
    (root / "__files").mkdir()
    (root / "mappings" / "issue.json").write_text(json.dumps({
        "request": {"method": "GET", "urlPathPattern": "/rest/api/2/issue/PROJ-1"},
        "response": {"status": 200, "headers": {"Content-Type": "application/json"},
                     "jsonBody": ISSUE},
    }))
    data = tempfile.mkdtemp(prefix="tokenauth-mapped-data-")
    proc = subprocess.Popen(
        [str(BINARY), "--data-dir", data, "--bind", "127.0.0.1:0", "--mappings", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline().strip()
    prefix = "tokenauth-stub listening on "
    assert line.startswith(prefix), f"unexpected first line: {line!r}"
    yield line[len(prefix):]
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


def test_the_jira_client_reads_a_mapped_issue_with_a_token(mapped_server):
    token = create_token(mapped_server, "alice", "alice", "READ_ONLY")
    issue = JIRA(mapped_server, token_auth=token, max_retries=0).issue("PROJ-1")
    assert issue.key == "PROJ-1"
    assert issue.fields.summary == "Mapped summary"


def test_without_a_valid_token_the_mapping_is_not_reached(mapped_server):
    with pytest.raises(JIRAError) as refused:
        JIRA(mapped_server, basic_auth=("alice", "wrong"), max_retries=0).issue("PROJ-1")
    assert refused.value.status_code == 401
