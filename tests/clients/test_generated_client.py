"""A client generated from the served openapi.json (openapi-python-client, as a user of the API
would generate one) drives the real server with typed calls and no hand-written HTTP: sign in,
create a token, list and revoke it, read the settings, read a page of audit events. If the
document misnames an operation, a body or an answer, generation or these calls fail."""

import importlib
import os
import re
import json
import pathlib
import shutil
import subprocess
import sys
import urllib.request

import pytest

from conftest import ROOT, create_token as make_token

PACKAGE = "tokenauth_client"


@pytest.fixture(scope="module")
def generated(server, tmp_path_factory):
    generator = shutil.which("openapi-python-client") or str(
        pathlib.Path(sys.executable).parent / "openapi-python-client")
    out = tmp_path_factory.mktemp("generated")
    document = out / "openapi.json"
    with urllib.request.urlopen(f"{server}/rest/tokenauth/1/openapi.json") as resp:
        document.write_bytes(resp.read())
    # No post hooks: the formatter (ruff) is not needed to import the client.
    config = out / "config.json"
    config.write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE}))
    subprocess.run(
        [generator, "generate", "--path", str(document), "--output-path", str(out / PACKAGE),
         "--meta", "none", "--config", str(config)],
        check=True, capture_output=True, text=True)
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))


def test_generated_client_signs_in_and_manages_a_token(server, generated):
    from tokenauth_client import Client
    from tokenauth_client.api.admin import get_settings
    from tokenauth_client.api.audit import list_audit_events
    from tokenauth_client.api.session import create_session
    from tokenauth_client.api.tokens import create_token, list_tokens, revoke_token
    from tokenauth_client.models import (AuditPage, CreateToken, Credentials, Scope, Settings,
                                         Token)

    # Cookie writes need the header Jira's XSRF check asks for; the session cookie is kept by
    # the client's cookie jar after signing in.
    with Client(base_url=server, headers={"X-Atlassian-Token": "no-check"},
                raise_on_unexpected_status=True) as client:
        signed_in = create_session.sync_detailed(
            client=client, body=Credentials(username="admin", password="admin"))
        assert signed_in.status_code == 200
        assert "JSESSIONID" in client.get_httpx_client().cookies

        made = create_token.sync(client=client, body=CreateToken(
            description="generated client", scope=Scope.READ_ONLY, validity_days=7))
        assert isinstance(made, Token), made
        assert made.token, "the secret is shown once, on creation"

        listed = list_tokens.sync(client=client)
        assert made.id in [t.id for t in listed]

        revoked = revoke_token.sync_detailed(made.id, client=client)
        assert revoked.status_code == 204
        assert made.id not in [t.id for t in list_tokens.sync(client=client)]

        settings = get_settings.sync(client=client)
        assert isinstance(settings, Settings), settings
        assert settings.max_token_validity_days >= 1

        page = list_audit_events.sync(client=client, limit=5)
        assert isinstance(page, AuditPage), page
        assert 0 < len(page.entities) <= 5


def manual_blocks():
    """The manual's shell and Python blocks under "To get the document and generate a typed
    client" (docs/src/developers/openapi.md), as a reader copies them."""
    text = (ROOT / "docs" / "src" / "developers" / "openapi.md").read_text()
    section = text[text.index("To get the document and generate a typed client"):]
    sh = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    py = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return sh, py


def test_the_manual_example_works_as_written(server, tmp_path):
    """The manual's commands and script, run as written (only the address and the token are
    this run's, and `pip install` is done already), print the new token and find it listed."""
    sh, py = manual_blocks()
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '')}")
    for line in sh.strip().splitlines():
        if line.startswith("pip install"):
            continue
        subprocess.run(line.replace("http://127.0.0.1:2990", server), shell=True, check=True,
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    token = make_token(server, "alice", "alice", "READ_WRITE")
    script = py.replace("http://127.0.0.1:2990", server).replace("<your API token>", token)
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True,
                         capture_output=True, text=True)
    made_line, listed_line = run.stdout.strip().splitlines()
    made_id, secret = made_line.split()
    assert secret.startswith(token[:4]), "the new token's secret, shown once"
    assert made_id in listed_line


def test_the_served_document_is_valid_openapi_3_0(server):
    """The document says it is OpenAPI 3.0.3, and openapi-spec-validator (the validator generators
    use) agrees: utoipa writes 3.1 schemas, and a 3.1-only keyword left in (`propertyNames` of a
    map was one) is refused by 3.0 tools."""
    from openapi_spec_validator import validate
    with urllib.request.urlopen(f"{server}/rest/tokenauth/1/openapi.json") as resp:
        document = json.load(resp)
    assert document["openapi"] == "3.0.3"
    validate(document)
