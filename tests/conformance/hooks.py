"""Schemathesis hooks of the conformance run (scripts/conformance.sh): the credentials of one of
the server's three ways to authenticate on every operation that takes credentials.

CONFORMANCE_AUTH picks the way, one per run:
- `basic`: HTTP Basic as the admin;
- `bearer`: an API token of the admin's, minted with Basic through `POST /rest/tokenauth/1/tokens`;
- `session`: the JSESSIONID cookie of `POST /rest/auth/1/session`, with `X-Atlassian-Token:
  no-check` as a non-browser client sends it (the cookie's writes are refused without it or a
  JSON body, see core's csrf rule).

A run exercises the operations that end its own credential: `deleteSession`, and the revocations
by id (`revokeToken`, `revokePersonalAccessToken`, ...) reached through links from the lists,
whose first entry is often the run's own token. After a 401 the credential is tried once on
`GET /rest/api/2/myself`; if it is dead, the next request gets a new one (a new token, a new
session). So none of those operations has to be left out, and a run does not lock itself out half
way. (Not schemathesis' own re-authentication on 401: it gives up on an operation for the rest of
the run once a request without credentials, a negative case, was refused with 401 again after a
new login, and the credential of this run dies in the stateful phase.)

CONFORMANCE_LOG, if set, names a file that gets one line per call (phase, generation mode,
operation, status, the body of a 4xx) and one per new credential: what to read when a warning
says an operation "mostly" answered something.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request

import schemathesis

ADMIN = os.environ.get("CONFORMANCE_ADMIN", "admin")
ADMIN_PASSWORD = os.environ.get("CONFORMANCE_ADMIN_PASSWORD", "admin")
MODE = os.environ.get("CONFORMANCE_AUTH", "basic")
COOKIE = "JSESSIONID"


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()


def _post(url: str, body: dict, headers: dict[str, str]) -> urllib.request.addinfourl:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    return urllib.request.urlopen(req, timeout=30)


def _base(context_or_case) -> str:
    return context_or_case.operation.schema.get_base_url().rstrip("/")


def _anonymous(case) -> bool:
    """An operation documented without credentials (`security: []`) is sent without them."""
    return case.operation.definition.raw.get("security") == []


# The credential of the run (token or session id) while it lives; None: get a new one.
_current: str | None = None


def _probe_headers(credential: str) -> dict[str, str]:
    if MODE == "bearer":
        return {"Authorization": f"Bearer {credential}"}
    return {"Cookie": f"{COOKIE}={credential}"}


def _alive(base: str, credential: str) -> bool:
    req = urllib.request.Request(f"{base}/rest/api/2/myself", headers=_probe_headers(credential))
    try:
        with urllib.request.urlopen(req, timeout=30):
            return True
    except urllib.error.HTTPError as e:
        return e.code != 401


class _Provider:
    def get(self, case, context) -> str:
        global _current
        if _current is None:
            _current = self.new(_base(context))
            _log("auth", "-", f"new {MODE} credential", "-")
        return _current

    def set(self, case, data, context) -> None:
        if _anonymous(case):
            return
        # One credential per request: a generated value of another scheme's parameter (the
        # document lists all three) would make it a request with two.
        case.headers = dict(case.headers or {})
        case.cookies = dict(case.cookies or {})
        case.headers.pop("Authorization", None)
        case.cookies.pop(COOKIE, None)
        self.apply(case, data)


if MODE == "basic":

    @schemathesis.auth(refresh_interval=None)
    class Basic(_Provider):
        def new(self, base: str) -> str:
            return _basic()

        def apply(self, case, data: str) -> None:
            case.headers["Authorization"] = data

elif MODE == "bearer":

    @schemathesis.auth(refresh_interval=None)
    class Bearer(_Provider):
        def new(self, base: str) -> str:
            # Without an expiry (settings.json allows it): a token made or rotated with a token
            # may not outlive it, and a generated validity (the documents' examples: 90 days, once
            # the settings' example made that the maximum) would be refused for the run's token
            # rather than for what it asks. With an expiry if the run has disallowed that since.
            body = {"description": "conformance", "scope": "READ_WRITE"}
            for extra in ({"neverExpires": True}, {}):
                try:
                    with _post(
                        f"{base}/rest/tokenauth/1/tokens", {**body, **extra}, {"Authorization": _basic()}
                    ) as resp:
                        return json.load(resp)["token"]
                except urllib.error.HTTPError as e:
                    if e.code != 400 or not extra:
                        raise
            raise AssertionError("unreachable")

        def apply(self, case, data: str) -> None:
            case.headers["Authorization"] = f"Bearer {data}"

elif MODE == "session":

    @schemathesis.auth(refresh_interval=None)
    class Session(_Provider):
        def new(self, base: str) -> str:
            with _post(
                f"{base}/rest/auth/1/session",
                {"username": ADMIN, "password": ADMIN_PASSWORD},
                {},
            ) as resp:
                for header in resp.headers.get_all("Set-Cookie") or []:
                    name, _, rest = header.partition("=")
                    if name.strip() == COOKIE:
                        return rest.split(";", 1)[0]
            raise RuntimeError(f"no {COOKIE} cookie in the login's answer")

        def apply(self, case, data: str) -> None:
            case.cookies[COOKIE] = data
            case.headers["X-Atlassian-Token"] = "no-check"

else:
    raise RuntimeError(f"CONFORMANCE_AUTH must be basic, bearer or session, not {MODE!r}")


# Existing resources for the operations that name one (tests/conformance/users.toml and
# tests/conformance/wiremock), in the phases that generate their ids: a generated name finds no
# user, a generated id no mapping (404 in every case). Never the admin: changing its password or
# groups, deleting it or revoking all its tokens would end the run's own credentials.
# Not in the stateful phase: there the ids come from the links (the user, token or PAT just
# created), which is what that phase tests; schemathesis.toml's `parameters` would apply there
# too, over the linked values.
FIXTURE_MAPPING_READ = "c0f0a11e-0000-4000-8000-000000000001"
FIXTURE_MAPPING_DELETED = "c0f0a11e-0000-4000-8000-000000000002"
FIXED_PATH = {
    # carol: changed, given tokens, unlocked and stripped of tokens, never deleted.
    "PUT /rest/tokenauth/1/admin/users/{user}": {"user": "carol"},
    "POST /rest/tokenauth/1/admin/users/{user}/reset-failed-logins": {"user": "carol"},
    "POST /rest/tokenauth/1/admin/users/{user}/tokens": {"user": "carol"},
    "DELETE /rest/tokenauth/1/admin/users/{user}/tokens": {"user": "carol"},
    "DELETE /rest/de.resolution.apitokenauth/latest/user/token/deleteAllFor/{userKey}": {"userKey": "carol"},
    # dave: deleted by the first call; the later ones find no such user.
    "DELETE /rest/tokenauth/1/admin/users/{user}": {"user": "dave"},
    # The two mappings tests/conformance/wiremock loads (`resetMappings` and `resetAll` restore
    # them): one read, one removed.
    "GET /__admin/mappings/{id}": {"id": FIXTURE_MAPPING_READ},
    # Replaced with a generated mapping (of a /mock/ path): still there to be read.
    "PUT /__admin/mappings/{id}": {"id": FIXTURE_MAPPING_READ},
    "DELETE /__admin/mappings/{id}": {"id": FIXTURE_MAPPING_DELETED},
}
# The request journal's ids are made by the server as requests arrive: no fixed value can name an
# entry. `getRequest` is given the id of the newest entry: a request that the journal keeps (the
# admin API's own are not kept), then the list's first entry.
JOURNAL_ENTRY = "GET /__admin/requests/{id}"


def _newest_journal_entry(base: str) -> str | None:
    urllib.request.urlopen(f"{base}/rest/api/2/serverInfo", timeout=30).close()
    with urllib.request.urlopen(f"{base}/__admin/requests?limit=1", timeout=30) as resp:
        entries = json.load(resp)["requests"]
    return entries[0]["id"] if entries else None


# In the stateful phase a created user is where six links start (update, delete, tokens...), but
# generated names repeat ("alice", the document's example, short strings): most creations would
# be 409s, whose links lead nowhere. A suffix makes each a new user.
CREATE_USER = "POST /rest/tokenauth/1/admin/users"
_created = 0


def _new_user_name(case) -> None:
    global _created
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("name"), str) and body["name"]:
        _created += 1
        case.body = {**body, "name": f"{body['name'][:240]}-{_created}"}


# The fuzzing phase ends with `DELETE /__admin/mappings` (it runs after the resets), so the
# stateful phase would start without mappings and `listMappings`' link to `getMapping` would
# find no id to follow. It starts with the two fixtures back.
_stateful_ready = False


def _stateful_setup(base: str) -> None:
    global _stateful_ready
    if not _stateful_ready:
        _stateful_ready = True
        urllib.request.urlopen(
            urllib.request.Request(f"{base}/__admin/mappings/reset", method="POST"), timeout=30
        ).close()


# Expiry notices and test messages go to this machine's discard port (where nothing listens),
# whatever a phase generated: schemathesis.toml's fixed `webhookUrl` does not reach the coverage
# phase, which sent "http://0" (this machine's port 80), and a settings body could name a webhook
# too. A generated URL would be a signed request to anywhere.
TEST_NOTICE = "POST /rest/tokenauth/1/admin/notifications/test"
UPDATE_SETTINGS = "PUT /rest/tokenauth/1/admin/settings"
DISCARD_ORIGIN = "http://127.0.0.1:9"
DISCARD = f"{DISCARD_ORIGIN}/conformance"


def _no_webhook_but_the_discard_port(case) -> None:
    body = case.body
    if case.operation.label == TEST_NOTICE and isinstance(body, dict) and "webhookUrl" in body:
        case.body = {**body, "webhookUrl": DISCARD}
    elif case.operation.label == UPDATE_SETTINGS and isinstance(body, dict):
        notices = body.get("notifications")
        if isinstance(notices, dict) and notices.get("webhookUrl") is not None:
            case.body = {**body, "notifications": {**notices, "webhookUrl": DISCARD}}
        elif "notifications" in body and not isinstance(notices, dict):
            case.body = {k: v for k, v in body.items() if k != "notifications"}


# `stopRecording` answers 400 "Not currently recording." unless a recording runs, and a phase
# calls it some fifty times after `startRecording`'s cases: one 200, then only refusals, which
# schemathesis may judge an operation that "mostly rejected generated data" (a warning, so a failed
# run, as CI's of 2026-12-07 was). Each call gets a recording to stop, of the discard port (no
# request reaches it in between: the calls run one at a time), so every case meets the operation
# itself. What stop answers when nothing records is covered by tests/tests/recording.rs.
STOP_RECORDING = "POST /__admin/recordings/stop"


def _a_recording_to_stop(base: str) -> None:
    with urllib.request.urlopen(f"{base}/__admin/recordings/status", timeout=30) as resp:
        recording = json.load(resp).get("status") == "Recording"
    if not recording:
        _post(f"{base}/__admin/recordings/start", {"targetBaseUrl": DISCARD_ORIGIN}, {}).close()


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    _no_webhook_but_the_discard_port(case)
    if case.operation.label == STOP_RECORDING:
        _a_recording_to_stop(_base(case))
    meta = case.meta
    if meta is None:
        return
    if meta.phase.name.value == "stateful":
        _stateful_setup(_base(case))
        if case.operation.label == CREATE_USER and meta.generation.mode.value == "positive":
            _new_user_name(case)
        return
    label = case.operation.label
    fixed = FIXED_PATH.get(label)
    if fixed is None and label == JOURNAL_ENTRY and meta.generation.mode.value == "positive":
        entry = _newest_journal_entry(_base(case))
        fixed = {"id": entry} if entry else None
    if fixed:
        case.path_parameters = {**(case.path_parameters or {}), **fixed}


_LOG = os.environ.get("CONFORMANCE_LOG")


def _log(*fields: str) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write("\t".join(fields) + "\n")


@schemathesis.hook
def after_call(context, case, response) -> None:
    global _current
    if _LOG:
        meta = case.meta
        # A refusal says why in its body; the rest is not needed to read a warning.
        why = response.text[:200].replace("\n", " ") if 400 <= response.status_code < 500 else ""
        _log(
            meta.phase.name.value if meta else "-",
            meta.generation.mode.value if meta else "-",
            case.operation.label,
            str(response.status_code),
            why,
        )
    if MODE == "session" and case.operation.label == "DELETE /rest/auth/1/session" and response.status_code == 204:
        _current = None  # logged out: the next request logs in again
    elif (
        MODE != "basic"
        and response.status_code == 401
        and _current is not None
        and not _alive(_base(case), _current)
    ):
        _current = None
