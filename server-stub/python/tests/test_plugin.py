"""The plugin's own behaviour, as a user's suite meets it: pytester runs inner test sessions
with only the installed package (no conftest of the project), and the handle is checked for
what it promises — a fresh server per test, distinct ports and directories under xdist, a clean
shutdown, the log in a failing test's report, settings and users, a clear start error."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sysconfig
import time
import tomllib

import pytest
from wiremock.resources.mappings import HttpMethods, Mapping, MappingRequest, MappingResponse
from wiremock.resources.mappings.resource import Mappings

from tokenauth_stub import StubServer, StubStartError, __version__, binary_path

pytest_plugins = ["pytester"]

WORKSPACE = pathlib.Path(__file__).resolve().parents[3]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_the_wheel_carries_the_binary_of_the_crates_version() -> None:
    with open(WORKSPACE / "Cargo.toml", "rb") as f:
        crate = tomllib.load(f)["workspace"]["package"]["version"]
    assert __version__ == crate
    if "TOKENAUTH_STUB_BIN" not in os.environ:
        # The installed script, not some other tokenauth-stub on PATH.
        assert pathlib.Path(binary_path()).parent == pathlib.Path(sysconfig.get_path("scripts"))
    out = subprocess.run([binary_path(), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"tokenauth-stub {crate}"
    assert "Usage: tokenauth-stub" in subprocess.run([binary_path(), "--help"], capture_output=True, text=True).stdout


def test_stop_leaves_no_process_port_or_directory() -> None:
    server = StubServer().start()
    pid, port, private = server.process.pid, server.port, server.dir
    assert [p.name for p in private.glob("tokenauth-*")], "the ephemeral data lives in the private dir"
    assert server.call("GET", "/status")[0] == 200, "ready when start() returns"
    assert server.stop() == 0, "SIGTERM is a clean shutdown"
    assert gone(pid) and closed(port) and not private.exists()


def test_a_server_that_ignores_sigterm_is_killed_and_its_data_removed() -> None:
    server = StubServer().start()
    pid, private = server.process.pid, server.dir
    os.kill(pid, signal.SIGSTOP)  # a hung server: SIGTERM waits in vain
    started = time.monotonic()
    assert server.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert gone(pid) and not private.exists(), "a kill leaves no ephemeral directory behind"


def test_an_invalid_users_file_fails_at_once_with_the_servers_message() -> None:
    started = time.monotonic()
    with pytest.raises(StubStartError) as failed:
        StubServer(users=[{"name": "carol"}]).start()
    assert time.monotonic() - started < 10, "the exit is noticed, not waited out"
    assert failed.value.returncode == 1
    assert "missing field `password`" in str(failed.value)
    assert "users file" in str(failed.value)


def test_each_test_gets_a_fresh_server_and_fixtures_clean_up(pytester: pytest.Pytester) -> None:
    record = pytester.path / "record.json"
    pytester.makepyfile(f"""
        import json
        seen = {{}}

        def test_one(tokenauth_stub):
            token = tokenauth_stub.create_token("alice")
            assert tokenauth_stub.call("GET", "/rest/api/2/myself", bearer=token)[0] == 200
            seen.update(pid=tokenauth_stub.process.pid, dir=str(tokenauth_stub.dir), token=token)

        def test_two(tokenauth_stub):
            assert tokenauth_stub.process.pid != seen["pid"]
            assert tokenauth_stub.call("GET", "/rest/api/2/myself", bearer=seen["token"])[0] == 401
            seen.update(pid2=tokenauth_stub.process.pid, dir2=str(tokenauth_stub.dir))
            open({str(record)!r}, "w").write(json.dumps(seen))
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    seen = json.loads(record.read_text())
    for pid, private in ((seen["pid"], seen["dir"]), (seen["pid2"], seen["dir2"])):
        assert gone(pid) and not pathlib.Path(private).exists()


def test_a_failing_test_reports_the_servers_log_and_journal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import time

        def test_passes(tokenauth_stub_session):
            tokenauth_stub_session.create_token("bob", description="made-by-an-earlier-test")
            # Logged in the background: waited for, so it is in the log before the next test.
            while "made-by-an-earlier-test" not in tokenauth_stub_session.log_text():
                time.sleep(0.01)

        def test_fails(tokenauth_stub, tokenauth_stub_session):
            token = tokenauth_stub.create_token("alice", description="made-by-the-failing-test")
            tokenauth_stub.call("POST", "/rest/api/2/issue", {}, bearer=token)
            assert False, "the integration broke"
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rP")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        # (Audit events reach the log in the background: the start's lines are there for sure.)
        "*tokenauth-stub log (tokenauth_stub, http://127.0.0.1:*)*",
        "tokenauth-stub listening on http://127.0.0.1:*",
        "*tokenauth-stub journal (tokenauth_stub, oldest first)*",
        "POST /rest/api/2/issue -> 403 [[]refused, *, by token rules[]] read_only_token: *",
    ])
    # The session server's log starts where the failing test began, and a pass adds nothing.
    assert "made-by-an-earlier-test" not in result.stdout.str()
    assert result.stdout.str().count("tokenauth-stub log (") == 2
    assert "/rest/tokenauth/1/tokens -> 201 [allowed, bob" not in result.stdout.str()


def test_settings_and_users_from_an_override_fixture_and_a_marker(pytester: pytest.Pytester) -> None:
    secret = subprocess.run([binary_path(), "token", "mint"], capture_output=True, text=True, check=True).stdout.strip()
    pytester.makepyfile(f"""
        import pytest

        @pytest.fixture
        def tokenauth_settings():
            return {{"permissions": {{"forceReadOnlyOwnTokens": True}}}}

        def test_override_fixture(tokenauth_stub):
            assert tokenauth_stub.settings()["permissions"]["forceReadOnlyOwnTokens"] is True
            with pytest.raises(RuntimeError, match="always Read Only"):
                tokenauth_stub.create_token("alice", scope="READ_WRITE")

        @pytest.mark.tokenauth(
            users=[{{"name": "ci-bot", "password": "pw", "groups": ["jira-administrators"],
                     "tokens": [{{"description": "fixture", "secret": "{secret}", "scope": "READ_WRITE"}}]}}],
            settings={{"maxTokenValidityDays": 7}},
        )
        def test_marker_wins(tokenauth_stub):
            assert tokenauth_stub.settings()["maxTokenValidityDays"] == 7
            status, me = tokenauth_stub.call("GET", "/rest/api/2/myself", bearer="{secret}")
            assert (status, me["name"]) == (200, "ci-bot")
            assert tokenauth_stub.call("GET", "/rest/api/2/myself", auth=("alice", "alice"))[0] == 401
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_an_invalid_users_file_is_the_fixtures_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.tokenauth(users='[[users]]\\nname = "carol"\\n')
        def test_never_runs(tokenauth_stub):
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*StubStartError: tokenauth-stub did not start (exit status 1)*",
                                 "*missing field `password`*"])


def test_under_xdist_each_worker_has_its_own_servers(pytester: pytest.Pytester) -> None:
    out = pytester.path / "seen"
    out.mkdir()
    pytester.makepyfile(f"""
        import json, os, pytest

        @pytest.mark.parametrize("n", range(8))
        def test_server(n, tokenauth_stub, tokenauth_stub_session):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            assert tokenauth_stub.create_token("alice")
            (__import__("pathlib").Path({str(out)!r}) / f"{{n}}.json").write_text(json.dumps(dict(
                worker=worker, dir=str(tokenauth_stub.dir), pid=tokenauth_stub.process.pid,
                session=tokenauth_stub_session.url)))
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "4").assert_outcomes(passed=8)
    seen = [json.loads(p.read_text()) for p in out.iterdir()]
    workers = {s["worker"] for s in seen}
    assert len(workers) > 1
    assert len({s["dir"] for s in seen}) == 8 and len({s["pid"] for s in seen}) == 8
    # One session server per worker, each on its own port (they all run at once).
    assert len({s["session"] for s in seen}) == len(workers)
    assert all(gone(s["pid"]) and not pathlib.Path(s["dir"]).exists() for s in seen)


def test_mappings_folder_journal_and_audit_events(tmp_path: pathlib.Path) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "issue.json").write_text(json.dumps({
        "request": {"method": "GET", "urlPath": "/rest/api/2/issue/FOLDER-1"},
        "response": {"status": 200, "jsonBody": {"key": "FOLDER-1"}},
    }))
    with StubServer(mappings=tmp_path) as server:
        token = server.create_token("bob", validity_days=3)
        assert server.call("GET", "/rest/api/2/issue/FOLDER-1", bearer=token) == (200, {"key": "FOLDER-1"})
        added = server.add_mapping({"request": {"method": "GET", "urlPath": "/rest/api/2/issue/PY-2"},
                                    "response": {"status": 200, "jsonBody": {"key": "PY-2"}}})
        assert added.id
        assert server.call("GET", "/rest/api/2/issue/PY-2", bearer=token) == (200, {"key": "PY-2"})
        assert server.call("GET", "/rest/api/2/issue/PY-2")[0] == 401, "the token rules come first"
        newest = server.journal()[0]
        assert newest["request"]["url"] == "/rest/api/2/issue/PY-2"
        assert newest["tokenauth"]["decision"] == "refused"
        events = server.audit_events(action="API token created", min_count=1)
        assert events[0]["affectedUser"] == "bob"
        # WireMock's own client, pointed at this server for the block.
        made = server.add_mapping(Mapping(
            request=MappingRequest(method=HttpMethods.GET, url_path="/rest/api/2/issue/PY-3"),
            response=MappingResponse(status=200, json_body={"key": "PY-3"})))
        with server.wiremock():
            assert made.id in [m.id for m in Mappings.retrieve_all_mappings().mappings]
        assert server.call("GET", "/rest/api/2/issue/PY-3", bearer=token) == (200, {"key": "PY-3"})
        server.reset()
        assert server.call("GET", "/rest/api/2/issue/PY-2", bearer=token)[1]["user"] == "bob", "back to the echo"


def test_the_factory_starts_servers_of_their_own(tokenauth_stub_factory) -> None:
    demo = tokenauth_stub_factory()
    own = tokenauth_stub_factory(users=[{"name": "x", "password": "y"}])
    assert demo.port != own.port
    assert own.call("GET", "/rest/api/2/myself", auth=("x", "y"))[0] == 200
    assert own.call("GET", "/rest/api/2/myself", auth=("alice", "alice"))[0] == 401
    with pytest.raises(ValueError, match="no administrator"):
        own.settings()


def test_the_manual_shows_the_example_as_it_is_run() -> None:
    example = (pathlib.Path(__file__).parents[1] / "examples" / "test_first.py").read_text()
    page = (WORKSPACE / "docs" / "src" / "developers" / "python.md").read_text()
    block = page.split("```python\n", 1)[1].split("```\n", 1)[0]
    assert block == example
