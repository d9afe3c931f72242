"""One `tokenauth-stub --ephemeral` process per handle: started on a free loopback port, ready
when `start()` returns, driven over its own HTTP API, and stopped leaving nothing behind.

Everything a test needs lives in one private directory (the users file, the server's log, and
the server's own ephemeral data directory, via `TMPDIR`), which `stop()` removes: even after a
server had to be killed, no temporary directory is left.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

#: The users a server starts with when given none (SPEC: the demo users), with their passwords.
DEMO_USERS: dict[str, str] = {"admin": "admin", "alice": "alice", "bob": "bob"}
ADMIN_GROUP = "jira-administrators"
READY_PREFIX = "tokenauth-stub listening on "
EXE = ".exe" if sys.platform == "win32" else ""

#: A users file as TOML text, a path to one, or the users as dicts (`name`, `password`,
#: `groups`, `tokens`, … as in the users file; see the manual's command-line reference).
Users = Union[str, os.PathLike, Sequence[Mapping[str, Any]], None]


class StubStartError(RuntimeError):
    """The server did not start: its exit status and log say why (a bad users file, a bad
    mapping, a missing binary), so the test report shows the server's own message."""

    def __init__(self, message: str, log: str = "", returncode: int | None = None) -> None:
        super().__init__(f"{message}\n--- tokenauth-stub log ---\n{log.rstrip()}" if log else message)
        self.log = log
        self.returncode = returncode


def binary_path() -> str:
    """The binary to run: `TOKENAUTH_STUB_BIN` if set (a locally built one), else the one this
    package installed into the running interpreter's scripts directory, else `PATH`'s."""
    if env := os.environ.get("TOKENAUTH_STUB_BIN"):
        return env
    beside = pathlib.Path(sysconfig.get_path("scripts")) / f"tokenauth-stub{EXE}"
    if beside.is_file():
        return str(beside)
    found = shutil.which("tokenauth-stub")
    if found is None:
        raise StubStartError("no tokenauth-stub binary: install the wheel, or set TOKENAUTH_STUB_BIN")
    return found


def _toml_value(value: Any) -> str:
    # JSON's string escapes are valid in TOML basic strings; datetimes stay bare (TOML's type).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} into a users file")


def users_toml(users: Sequence[Mapping[str, Any]]) -> str:
    """The users file for users given as dicts: `[[users]]` tables, each with its
    `[[users.tokens]]` (fixture tokens with fixed secrets)."""
    lines: list[str] = []
    for user in users:
        lines.append("[[users]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in user.items() if k != "tokens"]
        for token in user.get("tokens", ()):
            lines.append("[[users.tokens]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in token.items()]
    return "\n".join(lines) + "\n"


def _known_users(users: Users) -> list[Mapping[str, Any]]:
    """The users whose passwords this handle knows, so a token can be made without asking."""
    if users is None:
        groups = {"admin": [ADMIN_GROUP]}
        return [{"name": n, "password": p, "groups": groups.get(n, [])} for n, p in DEMO_USERS.items()]
    if isinstance(users, (str, os.PathLike)):
        text = pathlib.Path(users).read_text() if _is_path(users) else str(users)
        try:
            return list(tomllib.loads(text).get("users", []))
        except tomllib.TOMLDecodeError:
            return []  # the server will say what is wrong with it, better than we could
    return list(users)


def _is_path(users: str | os.PathLike) -> bool:
    return isinstance(users, os.PathLike) or ("\n" not in users and "=" not in users)


class StubServer:
    """A `tokenauth-stub --ephemeral` process on 127.0.0.1 and a free port.

    `users`: TOML text, a path, or dicts (None: the demo users admin/admin, alice/alice,
    bob/bob). `mappings`: a WireMock folder (its `mappings/` and `__files/`). `settings`: a
    settings document (or part of one), applied as an admin before `start()` returns. `args`:
    more command-line options. Use it as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        *,
        users: Users = None,
        mappings: str | os.PathLike | None = None,
        settings: Mapping[str, Any] | None = None,
        args: Sequence[str] = (),
        admin: tuple[str, str] | None = None,
        binary: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.users = users
        self.mappings = mappings
        self.initial_settings = dict(settings) if settings else None
        self.args = list(args)
        self.binary = binary
        self.start_timeout = start_timeout
        self._passwords = {u["name"]: u["password"] for u in _known_users(users) if "password" in u}
        admins = [u["name"] for u in _known_users(users) if ADMIN_GROUP in u.get("groups", ())]
        self.admin = admin or next(((a, self._passwords[a]) for a in admins if a in self._passwords), None)
        self.url = ""
        self.port = 0
        self.dir: pathlib.Path | None = None
        self.log_path: pathlib.Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> StubServer:
        """Starts the server and returns once it answers on its port (its first stdout line is
        printed after the listener is bound). A server that exits first raises StubStartError
        with its log, which names the problem (a bad users file: the file, user and entry)."""
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="tokenauth-stub-"))
        self.log_path = self.dir / "server.log"
        command = [self.binary or binary_path(), "--ephemeral", "--bind", "127.0.0.1:0"]
        if self.users is not None:
            path = self.dir / "users.toml"
            if isinstance(self.users, (str, os.PathLike)) and _is_path(self.users):
                path = pathlib.Path(self.users)
            elif isinstance(self.users, str):
                path.write_text(self.users)
            else:
                path.write_text(users_toml(self.users))
            command += ["--users", str(path)]
        if self.mappings is not None:
            command += ["--mappings", str(self.mappings)]
        command += self.args
        # Hermetic: the test's options only, not a developer's TOKENAUTH_* settings (a
        # TOKENAUTH_DATA_DIR would even conflict with --ephemeral). The ephemeral data directory
        # goes inside self.dir, so stop() removes it even after a kill.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
        env["TOKENAUTH_LOG"] = os.environ.get("TOKENAUTH_LOG", "info")
        env["TMPDIR"] = str(self.dir)
        # Both streams straight into one file (O_APPEND): the log is in the order the server
        # wrote it, and is complete the moment a line is written (no copying thread to lag).
        with open(self.log_path, "ab") as log:
            try:
                self.process = subprocess.Popen(
                    command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env
                )
            except OSError as e:
                self._remove_dir()
                raise StubStartError(f"could not run {command[0]}: {e}") from e
        line = self._wait_for_ready_line()
        if line is None:
            code = self.process.poll()
            text = self.log_text()
            self.stop()
            if code is None:
                raise StubStartError(f"tokenauth-stub did not start within {self.start_timeout} s", text)
            raise StubStartError(f"tokenauth-stub did not start (exit status {code})", text, code)
        self.url = line[len(READY_PREFIX):].strip()
        self.port = urllib.parse.urlsplit(self.url).port or 0
        if self.initial_settings:
            try:
                self.update_settings(self.initial_settings)
            except Exception:
                self.stop()
                raise
        return self

    def _wait_for_ready_line(self) -> str | None:
        """The server's "listening on" line, which it prints once its listener is bound; None
        if it exits first or takes longer than `start_timeout`. Polled every millisecond: a
        start takes tens of milliseconds, so this adds at most one."""
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            exited = self.process.poll() is not None
            for line in self.log_text().splitlines():
                if line.startswith(READY_PREFIX):
                    return line
            if exited:
                return None
            time.sleep(0.001)
        return None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (the server finishes requests, flushes and removes its data), a kill after
        `timeout` seconds, then the private directory is removed. Returns the exit status."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            code = self.process.returncode
        self._remove_dir()
        return code

    def _remove_dir(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self, offset: int = 0) -> str:
        """The server's log (standard output and error) from byte `offset` on; "" once removed."""
        try:
            with open(self.log_path or "", "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path or "")
        except OSError:
            return 0

    # -- HTTP -----------------------------------------------------------------------------

    def call(
        self, method: str, path: str, body: Any = None, *, auth: tuple[str, str] | None = None,
        bearer: str | None = None,
    ) -> tuple[int, Any]:
        """One request to the server: the status and the decoded JSON body (or the text).
        Errors are returned, not raised, so a test can check a refusal."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth is not None:
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {basic}")
        elif bearer is not None:
            request.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def _admin_call(self, method: str, path: str, body: Any = None) -> Any:
        if self.admin is None:
            raise ValueError("no administrator whose password is known: pass admin=(name, password)")
        status, answer = self.call(method, path, body, auth=self.admin)
        if status >= 300:
            raise RuntimeError(f"{method} {path} as {self.admin[0]}: {status} {answer}")
        return answer

    def create_token(
        self,
        user: str = "alice",
        password: str | None = None,
        *,
        scope: str = "READ_ONLY",
        validity_days: int | None = None,
        expires_at: str | None = None,
        never_expires: bool = False,
        description: str | None = None,
    ) -> str:
        """A new token of `user` (through `POST /rest/tokenauth/1/tokens`, as the user: the
        token rules and the audit log see what a real user's request does); returns its
        secret. The password is known for the demo users and users given as dicts or TOML."""
        if password is None:
            if user not in self._passwords:
                raise ValueError(f"no password known for {user!r}: pass password=")
            password = self._passwords[user]
        body: dict[str, Any] = {"description": description or f"pytest token for {user}", "scope": scope}
        if validity_days is not None:
            body["validityDays"] = validity_days
        if expires_at is not None:
            body["expiresAt"] = expires_at
        if never_expires:
            body["neverExpires"] = True
        status, answer = self.call("POST", "/rest/tokenauth/1/tokens", body, auth=(user, password))
        if status != 201:
            raise RuntimeError(f"creating a token for {user}: {status} {answer}")
        return answer["token"]

    def settings(self) -> dict[str, Any]:
        """The settings document (GET as the administrator)."""
        return self._admin_call("GET", "/rest/tokenauth/1/admin/settings")

    def update_settings(self, changes: Mapping[str, Any], force: bool = False) -> dict[str, Any]:
        """Merges `changes` into the settings (PUT as the administrator); returns the result."""
        suffix = "?force=true" if force else ""
        return self._admin_call("PUT", f"/rest/tokenauth/1/admin/settings{suffix}", dict(changes))

    def audit_events(self, *, min_count: int = 0, timeout: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
        """Audit events, newest first, filtered as `/rest/auditing/1.0/events` filters them
        (`user="alice"`, `action="API token created"`, `search=...`). Events are stored in the
        background: this waits up to `timeout` seconds for at least `min_count` of them."""
        query = urllib.parse.urlencode({"limit": 1000, **filters})
        deadline = time.monotonic() + timeout
        while True:
            answer = self._admin_call("GET", f"/rest/auditing/1.0/events?{query}")
            events = answer.get("entities", [])
            if len(events) >= min_count or time.monotonic() > deadline:
                return events
            time.sleep(0.025)

    # -- WireMock's admin API ----------------------------------------------------------

    @contextlib.contextmanager
    def wiremock(self) -> Iterator[None]:
        """Points the PyPI `wiremock` client (whose base URL is global) at this server for the
        block: `with server.wiremock(): Mappings.retrieve_all_mappings()`."""
        from wiremock.constants import Config

        saved = Config.base_url, Config.headers
        Config.base_url, Config.headers = f"{self.url}/__admin", {}
        try:
            yield
        finally:
            Config.base_url, Config.headers = saved

    def add_mapping(self, mapping: Any) -> Any:
        """Adds a WireMock mapping (a `wiremock` `Mapping`, or its JSON as a dict) through the
        admin API; returns the created `Mapping` (with its id)."""
        from wiremock.resources.mappings import Mapping
        from wiremock.resources.mappings.resource import Mappings

        if isinstance(mapping, Mapping):
            with self.wiremock():
                return Mappings.create_mapping(mapping)
        # A dict goes as it is: the client's model would drop what it does not know.
        status, answer = self.call("POST", "/__admin/mappings", dict(mapping))
        if status != 201:
            raise RuntimeError(f"adding a mapping: {status} {answer}")
        return Mapping.from_dict(answer)

    def journal(self) -> list[dict[str, Any]]:
        """The request journal, newest first, as JSON (with the stub's `tokenauth` decision on
        each request, which the `wiremock` client's model does not carry)."""
        status, answer = self.call("GET", "/__admin/requests")
        if status != 200:
            raise RuntimeError(f"reading the journal: {status} {answer}")
        return answer["requests"]

    def reset(self) -> None:
        """WireMock's reset: mappings back to the folder, journal and scenarios emptied."""
        status, answer = self.call("POST", "/__admin/reset")
        if status >= 300:
            raise RuntimeError(f"resetting: {status} {answer}")
