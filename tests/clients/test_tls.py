"""The real clients over HTTPS: the stub's self-signed certificate given as `verify`, and the
refusals a client must make — an expired certificate, or one for another name."""

import base64
import datetime
import json
import pathlib
import signal
import ssl
import subprocess
import tempfile
import urllib.request

import pytest
import requests
from atlassian import Confluence, Jira
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jira import JIRA

from conftest import BINARY


def start(*args):
    """The stub with `args`; answers (process, base URL, data directory)."""
    data = pathlib.Path(tempfile.mkdtemp(prefix="tokenauth-tls-"))
    proc = subprocess.Popen(
        [str(BINARY), "--data-dir", str(data / "d"), "--bind", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline().strip()
    prefix = "tokenauth-stub listening on "
    assert line.startswith(prefix), f"unexpected first line: {line!r}"
    return proc, line[len(prefix):], data


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def tls_server():
    proc, base, data = start("--tls-self-signed")
    yield base, str(data / "d" / "tls" / "self-signed.crt")
    stop(proc)


def token(base, cafile, user="alice"):
    body = json.dumps({"description": "tls client test", "scope": "READ_WRITE"}).encode()
    req = urllib.request.Request(f"{base}/rest/tokenauth/1/tokens", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{user}".encode()).decode())
    ctx = ssl.create_default_context(cafile=cafile)
    with urllib.request.urlopen(req, context=ctx) as resp:
        return json.load(resp)["token"]


def test_jira_over_https_with_the_stubs_certificate(tls_server):
    base, cert = tls_server
    assert base.startswith("https://")
    secret = token(base, cert)
    jira = JIRA(base, basic_auth=("alice", secret), options={"verify": cert}, max_retries=0)
    assert jira.myself()["name"] == "alice"
    bearer = JIRA(base, token_auth=secret, options={"verify": cert}, max_retries=0)
    assert bearer.myself()["name"] == "alice"
    assert bearer.server_info()["baseUrl"].startswith("https://")


def test_atlassian_clients_over_https_with_the_stubs_certificate(tls_server):
    base, cert = tls_server
    secret = token(base, cert)
    jira = Jira(url=base, username="alice", password=secret, verify_ssl=cert)
    assert jira.myself()["name"] == "alice"
    confluence = Confluence(url=base, username="alice", password=secret, verify_ssl=cert)
    assert confluence.get_current_user()["username"] == "alice"


def test_without_the_certificate_the_clients_refuse_the_stub(tls_server):
    base, _ = tls_server
    with pytest.raises(requests.exceptions.SSLError):
        JIRA(base, basic_auth=("alice", "alice"), max_retries=0).myself()


def certificate(directory, names, not_before, not_after):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt = [x509.IPAddress(__import__("ipaddress").ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )
    c, k = directory / "cert.pem", directory / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(c), str(k)


@pytest.mark.parametrize(
    "names,days",
    [
        (["localhost", "127.0.0.1"], (-30, -1)),  # expired
        (["example.test"], (-1, 30)),  # another name
    ],
    ids=["expired", "wrong-name"],
)
def test_expired_and_wrong_name_certificates_are_refused(names, days):
    now = datetime.datetime.now(datetime.timezone.utc)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="tokenauth-cert-"))
    cert, key = certificate(
        directory, names, now + datetime.timedelta(days=days[0]), now + datetime.timedelta(days=days[1])
    )
    proc, base, _ = start("--tls-cert", cert, "--tls-key", key)
    try:
        with pytest.raises(requests.exceptions.SSLError):
            JIRA(base, basic_auth=("alice", "alice"), options={"verify": cert}, max_retries=0).myself()
        with pytest.raises(requests.exceptions.SSLError):
            Jira(url=base, username="alice", password="alice", verify_ssl=cert).myself()
    finally:
        stop(proc)
