"""Real third-party clients, unchanged, against tokenauth-stub."""

import pytest
import requests
from atlassian import Confluence, Jira
from jira import JIRA, JIRAError


def test_jira_basic_auth_with_a_token_reads_myself(server, read_only_token):
    jira = JIRA(server, basic_auth=("alice", read_only_token), max_retries=0)
    me = jira.myself()
    assert me["name"] == "alice"
    assert me["emailAddress"] == "alice@example.com"


def test_jira_bearer_token_auth_reads_myself(server, read_only_token):
    jira = JIRA(server, token_auth=read_only_token, max_retries=0)
    assert jira.myself()["name"] == "alice"


def test_jira_server_info_has_version_numbers(server):
    info = JIRA(server, max_retries=0).server_info()
    assert info["versionNumbers"] == [9, 12, 0]
    assert info["deploymentType"] == "Server"


def test_jira_with_a_wrong_token_raises_401(server, read_only_token):
    wrong = read_only_token[:-1] + ("a" if read_only_token[-1] != "a" else "b")
    with pytest.raises(JIRAError) as err:
        JIRA(server, basic_auth=("alice", wrong), max_retries=0).myself()
    assert err.value.status_code == 401


def test_jira_write_with_a_read_only_token_raises_403(server, read_only_token):
    jira = JIRA(server, basic_auth=("alice", read_only_token), max_retries=0)
    with pytest.raises(JIRAError) as err:
        jira.create_issue(fields={"project": {"key": "TEST"}, "summary": "x", "issuetype": {"name": "Task"}})
    assert err.value.status_code == 403
    # The client reports X-Authentication-Denied-Reason, as it does for Jira itself.
    assert err.value.text == "READ_ONLY_TOKEN"


def test_atlassian_jira_write_with_a_read_only_token_is_refused(server, read_only_token):
    jira = Jira(url=server, username="alice", password=read_only_token)
    with pytest.raises(requests.HTTPError) as err:
        jira.issue_create(fields={"project": {"key": "TEST"}, "summary": "x", "issuetype": {"name": "Task"}})
    assert err.value.response.status_code == 403


def test_atlassian_jira_write_with_a_read_write_token_passes_authentication(server, read_write_token):
    jira = Jira(url=server, username="alice", password=read_write_token)
    # The stub echoes instead of creating an issue: authentication and scope passed.
    echo = jira.post("rest/api/2/issue", data={"fields": {"summary": "x"}})
    assert echo["user"] == "alice"
    assert echo["authType"] == "token"
    assert echo["scope"] == "READ_WRITE"


def test_confluence_get_current_user_with_a_token(server, read_only_token):
    confluence = Confluence(url=server, username="alice", password=read_only_token)
    me = confluence.get_current_user()
    assert me["username"] == "alice"
    assert me["type"] == "known"


def test_confluence_bearer_token(server, read_only_token):
    confluence = Confluence(url=server, token=read_only_token)
    assert confluence.get_current_user()["username"] == "alice"


def test_a_script_written_for_jira_dc_pat_api_runs_unchanged(server):
    """Jira DC's PAT API as a provisioning script uses it, then the jira client with the
    token as Bearer (`token_auth=`), then the script's clean-up."""
    session = requests.Session()
    session.auth = ("bob", "bob")
    made = session.post(f"{server}/rest/pat/latest/tokens",
                        json={"name": "nightly sync", "expirationDuration": 90})
    assert made.status_code == 201, made.text
    body = made.json()
    assert isinstance(body["id"], int)
    assert {"name", "createdAt", "expiringAt", "rawToken"} <= body.keys()

    jira = JIRA(server, token_auth=body["rawToken"], max_retries=0)
    assert jira.myself()["name"] == "bob"

    listed = session.get(f"{server}/rest/pat/latest/tokens").json()
    assert [t["id"] for t in listed if t["name"] == "nightly sync"] == [body["id"]]
    assert all("rawToken" not in t for t in listed)
    assert session.get(f"{server}/rest/pat/latest/tokens/{body['id']}").json()["name"] == "nightly sync"

    assert session.delete(f"{server}/rest/pat/latest/tokens/{body['id']}").status_code == 204
    with pytest.raises(JIRAError) as refused:
        JIRA(server, token_auth=body["rawToken"], max_retries=0).myself()
    assert refused.value.status_code == 401
    assert session.get(f"{server}/rest/pat/latest/tokens/{body['id']}").status_code == 404


def test_a_rotated_token_works_in_the_jira_client_and_the_old_one_does_not(server):
    session = requests.Session()
    session.auth = ("bob", "bob")
    made = session.post(f"{server}/rest/tokenauth/1/tokens",
                        json={"description": "rotating", "scope": "READ_ONLY"}).json()
    rotated = session.post(f"{server}/rest/tokenauth/1/tokens/{made['id']}/rotate")
    assert rotated.status_code == 201, rotated.text
    assert JIRA(server, token_auth=rotated.json()["token"], max_retries=0).myself()["name"] == "bob"
    with pytest.raises(JIRAError) as refused:
        JIRA(server, token_auth=made["token"], max_retries=0).myself()
    assert refused.value.status_code == 401
