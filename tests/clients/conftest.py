"""Starts the real tokenauth-stub binary on 127.0.0.1:0 with a fresh data directory."""

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import urllib.request
import base64

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("TOKENAUTH_BIN", ROOT / "target" / "debug" / "tokenauth-stub"))


@contextlib.contextmanager
def running_stub(*extra):
    """The real binary on 127.0.0.1:0 with a fresh data directory (and `extra` options); yields
    its URL, read from its first line, and stops it on exit."""
    data = tempfile.mkdtemp(prefix="tokenauth-clients-")
    proc = subprocess.Popen(
        [str(BINARY), "--data-dir", data, "--bind", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline().strip()
    prefix = "tokenauth-stub listening on "
    assert line.startswith(prefix), f"unexpected first line: {line!r}"
    try:
        yield line[len(prefix):]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def server():
    with running_stub() as url:
        yield url


def create_token(base_url, user, password, scope):
    """Creates a token through the REST API and returns its secret."""
    body = json.dumps({"description": f"{user} client test", "scope": scope}).encode()
    req = urllib.request.Request(f"{base_url}/rest/tokenauth/1/tokens", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 201
        return json.load(resp)["token"]


@pytest.fixture(scope="session")
def read_only_token(server):
    return create_token(server, "alice", "alice", "READ_ONLY")


@pytest.fixture(scope="session")
def read_write_token(server):
    return create_token(server, "alice", "alice", "READ_WRITE")
