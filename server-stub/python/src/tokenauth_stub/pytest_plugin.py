"""The pytest plugin (entry point `pytest11`: installing the package is enough).

Fixtures:
- `tokenauth_stub`: a fresh server for each test (demo users unless told otherwise);
- `tokenauth_stub_session`: one server for the whole session (for each xdist worker);
- `tokenauth_stub_factory`: start servers of your own, all stopped after the test;
- `tokenauth_users`, `tokenauth_settings`, `tokenauth_mappings`, `tokenauth_args`: override
  these (in a conftest, a module or a class) to configure `tokenauth_stub`; or mark a test
  with `@pytest.mark.tokenauth(users=..., settings=..., mappings=..., args=...)`, which wins.

A failing test's report gets the log of every server it used (from where the test began), as
the section "tokenauth-stub log". Each server has its own port, picked by the kernel, and its
own private directory, so xdist workers share nothing.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .server import StubServer

#: Servers running now, so a test's report can start each log where the test began.
_live: weakref.WeakSet[StubServer] = weakref.WeakSet()
_offsets = pytest.StashKey[dict[int, int]]()
_started = pytest.StashKey[float]()
#: The end of a failing test's log shown in its report: enough for the requests it made.
LOG_TAIL_BYTES = 64 * 1024


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tokenauth(users=None, settings=None, mappings=None, args=()): how this test's "
        "tokenauth_stub server starts (users: TOML text, a path or dicts; settings: a settings "
        "document; mappings: a WireMock folder; args: more command-line options)",
    )


def _start(**options: Any) -> StubServer:
    server = StubServer(**options).start()
    _live.add(server)
    return server


@pytest.fixture
def tokenauth_users() -> Any:
    """The users `tokenauth_stub` starts with: None for the demo users (admin/admin,
    alice/alice, bob/bob). Override it to return TOML text, a path or a list of dicts."""
    return None


@pytest.fixture
def tokenauth_settings() -> dict[str, Any] | None:
    """Settings `tokenauth_stub` applies before the test (merged, as a PUT is). Override it."""
    return None


@pytest.fixture
def tokenauth_mappings() -> Any:
    """A WireMock folder (`mappings/`, `__files/`) `tokenauth_stub` serves. Override it."""
    return None


@pytest.fixture
def tokenauth_args() -> list[str]:
    """More command-line options for `tokenauth_stub` (e.g. `["--unmatched", "404"]`)."""
    return []


@pytest.fixture
def tokenauth_stub(
    request: pytest.FixtureRequest,
    tokenauth_users: Any,
    tokenauth_settings: dict[str, Any] | None,
    tokenauth_mappings: Any,
    tokenauth_args: list[str],
) -> Iterator[StubServer]:
    """A fresh server for this test, ready when the test starts, stopped after it."""
    options: dict[str, Any] = {
        "users": tokenauth_users,
        "settings": tokenauth_settings,
        "mappings": tokenauth_mappings,
        "args": tokenauth_args,
    }
    marker = request.node.get_closest_marker("tokenauth")
    if marker is not None:
        unknown = set(marker.kwargs) - set(options)
        if unknown or marker.args:
            raise pytest.UsageError(f"@pytest.mark.tokenauth takes only {sorted(options)} as keywords")
        options.update(marker.kwargs)
    server = _start(**options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tokenauth_stub_session() -> Iterator[StubServer]:
    """One server (demo users) for the session, or for each xdist worker: cheaper than one per
    test, for tests that do not mind what the others left behind."""
    server = _start()
    try:
        yield server
    finally:
        server.stop()


class ServerFactory:
    """`tokenauth_stub_factory(users=..., settings=..., ...)` starts a server (StubServer's
    options); every server it started is stopped after the test."""

    def __init__(self) -> None:
        self.servers: list[StubServer] = []

    def __call__(self, **options: Any) -> StubServer:
        server = _start(**options)
        self.servers.append(server)
        return server


@pytest.fixture
def tokenauth_stub_factory() -> Iterator[Callable[..., StubServer]]:
    factory = ServerFactory()
    try:
        yield factory
    finally:
        for server in factory.servers:
            server.stop()


def _servers_of(item: pytest.Item) -> list[tuple[str, StubServer]]:
    found = []
    for name, value in getattr(item, "funcargs", {}).items():
        if isinstance(value, StubServer):
            found.append((name, value))
        elif isinstance(value, ServerFactory):
            found += [(f"{name}[{i}]", s) for i, s in enumerate(value.servers)]
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # Before the fixtures run: a session server's log is shown from here on, not whole.
    item.stash[_offsets] = {id(s): s.log_size() for s in list(_live)}
    item.stash[_started] = time.time()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.failed:
        offsets = item.stash.get(_offsets, {})
        for name, server in _servers_of(item):
            text = server.log_text(offsets.get(id(server), 0))
            if len(text) > LOG_TAIL_BYTES:
                text = "[…]\n" + text[-LOG_TAIL_BYTES:]
            report.sections.append((f"tokenauth-stub log ({name}, {server.url})", text))
            if journal := _journal_summary(server, item.stash.get(_started, 0.0)):
                report.sections.append((f"tokenauth-stub journal ({name}, oldest first)", journal))
    return report


def _journal_summary(server: StubServer, since: float, last: int = 50) -> str:
    """One line per request the server saw since `since` (the test's start), with what the
    token rules decided: the log holds audit events only, and a refusal is what a failing
    integration test most often needs to see."""
    if server.process is None or server.process.poll() is not None:
        return ""
    try:
        # loggedDate is in whole milliseconds: a request in the test's first one counts.
        begin = int(since * 1000)
        entries = [e for e in server.journal()[:last] if e.get("request", {}).get("loggedDate", 0) >= begin]
    except Exception as e:  # the report must not fail for want of a journal
        return f"(no journal: {e})"
    lines = []
    for entry in reversed(entries):
        request, decision = entry.get("request", {}), entry.get("tokenauth", {})
        refusal = decision.get("refusal") or {}
        who = decision.get("user") or "no user"
        why = f" {refusal.get('kind')}: {refusal.get('reason')}" if refusal else ""
        lines.append(
            f"{request.get('method')} {request.get('url')} -> {entry.get('response', {}).get('status')}"
            f" [{decision.get('decision', '?')}, {who}, by {decision.get('answeredBy', '?')}]{why}"
        )
    return "\n".join(lines)
