"""A first test: a token, the jira client with it, a mapped issue, a refused write."""
import pytest
from jira import JIRA, JIRAError


def test_read_only_token_reads_the_issue_and_cannot_write(tokenauth_stub):
    tokenauth_stub.add_mapping({
        "request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"},
        "response": {"status": 200, "jsonBody": {"id": "1", "key": "PROJ-1", "fields": {"summary": "Hi"}}}})
    token = tokenauth_stub.create_token("alice", scope="READ_ONLY", validity_days=1)
    jira = JIRA(tokenauth_stub.url, token_auth=token, max_retries=0)
    assert jira.issue("PROJ-1").fields.summary == "Hi"
    with pytest.raises(JIRAError) as refused:
        jira.add_comment("PROJ-1", "not with a Read Only token")
    assert refused.value.status_code == 403
