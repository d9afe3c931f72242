"""Differential: WireMock's admin API on the real WireMock 3 and on tokenauth-stub, driven
the same way, answers the same — mappings created, listed, replaced and removed; the journal
counted, found and cleared; scenarios moved and reset. The stub's calls carry a token (its
token rules come first); WireMock's carry none."""

import tempfile
import pathlib

import pytest
import requests

from conftest import create_token, running_stub
from test_wiremock_differential import running_wiremock

ISSUE = {
    "id": "0e6bd2a4-5f1c-4a3e-9a55-3c5b8c1f0001",
    "name": "issue PROJ-1",
    "request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"},
    "response": {"status": 200, "jsonBody": {"key": "PROJ-1"}},
}
SCENARIO = {"mappings": [
    {"id": "0e6bd2a4-5f1c-4a3e-9a55-3c5b8c1f0002", "scenarioName": "transition",
     "requiredScenarioState": "Started", "newScenarioState": "Done",
     "request": {"method": "POST", "urlPath": "/rest/api/2/issue/PROJ-1/transitions"},
     "response": {"status": 204}},
    {"id": "0e6bd2a4-5f1c-4a3e-9a55-3c5b8c1f0003", "scenarioName": "transition",
     "requiredScenarioState": "Done",
     "request": {"method": "POST", "urlPath": "/rest/api/2/issue/PROJ-1/transitions"},
     "response": {"status": 409}},
]}


@pytest.fixture(scope="module")
def both():
    root = pathlib.Path(tempfile.mkdtemp(prefix="tokenauth-admin-diff-"))
    (root / "mappings").mkdir()
    (root / "__files").mkdir()
    with running_wiremock(root) as theirs, running_stub() as ours:
        token = create_token(ours, "alice", "alice", "READ_WRITE")
        yield theirs, ours, {"Authorization": f"Bearer {token}", "X-Atlassian-Token": "no-check"}


def on_both(both, method, path, json=None, client=False):
    """The same call on WireMock and on the stub: admin calls plain, client calls (`client`)
    with the stub's token."""
    theirs, ours, auth = both
    a = requests.request(method, theirs + path, json=json, timeout=10)
    b = requests.request(method, ours + path, json=json, timeout=10,
                         headers=auth if client else {})
    return a, b


def test_the_admin_api_answers_as_wiremocks(both):
    for r in on_both(both, "POST", "/__admin/reset"):
        assert r.status_code == 200

    created = on_both(both, "POST", "/__admin/mappings", ISSUE)
    assert [r.status_code for r in created] == [201, 201]
    for key in ("id", "name", "request"):
        assert created[0].json()[key] == created[1].json()[key], key
    listed = on_both(both, "GET", "/__admin/mappings")
    assert [r.json()["meta"]["total"] for r in listed] == [1, 1]
    assert listed[0].json()["mappings"][0]["id"] == listed[1].json()["mappings"][0]["id"]

    for r in on_both(both, "DELETE", "/__admin/requests"):
        assert r.status_code == 200
    for path in ("/rest/api/2/issue/PROJ-1", "/rest/api/2/issue/PROJ-1", "/rest/api/2/issue/NOPE"):
        theirs, ours = on_both(both, "GET", path, client=True)
        assert theirs.status_code == ours.status_code or path.endswith("NOPE")
    pattern = {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"}
    counted = on_both(both, "POST", "/__admin/requests/count", pattern)
    assert [r.json()["count"] for r in counted] == [2, 2]
    found = on_both(both, "POST", "/__admin/requests/find", pattern)
    assert [[q["url"] for q in r.json()["requests"]] for r in found] == \
        [["/rest/api/2/issue/PROJ-1"] * 2] * 2
    unmatched = on_both(both, "GET", "/__admin/requests/unmatched")
    assert [[q["url"] for q in r.json()["requests"]] for r in unmatched] == \
        [["/rest/api/2/issue/NOPE"]] * 2
    journal = on_both(both, "GET", "/__admin/requests")
    assert [r.json()["meta"]["total"] for r in journal] == [3, 3]
    assert journal[0].json()["requests"][0]["request"]["url"] == \
        journal[1].json()["requests"][0]["request"]["url"]

    replaced = dict(ISSUE, response={"status": 200, "jsonBody": {"key": "PROJ-1", "v": 2}})
    put = on_both(both, "PUT", f"/__admin/mappings/{ISSUE['id']}", replaced)
    assert [r.status_code for r in put] == [200, 200]
    got = on_both(both, "GET", f"/__admin/mappings/{ISSUE['id']}")
    assert got[0].json()["response"]["jsonBody"] == got[1].json()["response"]["jsonBody"]
    served = on_both(both, "GET", "/rest/api/2/issue/PROJ-1", client=True)
    assert served[0].json() == served[1].json() == {"key": "PROJ-1", "v": 2}

    removed = on_both(both, "DELETE", f"/__admin/mappings/{ISSUE['id']}")
    assert [r.status_code for r in removed] == [200, 200]
    gone = on_both(both, "GET", f"/__admin/mappings/{ISSUE['id']}")
    assert [r.status_code for r in gone] == [404, 404]


def test_scenarios_move_and_reset_as_wiremocks(both):
    for r in on_both(both, "POST", "/__admin/reset"):
        assert r.status_code == 200
    imported = on_both(both, "POST", "/__admin/mappings/import", SCENARIO)
    assert [r.status_code for r in imported] == [200, 200]
    steps = [on_both(both, "POST", "/rest/api/2/issue/PROJ-1/transitions", client=True)
             for _ in range(2)]
    assert [[r.status_code for r in pair] for pair in steps] == [[204, 204], [409, 409]]

    def scenarios():
        out = []
        for r in on_both(both, "GET", "/__admin/scenarios"):
            s = r.json()["scenarios"][0]
            out.append((s["name"], s["state"], sorted(s["possibleStates"])))
        return out

    theirs, ours = scenarios()
    assert theirs == ours == ("transition", "Done", ["Done", "Started"])
    for r in on_both(both, "POST", "/__admin/scenarios/reset"):
        assert r.status_code == 200
    theirs, ours = scenarios()
    assert theirs[1] == ours[1] == "Started"

    for r in on_both(both, "POST", "/__admin/mappings/reset"):
        assert r.status_code == 200
    assert [r.json()["meta"]["total"] for r in on_both(both, "GET", "/__admin/mappings")] == [0, 0]


@pytest.mark.parametrize("bad,pointer", [
    ({"request": {"headers": {"Accept": {"nope": "x"}}}}, "/request/headers/Accept"),
    ({"request": {"method": "GET", "urlPath": "/x"}, "response": {"status": "abc"}},
     "/response/status"),
    ({"request": {"urlPattern": "("}}, None),  # WireMock points at /request, the stub deeper
    ({"request": "x"}, "/request"),
])
def test_a_bad_mapping_is_refused_by_both_with_wiremocks_error(both, bad, pointer):
    refused = on_both(both, "POST", "/__admin/mappings", bad)
    assert [r.status_code for r in refused] == [422, 422], [r.text for r in refused]
    errors = [r.json()["errors"][0] for r in refused]
    assert [e["title"] for e in errors] == ["Error parsing JSON"] * 2
    if pointer:
        assert [e["source"]["pointer"] for e in errors] == [pointer, pointer]
    assert [r.json()["meta"]["total"] for r in on_both(both, "GET", "/__admin/mappings")] == [0, 0]
