"""Differential over real mapping folders: every WireMock root of tests/wiremock-corpus/ (mapping
files from public repositories, SOURCES.md) served by the real WireMock 3.13.2 and by
tokenauth-stub; per mapping, requests derived from the mapping (wiremock_requests.py) that should
match, and one near miss, sent to both; the answers compared (status, the headers the mapping
sets, the body). WireMock defines the behaviour.

A ratchet, not a gate on equality: tests/wiremock-corpus/known-differences.json lists every
difference found today. The test fails when a difference appears that is not listed, or a listed
one no longer occurs (so a fix updates the list). To rewrite the list after a change:

    TOKENAUTH_CORPUS_UPDATE=1 TOKENAUTH_BIN=... python -m pytest tests/clients/test_wiremock_corpus.py

One WireMock serves every root in turn (its folder's files swapped and `POST /__admin/reset`,
which reads the folder again, as a start does); the stub starts once per root, in milliseconds.
"""

import base64
import concurrent.futures
import contextlib
import http.cookiejar
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import requests

from conftest import BINARY, create_token, running_stub
from test_wiremock_differential import running_wiremock
from wiremock_requests import Skip, derive, near_miss

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "wiremock-corpus"
KNOWN = CORPUS / "known-differences.json"
UPDATE = os.environ.get("TOKENAUTH_CORPUS_UPDATE") == "1"

# Never compared: they say who answered and how the bytes travel, not what was answered.
ALWAYS_IGNORED = {"matched-stub-id", "transfer-encoding"}
# Compared only when the mapping sets them.
IGNORED_UNLESS_SET = {"date", "server", "content-length"}
# Template helpers whose output changes from one call to the next.
VOLATILE_HELPERS = ("now", "randomValue", "randomInt", "randomDecimal", "random", "pickRandom",
                    "uuid", "randomUUID", "date", "parseDate")


def corpus_roots():
    return sorted(p.parent for p in CORPUS.rglob("mappings") if p.is_dir() and (p.parent / "__files").is_dir()
                  and "mappings" not in p.parent.relative_to(CORPUS).parts)


def mapping_files(root):
    return sorted(str(p.relative_to(root / "mappings")) for p in (root / "mappings").rglob("*.json"))


def read_mappings(path):
    """The mappings a file holds (one, or `{"mappings": [...]}`); None when it is not JSON."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("mappings"), list):
        return [m for m in doc["mappings"] if isinstance(m, dict)]
    return [doc] if isinstance(doc, dict) else []


def proxies(mappings):
    return any(isinstance(m.get("response"), dict) and "proxyBaseUrl" in m["response"] for m in mappings)


def lay_out(dest, root, files):
    """`dest` as a WireMock root with only `files` of `root`'s mappings, and all its __files."""
    for sub in ("mappings", "__files"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    (dest / "mappings").mkdir(parents=True)
    shutil.copytree(root / "__files", dest / "__files")
    for f in files:
        (dest / "mappings" / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "mappings" / f, dest / "mappings" / f)


# --- the stub's verdict on files --------------------------------------------------------------

def stub_start(folder):
    """What the stub says when it starts on `folder`: (None if it started, else its error; the
    mappings it refused, each `FILE: POINTER: reason`, as it names them on standard error)."""
    data = tempfile.mkdtemp(prefix="tokenauth-corpus-probe-")
    proc = subprocess.Popen([str(BINARY), "--data-dir", data, "--bind", "127.0.0.1:0", "--mappings", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = proc.stdout.readline().startswith("tokenauth-stub listening on ")
        if started:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        said = proc.stderr.read()
        refused = [line.removeprefix("refused mapping: ") for line in said.splitlines()
                   if line.startswith("refused mapping: ")]
        error = None if started else ([line for line in said.splitlines() if line.startswith("error: ")]
                                      or [f"exited {proc.returncode} with nothing on stderr"])[-1]
        return error, refused
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)


def clean_stub_message(message, folder):
    message = message.replace(str(folder / "mappings") + "/", "").replace(str(folder) + "/", "")
    return message.removeprefix("error: ").removeprefix("--mappings: ")


def stub_verdicts(root, files, scratch):
    """({file: None (loaded whole) or the stub's first refusal in it}, {file: mappings refused}).
    The stub refuses a mapping alone and says so; a start it refuses (a file that is not JSON)
    names the file, which is taken out and the rest started again."""
    folder = scratch / "stub-probe"
    lay_out(folder, root, files)
    verdicts, refused = dict.fromkeys(files), dict.fromkeys(files, 0)
    while True:
        error, refusals = stub_start(folder)
        if error is None:
            for f in files:
                mine = [r for r in refusals if r.startswith(str(folder / "mappings" / f) + ": ")]
                if mine and verdicts[f] is None:
                    verdicts[f], refused[f] = clean_stub_message(mine[0], folder), len(mine)
            return verdicts, refused
        named = [f for f in files if verdicts[f] is None and str(folder / "mappings" / f) in error]
        if not named:  # a refusal that names no file of ours: the whole folder
            for f in files:
                if verdicts[f] is None:
                    verdicts[f] = "folder refused: " + clean_stub_message(error, folder)
            return verdicts, refused
        culprit = max(named, key=len)
        verdicts[culprit] = clean_stub_message(error, folder)
        (folder / "mappings" / culprit).unlink()


# --- WireMock's verdict on files --------------------------------------------------------------

class WireMock:
    def __init__(self, url, folder):
        self.url, self.folder = url, folder

    def load(self, root, files):
        """Serve `files` of `root` (as a start would: `POST /__admin/reset` reads the folder);
        returns (status of the reset, its body, how many mappings it then holds)."""
        lay_out(self.folder, root, files)
        r = requests.post(f"{self.url}/__admin/reset", timeout=30)
        total = requests.get(f"{self.url}/__admin/mappings", timeout=30).json()["meta"]["total"]
        return r.status_code, r.text, total

    def verdicts(self, root, files, counts):
        """{file: None (loaded) or why not}; all at once when that loads them all, else one by one."""
        status, _, total = self.load(root, files)
        if status == 200 and total == sum(counts[f] for f in files):
            return dict.fromkeys(files)
        out = {}
        for f in files:
            status, body, total = self.load(root, [f])
            if status != 200:
                out[f] = f"reset answered {status}: {summarise(body)}"
            elif total != counts[f]:
                out[f] = f"loaded {total} of its {counts[f]} mappings"
            else:
                out[f] = None
        return out


def summarise(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def generic_pointer(pointer):
    return re.sub(r"/\d+(?=/|$)", "/*", re.sub(r"^/mappings/\d+", "", pointer)) or "/"


def refusal_class(message):
    """A stable name for the stub's refusal: its JSON pointer (indexes as *) and the first
    clause of its reason."""
    m = re.match(r"^(?P<file>[^:]+\.json): (?P<pointer>/[^:]*|): ?(?P<reason>.*)$", message)
    if not m:
        return summarise(message, 120)
    reason = re.split(r"[:;(]", m.group("reason"), maxsplit=1)[0].strip()
    return f"{generic_pointer(m.group('pointer'))}: {reason}"


# --- comparing answers ------------------------------------------------------------------------

def send(session, base, req, headers):
    try:
        r = session.request(req.method, base + req.url, headers=headers, data=req.body, timeout=30,
                            allow_redirects=False)
        return {"status": r.status_code, "headers": r.headers, "content": r.content}
    except requests.RequestException as e:
        return {"error": type(e).__name__}


def parsed_body(content):
    try:
        return True, json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False, content


def shape(doc):
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shape(v) for v in doc]
    return type(doc).__name__


def first_difference(a, b, path=""):
    """Where two JSON documents first differ, as a JSON pointer, and the two values there."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}", a.get(k, "<absent>"), b.get(k, "<absent>")
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{path}/{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}/{i}")
    return path or "/", a, b


def template_info(mapping, root):
    """(templated?, the expressions its template uses, the volatile helpers among them)."""
    resp = mapping.get("response", {})
    if "response-template" not in resp.get("transformers", []):
        return False, [], []
    text = json.dumps(resp.get("body", "")) + json.dumps(resp.get("jsonBody", "")) + json.dumps(resp.get("headers", {}))
    if isinstance(resp.get("bodyFileName"), str):
        body_file = root / "__files" / resp["bodyFileName"]
        if body_file.is_file():
            text += body_file.read_text(errors="replace")
    heads = sorted({m.group(1) for m in re.finditer(r"\{\{\{?[~\s]*([#/]?[^\s}()]+)", text)})
    volatile = sorted({h for h in VOLATILE_HELPERS if any(x.lstrip("#") == h for x in heads)})
    return True, heads, volatile


def is_echo(answer):
    """The stub's echo of an unmatched /rest/ request (who asked, what, with which credential)."""
    ok, doc = parsed_body(answer.get("content", b""))
    return ok and isinstance(doc, dict) and {"user", "method", "path"} <= set(doc)


def compare(mapping, root, req, theirs, ours):
    """[(class, example)] of the differences between WireMock's answer and the stub's."""
    resp = mapping.get("response", {})
    set_names = {n.lower(): n for n in (resp.get("headers") or {})}
    hint = ""
    if "transfer-encoding" in set_names:
        hint = " (the mapping sets Transfer-Encoding)"
    if "error" in theirs or "error" in ours:
        if theirs.get("error") == ours.get("error"):
            return []
        return [(f"connection: WireMock {theirs.get('error', theirs.get('status'))} vs stub "
                 f"{ours.get('error', ours.get('status'))}{hint}", "")]
    if theirs["status"] != ours["status"]:
        example = (f"WireMock: {summarise(theirs['content'].decode(errors='replace'), 160)} | "
                   f"stub: {summarise(ours['content'].decode(errors='replace'), 160)}")
        if is_echo(ours):
            hint += " (the stub's echo of an unmatched /rest/ request)"
        elif ours["status"] == 401 and not req.url.startswith("/rest/"):
            hint += " (outside /rest/, sent without credentials: the stub guards this mapping as if it could answer /rest/)"
        elif ours["status"] == 401:
            hint += " (on /rest/ with a valid token)"
        return [(f"status differs: WireMock {theirs['status']} vs stub {ours['status']}{hint}", example)]
    matched = "Matched-Stub-Id" in theirs["headers"]
    if not matched:
        return []  # both unmatched with the same status: WireMock's diagnostic page is its own
    out = []
    gzipped = theirs["headers"].get("content-encoding") != ours["headers"].get("content-encoding")
    if gzipped and "content-encoding" not in set_names:
        out.append((f"Content-Encoding: WireMock {theirs['headers'].get('content-encoding')}, stub "
                    f"{ours['headers'].get('content-encoding')} (the request accepts gzip)",
                    f"{len(theirs['content'])} bytes once decoded"))
    for name in sorted(n for n in set_names if n not in ALWAYS_IGNORED):
        a, b = theirs["headers"].get(name), ours["headers"].get(name)
        if a != b:
            kind = "missing on the stub" if b is None else ("only on the stub" if a is None else "differs")
            why = ""
            if name == "etag" and a and b and a.endswith('--gzip"') and a.replace('--gzip"', '"') == b:
                why = " (WireMock's Jetty appends --gzip to the ETag of a gzipped answer)"
            out.append((f"header {name} {kind}{why}", f"WireMock {a!r}, stub {b!r}"))
    if "content-type" not in set_names:
        a, b = theirs["headers"].get("content-type"), ours["headers"].get("content-type")
        if a != b:
            out.append(("Content-Type differs (the mapping sets none)", f"WireMock {a!r}, stub {b!r}"))
    templated, heads, volatile = template_info(mapping, root)
    a_json, a = parsed_body(theirs["content"])
    b_json, b = parsed_body(ours["content"])
    if a_json and b_json:
        same = shape(a) == shape(b) if volatile else a == b
        if not same:
            where, x, y = first_difference(a, b)
            example = f"at {where}: WireMock {summarise(json.dumps(x), 120)}, stub {summarise(json.dumps(y), 120)}"
    else:
        same = (len(a) > 0) == (len(b) > 0) if volatile and not (a_json or b_json) else a == b
        if not same:
            ta, tb = theirs["content"], ours["content"]
            at = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))
            example = (f"{len(ta)} vs {len(tb)} bytes, first difference at byte {at}: WireMock "
                       f"{ta[max(0, at - 20):at + 40]!r}, stub {tb[max(0, at - 20):at + 40]!r}")
    if not same:
        if templated:
            kind = "body differs: response template (" + ", ".join(heads[:4]) + ")"
        elif "bodyFileName" in resp:
            kind = "body differs: bodyFileName"
        elif "jsonBody" in resp:
            kind = "body differs: jsonBody"
        elif "base64Body" in resp:
            kind = "body differs: base64Body"
        else:
            kind = "body differs: body"
        out.append((kind, example))
    return out


def ambiguity(wiremock_url, req, headers, state_of):
    """How many mappings match `req` equally well in WireMock (same best priority, eligible in
    the scenario state the request meets). WireMock then answers with the newest, and the order
    it loaded a folder's files in is the directory's (File.listFiles), which differs from one
    file system to the next: such a request has no one right answer to compare with."""
    logged = {"url": req.url, "absoluteUrl": "http://localhost" + req.url, "method": req.method,
              "headers": headers, "body": (req.body or b"").decode("utf-8", errors="replace"),
              "bodyAsBase64": base64.b64encode(req.body or b"").decode()}
    r = requests.post(f"{wiremock_url}/__admin/near-misses/request", json=logged, timeout=30)
    if r.status_code != 200:
        return 0
    exact = []
    for near in r.json().get("nearMisses", []):
        if near["matchResult"]["distance"] != 0:
            continue
        m = near["stubMapping"]
        # WireMock's distance counts a body pattern against an empty body as met.
        if not req.body and any("absent" not in p for p in m.get("request", {}).get("bodyPatterns", [])):
            continue
        required = m.get("requiredScenarioState")
        if required is not None and required != state_of(m.get("scenarioName")):
            continue
        exact.append(m.get("priority", 5))
    return exact.count(min(exact)) if exact else 0


# --- scenarios --------------------------------------------------------------------------------

def scenario_path(target, mappings):
    """The mappings whose requests move `target`'s scenario from Started to the state it needs,
    in order; None if no chain of the folder's mappings gets there."""
    name, wanted = target.get("scenarioName"), target.get("requiredScenarioState")
    if not name or wanted in (None, "Started"):
        return []
    moves = [m for m in mappings if m.get("scenarioName") == name and m.get("newScenarioState")]
    frontier, seen = [("Started", [])], {"Started"}
    while frontier:
        state, path = frontier.pop(0)
        for m in moves:
            if m.get("requiredScenarioState", state) != state:
                continue
            new = m["newScenarioState"]
            if new == wanted:
                return path + [m]
            if new not in seen:
                seen.add(new)
                frontier.append((new, path + [m]))
    return None


# --- the run ----------------------------------------------------------------------------------

@contextlib.contextmanager
def both_sessions():
    with requests.Session() as a, requests.Session() as b:
        for s in (a, b):  # each request as derived: no cookie carried from one answer to the next
            s.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        yield a, b


def run_corpus(wiremock, scratch):
    counts = {"repositories": set(), "roots": 0, "mapping files": 0, "mappings": 0,
              "files loaded by WireMock": 0, "files loaded by the stub": 0, "files loaded by both": 0,
              "mappings loaded by WireMock": 0, "mappings loaded by the stub": 0,
              "files not served (proxyBaseUrl)": 0, "mappings compared": 0,
              "mappings skipped (no request derived)": 0, "requests sent": 0, "requests compared": 0, "ambiguous (not compared)": 0, "equal": 0,
              "derived requests WireMock matched": 0, "derived requests": 0}
    differences, skips, files_report = [], [], []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    for root in corpus_roots():
        rel_root = str(root.relative_to(CORPUS))
        counts["repositories"].add(rel_root.split("/")[0])
        counts["roots"] += 1
        files = mapping_files(root)
        per_file = {f: read_mappings(root / "mappings" / f) for f in files}
        n_maps = {f: len(per_file[f] or []) for f in files}
        counts["mapping files"] += len(files)
        counts["mappings"] += sum(n_maps.values())
        # A proxy mapping would send requests off this machine: its file is loaded alone, to see
        # whether each side takes it, and never served.
        proxied = [f for f in files if per_file[f] and proxies(per_file[f])]
        served = [f for f in files if f not in proxied]
        wm_verdicts = wiremock.verdicts(root, served, n_maps)
        st_verdicts, st_refused = stub_verdicts(root, served, scratch)
        for f in proxied:
            wm_verdicts.update(wiremock.verdicts(root, [f], n_maps))
            verdict, refused = stub_verdicts(root, [f], scratch)
            st_verdicts.update(verdict)
            st_refused.update(refused)
        for f in files:
            wm_ok, st_ok = wm_verdicts[f] is None, st_verdicts[f] is None
            counts["files loaded by WireMock"] += wm_ok
            counts["files loaded by the stub"] += st_ok
            counts["files loaded by both"] += wm_ok and st_ok
            counts["mappings loaded by WireMock"] += n_maps[f] if wm_ok else 0
            # A file the stub refuses whole (not JSON) loads none; else all but those it refused.
            whole = st_verdicts[f] is not None and not st_refused[f]
            counts["mappings loaded by the stub"] += 0 if whole else n_maps[f] - st_refused[f]
            files_report.append({"root": rel_root, "file": f, "mappings": n_maps[f], "wiremock": wm_verdicts[f],
                                 "stub": st_verdicts[f], "proxy": f in proxied})
            if wm_ok and not st_ok:
                differences.append({"root": rel_root, "file": f, "request": None,
                                    "class": "stub refused file: " + refusal_class(st_verdicts[f]),
                                    "example": st_verdicts[f]})
            elif st_ok and not wm_ok:
                differences.append({"root": rel_root, "file": f, "request": None,
                                    "class": "stub loaded a file WireMock refuses", "example": wm_verdicts[f]})
        counts["files not served (proxyBaseUrl)"] += len(proxied)
        common = [f for f in served if wm_verdicts[f] is None and st_verdicts[f] is None]
        status, body, total = wiremock.load(root, common)
        assert status == 200, f"{rel_root}: WireMock refused the files it took one by one: {summarise(body)}"
        folder = scratch / "stub-served"
        lay_out(folder, root, common)
        all_mappings = [m for f in common for m in per_file[f]]
        with running_stub("--mappings", str(folder)) as stub_url, both_sessions() as (s_wm, s_st):
            token = create_token(stub_url, "alice", "alice", "READ_WRITE")
            stub_total = requests.get(f"{stub_url}/__admin/mappings", timeout=30).json()["meta"]["total"]
            if stub_total != total:
                differences.append({"root": rel_root, "file": None, "request": None,
                                    "class": "the stub serves another number of mappings",
                                    "example": f"WireMock {total}, stub {stub_total}"})

            def wm_headers_for(req):
                headers = dict(req.headers)
                if req.url.startswith("/rest/") and not any(h.lower() == "authorization" for h in headers):
                    headers["Authorization"] = f"Bearer {token}"
                return headers

            def exchange(req):
                """Send `req` to both; WireMock gets it as derived, the stub with the token on
                /rest/ (a client of the stub has one); on /rest/ WireMock gets the same token
                unless the mapping says what Authorization must be."""
                wm_headers = wm_headers_for(req)
                st_headers = dict(req.headers)
                if req.url.startswith("/rest/"):
                    for h in [h for h in st_headers if h.lower() == "authorization"]:
                        del st_headers[h]
                    st_headers["Authorization"] = f"Bearer {token}"
                a = pool.submit(send, s_wm, wiremock.url, req, wm_headers)
                b = pool.submit(send, s_st, stub_url, req, st_headers)
                counts["requests sent"] += 1
                return a.result(), b.result()

            for f in common:
                for i, mapping in enumerate(per_file[f]):
                    where = f if len(per_file[f]) == 1 else f"{f}#{i}"
                    try:
                        req = derive(mapping)
                        chain = scenario_path(mapping, all_mappings)
                        if chain is None:
                            raise Skip(f"scenario state {mapping.get('requiredScenarioState')!r} cannot be reached")
                        setup = [derive(m) for m in chain]
                    except Skip as e:
                        counts["mappings skipped (no request derived)"] += 1
                        skips.append({"root": rel_root, "file": where, "reason": str(e)})
                        continue
                    counts["mappings compared"] += 1
                    how, missed = near_miss(mapping, req)
                    for kind, request in (("match", req), (f"near miss ({how})", missed)):
                        for r in requests.post(f"{wiremock.url}/__admin/scenarios/reset", timeout=30), \
                                requests.post(f"{stub_url}/__admin/scenarios/reset", timeout=30):
                            assert r.status_code == 200, r.text
                        for step in setup:
                            exchange(step)
                        theirs, ours = exchange(request)
                        if kind == "match":
                            counts["derived requests"] += 1
                            if "Matched-Stub-Id" in theirs.get("headers", {}):
                                counts["derived requests WireMock matched"] += 1
                            else:
                                skips.append({"root": rel_root, "file": where,
                                              "reason": f"WireMock matched no mapping with the derived {request.label()}"})
                        counts["requests compared"] += 1
                        current = mapping.get("requiredScenarioState", "Started")
                        tied = 0 if "Matched-Stub-Id" not in theirs.get("headers", {}) else ambiguity(wiremock.url, request, wm_headers_for(request),
                                         lambda name: current if name == mapping.get("scenarioName") else "Started")
                        if tied > 1:
                            counts["ambiguous (not compared)"] += 1
                            differences.append({
                                "root": rel_root, "file": where, "request": f"{kind}: {request.label()}",
                                "class": ("near miss: " if kind != "match" else "")
                                + "ambiguous: several mappings match equally, WireMock's pick follows the directory order",
                                "example": f"{tied} mappings; WireMock answered {theirs.get('status', theirs.get('error'))}, "
                                           f"the stub {ours.get('status', ours.get('error'))}"})
                            continue
                        found = compare(mapping, root, request, theirs, ours)
                        if found and "status" in ours:
                            # Who answered on the stub's side: a mapping, its own API, the echo.
                            last = requests.get(f"{stub_url}/__admin/requests?limit=1", timeout=30).json()
                            by = ((last.get("requests") or [{}])[0].get("tokenauth") or {}).get("answeredBy")
                            if by not in (None, "mapping", "unmatched", "token rules"):
                                found = [(c + f" (the stub answered: {by})", e) for c, e in found]
                        if not found:
                            counts["equal"] += 1
                        for cls, example in found:
                            differences.append({"root": rel_root, "file": where, "request": f"{kind}: {request.label()}",
                                                "class": ("near miss: " if kind != "match" else "") + cls,
                                                "example": example})
    pool.shutdown()
    counts["repositories"] = len(counts["repositories"])
    return counts, differences, skips, files_report


def key(d):
    return (d["root"], d["file"] or "", d["request"] or "", d["class"])


def ranked(differences):
    """[(class, mapping files touched, differences, an example)], most files first."""
    by_class = {}
    for d in differences:
        entry = by_class.setdefault(d["class"], {"files": set(), "n": 0, "example": d})
        entry["files"].add((d["root"], (d["file"] or "").split("#")[0]))
        entry["n"] += 1
    return sorted(((c, len(e["files"]), e["n"], e["example"]) for c, e in by_class.items()),
                  key=lambda t: (-t[1], -t[2], t[0]))


def test_the_corpus_answers_as_wiremock_does(capsys):
    assert BINARY.exists(), f"no server binary at {BINARY} (set TOKENAUTH_BIN)"
    started = time.monotonic()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="tokenauth-corpus-"))
    try:
        served = scratch / "wiremock-root"
        (served / "mappings").mkdir(parents=True)
        (served / "__files").mkdir()
        with running_wiremock(served, "--no-request-journal") as url:
            counts, differences, skips, files_report = run_corpus(WireMock(url, served), scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    counts["seconds"] = round(time.monotonic() - started, 1)
    differences.sort(key=key)
    summary = [f"wiremock corpus: {k}: {v}" for k, v in counts.items()]
    summary += [f"wiremock corpus: {n_files:3} files {n:4}x  {cls}" for cls, n_files, n, _ in ranked(differences)]
    with capsys.disabled():
        print("\n" + "\n".join(summary))

    if UPDATE:
        KNOWN.write_text(json.dumps({
            "about": "Every difference test_wiremock_corpus.py finds between the real WireMock 3.13.2 and "
                     "tokenauth-stub on the corpus; the test fails when this list and the run disagree. "
                     "Rewrite it with TOKENAUTH_CORPUS_UPDATE=1 after a change. `example` is not compared.",
            "counts": {k: v for k, v in counts.items() if k != "seconds"},
            "classes": [{"class": c, "mapping files": nf, "differences": n} for c, nf, n, _ in ranked(differences)],
            "differences": differences,
            "skipped mappings": skips,
            "files": files_report,
        }, indent=1, ensure_ascii=False) + "\n")
        return
    known = json.loads(KNOWN.read_text())
    expected = {key(d) for d in known["differences"]}
    found = {key(d) for d in differences}
    new = sorted(found - expected)
    gone = sorted(expected - found)
    examples = {key(d): d["example"] for d in differences}
    message = []
    if new:
        message.append(f"{len(new)} difference(s) not in {KNOWN.name}:")
        message += [f"  NEW {k} — {summarise(examples[k], 200)}" for k in new[:40]]
    if gone:
        message.append(f"{len(gone)} listed difference(s) no longer occur (a fix? rewrite the list "
                       "with TOKENAUTH_CORPUS_UPDATE=1):")
        message += [f"  GONE {k}" for k in gone[:40]]
    assert not message, "\n".join(message)
    assert counts["seconds"] < 90, f"the corpus run took {counts['seconds']} s (budget 90 s)"


def test_the_corpus_is_what_sources_md_says():
    roots = corpus_roots()
    repos = {r.relative_to(CORPUS).parts[0] for r in roots}
    assert len(repos) >= 10 and sum(len(mapping_files(r)) for r in roots) >= 150
    for repo in repos:
        assert (CORPUS / repo / "LICENSE").is_file(), f"{repo} has no LICENSE"
        assert f"[{repo.replace('__', '/', 1)}]" in (CORPUS / "SOURCES.md").read_text(), repo
