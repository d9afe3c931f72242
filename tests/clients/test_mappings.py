"""The PyPI jira client against WireMock mappings served behind the token rules: the script a
team already has, unchanged, gets the mapped issue with a token and Jira's 401 without one."""

import json
import pathlib
import tempfile

import pytest
from jira import JIRA, JIRAError

from conftest import create_token, running_stub

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
    with running_stub("--mappings", str(root)) as url:
        yield url


def test_the_jira_client_reads_a_mapped_issue_with_a_token(mapped_server):
    token = create_token(mapped_server, "alice", "alice", "READ_ONLY")
    issue = JIRA(mapped_server, token_auth=token, max_retries=0).issue("PROJ-1")
    assert issue.key == "PROJ-1"
    assert issue.fields.summary == "Mapped summary"


def test_without_a_valid_token_the_mapping_is_not_reached(mapped_server):
    with pytest.raises(JIRAError) as refused:
        JIRA(mapped_server, basic_auth=("alice", "wrong"), max_retries=0).issue("PROJ-1")
    assert refused.value.status_code == 401
