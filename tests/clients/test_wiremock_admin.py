"""WireMock's own admin client (PyPI `wiremock` 2.7) drives the stub's `/__admin/` API: a
mapping created through it answers the `jira` client behind the token rules, the journal shows
the call with the stub's decision and no secret, counts match, and a reset empties it all."""

import base64
import json
import urllib.error
import urllib.request

import pytest
from jira import JIRA, JIRAError
from wiremock.constants import Config
from wiremock.resources.mappings import (
    HttpMethods,
    Mapping,
    MappingRequest,
    MappingResponse,
)
from wiremock.resources.mappings.resource import Mappings
from wiremock.resources.near_misses import NearMissMatchPatternRequest
from wiremock.resources.requests.resource import Requests
from wiremock.resources.scenarios.resource import Scenarios

from conftest import create_token, running_stub

ISSUE = {
    "id": "10002",
    "key": "ADM-7",
    "self": "http://stub/rest/api/2/issue/10002",
    "fields": {"summary": "Made through the admin API", "status": {"name": "Open"}},
}


@pytest.fixture()
def stub():
    with running_stub() as url:
        Config.base_url = f"{url}/__admin"
        Config.headers = {}
        yield url


def issue_mapping():
    return Mapping(
        priority=1,
        request=MappingRequest(method=HttpMethods.GET, url_path="/rest/api/2/issue/ADM-7"),
        response=MappingResponse(
            status=200, headers={"Content-Type": "application/json"}, json_body=ISSUE
        ),
    )


def test_a_mapping_made_with_the_wiremock_client_answers_the_jira_client_with_a_token(stub):
    created = Mappings.create_mapping(issue_mapping())
    assert created.id
    assert [m.id for m in Mappings.retrieve_all_mappings().mappings] == [created.id]

    token = create_token(stub, "alice", "alice", "READ_ONLY")
    issue = JIRA(stub, token_auth=token, max_retries=0).issue("ADM-7")
    assert issue.fields.summary == "Made through the admin API"
    with pytest.raises(JIRAError) as refused:
        JIRA(stub, basic_auth=("alice", "wrong"), max_retries=0).issue("ADM-7")
    assert refused.value.status_code == 401

    journal = Requests.get_all_received_requests()
    raw = json.dumps(journal.get_json_data())
    assert token not in raw, "the token reached the journal"
    served = [r for r in journal.requests
              if r.request.url == "/rest/api/2/issue/ADM-7" and r.response_definition.status == 200]
    assert len(served) == 1
    assert Requests.get_request(served[0].id).request.url == "/rest/api/2/issue/ADM-7"
    # What the stub decided, beside WireMock's members (the client's model drops them).
    with urllib.request.urlopen(f"{stub}/__admin/requests/{served[0].id}") as resp:
        entry = json.load(resp)
    assert entry["tokenauth"]["decision"] == "allowed"
    assert entry["tokenauth"]["authType"] == "token"
    assert entry["tokenauth"]["matchedMapping"]["id"] == created.id
    assert entry["request"]["headers"]["authorization"] == "[redacted]"

    count = Requests.get_matching_request_count(
        NearMissMatchPatternRequest(url_path="/rest/api/2/issue/ADM-7", method="GET"))
    assert count.count == 2  # the allowed call and the refused one

    Requests.reset_request_journal()
    assert Requests.get_all_received_requests().meta.total == 0
    Mappings.delete_all_mappings()
    assert Mappings.retrieve_all_mappings().meta.total == 0


def test_update_delete_scenarios_and_unmatched_through_the_client(stub):
    created = Mappings.create_mapping(issue_mapping())
    created.response.json_body = {**ISSUE, "key": "ADM-8"}
    updated = Mappings.update_mapping(created)
    assert updated.response.json_body["key"] == "ADM-8"
    assert Mappings.retrieve_mapping(created.id).response.json_body["key"] == "ADM-8"

    token = create_token(stub, "alice", "alice", "READ_ONLY")
    req = urllib.request.Request(f"{stub}/rest/api/2/issue/NOPE-1")
    req.add_header("Authorization", f"Bearer {token}")
    urllib.request.urlopen(req).read()
    unmatched = Requests.get_unmatched_requests().requests
    assert [r.url for r in unmatched] == ["/rest/api/2/issue/NOPE-1"]

    Mappings.delete_mapping(created.id)
    assert Mappings.retrieve_all_mappings().meta.total == 0
    Scenarios.reset_all_scenarios()
    Mappings.reset_mappings()


def test_from_another_address_the_admin_api_needs_an_administrator(stub):
    """A proxy on this machine forwards a remote client: `X-Forwarded-For` makes the call not
    local, so credentials are required and only an administrator's are enough."""
    def call(auth=None):
        req = urllib.request.Request(f"{stub}/__admin/mappings")
        req.add_header("X-Forwarded-For", "203.0.113.9")
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            return urllib.request.urlopen(req).status
        except urllib.error.HTTPError as e:
            return e.code

    assert call() == 401
    assert call("alice:alice") == 403
    assert call("admin:admin") == 200
    # The client library with an administrator's credentials in its headers.
    Config.headers = {"X-Forwarded-For": "203.0.113.9",
                      "Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
    Mappings.create_mapping(issue_mapping())
    assert Mappings.retrieve_all_mappings().meta.total == 1
