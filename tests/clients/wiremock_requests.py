"""Requests that a WireMock mapping should match, derived from the mapping alone, and one near
miss per mapping. Deterministic: the same mapping always gives the same requests (no random
choice; a regex gets its first, shortest-but-non-empty example).

`derive(mapping)` returns a `Request` or raises `Skip` with the reason it cannot."""

import base64
import dataclasses
import json
import re
import urllib.parse

try:  # Python 3.11+
    import re._parser as sre_parse
    import re._constants as sre_constants
except ImportError:  # pragma: no cover
    import sre_parse
    import sre_constants


class Skip(Exception):
    """The mapping asks for something these requests cannot be derived for."""


@dataclasses.dataclass
class Request:
    method: str
    url: str  # path and query, as sent
    headers: dict
    body: bytes | None

    def label(self):
        size = f" +{len(self.body)}B" if self.body else ""
        return f"{self.method} {self.url}{size}"

    def with_extra_segment(self):
        path, sep, query = self.url.partition("?")
        return Request(self.method, path.rstrip("/") + "/nearmiss" + sep + query, dict(self.headers), self.body)


def near_miss(mapping, req):
    """(how, request): `req` short of one thing the mapping asks for — its basic credentials,
    the first header it requires, its first required query parameter, its body — or, when it
    asks for none of these, with one more path segment (a path it was not written for)."""
    spec = mapping.get("request", {})
    if "basicAuthCredentials" in spec or "basicAuth" in spec:
        return "no Authorization", Request(req.method, req.url, _without(req.headers, "authorization"), req.body)
    for name, matcher in spec.get("headers", {}).items():
        if isinstance(matcher, dict) and not matcher.get("absent") and satisfies(matcher, None) is False:
            return f"no {name} header", Request(req.method, req.url, _without(req.headers, name.lower()), req.body)
    for name, matcher in spec.get("queryParameters", {}).items():
        if isinstance(matcher, dict) and not matcher.get("absent"):
            path, _, query = req.url.partition("?")
            prefix = urllib.parse.quote(name, safe="") + "="
            rest = "&".join(p for p in query.split("&") if p and not p.startswith(prefix))
            return f"no {name} parameter", Request(req.method, path + ("?" + rest if rest else ""), dict(req.headers), req.body)
    if spec.get("bodyPatterns") and req.body:
        return "no body", Request(req.method, req.url, _without(req.headers, "content-type"), None)
    return "extra path segment", req.with_extra_segment()


def _without(headers, lower_name):
    return {k: v for k, v in headers.items() if k.lower() != lower_name}


# --- regex examples ------------------------------------------------------------------------

_CAT = {
    sre_constants.CATEGORY_DIGIT: "1", sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_WORD: "a", sre_constants.CATEGORY_NOT_WORD: "-",
    sre_constants.CATEGORY_SPACE: " ", sre_constants.CATEGORY_NOT_SPACE: "a",
}
_NEGATED_CANDIDATES = "axz1-_.~b0"


def _in_set(items, ch):
    for op, av in items:
        if op is sre_constants.LITERAL and chr(av) == ch:
            return True
        if op is sre_constants.RANGE and av[0] <= ord(ch) <= av[1]:
            return True
        if op is sre_constants.CATEGORY and re.fullmatch(
                {sre_constants.CATEGORY_DIGIT: r"\d", sre_constants.CATEGORY_NOT_DIGIT: r"\D",
                 sre_constants.CATEGORY_WORD: r"\w", sre_constants.CATEGORY_NOT_WORD: r"\W",
                 sre_constants.CATEGORY_SPACE: r"\s", sre_constants.CATEGORY_NOT_SPACE: r"\S"}[av], ch):
            return True
    return False


def _emit(parsed, groups, at_least_one, repeated=False):
    out = []
    for op, av in parsed:
        if op is sre_constants.LITERAL:
            out.append(chr(av))
        elif op is sre_constants.NOT_LITERAL:
            out.append("a" if chr(av) != "a" else "b")
        elif op is sre_constants.ANY:
            # A lone `.` is nearly always a dot the author did not escape (`/2.0/`, `a.json`);
            # one under a repeat (`.*`, `.+`) stands for anything.
            out.append("x" if repeated else ".")
        elif op is sre_constants.IN:
            items = list(av)
            if items and items[0][0] is sre_constants.NEGATE:
                rest = items[1:]
                out.append(next(c for c in _NEGATED_CANDIDATES if not _in_set(rest, c)))
            else:
                # Prefer a letter or digit the set allows, so paths stay plain.
                for c in "a1xA0":
                    if _in_set(items, c):
                        out.append(c)
                        break
                else:
                    first_op, first_av = items[0]
                    if first_op is sre_constants.LITERAL:
                        out.append(chr(first_av))
                    elif first_op is sre_constants.RANGE:
                        out.append(chr(first_av[0]))
                    elif first_op is sre_constants.CATEGORY:
                        out.append(_CAT[first_av])
                    else:
                        raise Skip(f"regex set item {first_op}")
        elif op is sre_constants.BRANCH:
            out.append(_emit(av[1][0], groups, at_least_one))
        elif op is sre_constants.SUBPATTERN:
            group, _, _, sub = av
            text = _emit(sub, groups, at_least_one, repeated)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            n = lo if lo > 0 or not at_least_one else min(1, hi)
            out.append("".join(_emit(sub, groups, at_least_one, True) for _ in range(n)))
        elif op is sre_constants.AT:
            pass
        elif op is sre_constants.CATEGORY:
            out.append(_CAT[av])
        elif op is sre_constants.GROUPREF:
            out.append(groups.get(av, ""))
        elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
            out.append(_emit(av, groups, at_least_one))
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            pass
        else:
            raise Skip(f"regex construct {op}")
    return "".join(out)


def regex_example(pattern):
    """A string the whole of `pattern` matches (WireMock's `matches` is Java's `matches()`)."""
    try:
        parsed = sre_parse.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, OverflowError) as e:
        raise Skip(f"regex {pattern!r} does not parse here: {e}") from None
    for at_least_one in (True, False):
        text = _emit(parsed, {}, at_least_one)
        if compiled.fullmatch(text):
            return text
    raise Skip(f"no example found for regex {pattern!r}")


# --- string matchers -------------------------------------------------------------------------

def satisfies(matcher, value):
    """Whether `value` (a string, or None for absent) meets a simple WireMock string matcher;
    None when this module cannot tell."""
    if not isinstance(matcher, dict):
        return None
    if "absent" in matcher:
        return (value is None) == bool(matcher["absent"])
    if value is None:
        return False
    ci = matcher.get("caseInsensitive", False)
    fold = (lambda s: s.lower()) if ci else (lambda s: s)
    if "equalTo" in matcher:
        return fold(value) == fold(str(matcher["equalTo"]))
    if "contains" in matcher:
        return str(matcher["contains"]) in value
    if "doesNotContain" in matcher:
        return str(matcher["doesNotContain"]) not in value
    if "matches" in matcher:
        return re.fullmatch(matcher["matches"], value) is not None
    if "doesNotMatch" in matcher:
        return re.fullmatch(matcher["doesNotMatch"], value) is None
    if "and" in matcher:
        results = [satisfies(m, value) for m in matcher["and"]]
        return None if None in results else all(results)
    if "or" in matcher:
        results = [satisfies(m, value) for m in matcher["or"]]
        return True if True in results else (None if None in results else False)
    return None


def value_for(matcher, what):
    """A value a string matcher accepts: a string, a list of them (multi-valued), or None for
    "leave it out"."""
    if not isinstance(matcher, dict):
        raise Skip(f"{what}: matcher is not an object")
    if "absent" in matcher:
        return None if matcher["absent"] else "present"
    if "equalTo" in matcher:
        v = matcher["equalTo"]
        return v if isinstance(v, str) else json.dumps(v)
    if "contains" in matcher:
        return str(matcher["contains"])
    if "matches" in matcher:
        return regex_example(matcher["matches"])
    if "doesNotMatch" in matcher or "doesNotContain" in matcher:
        for candidate in ("nearmiss", "x", "0"):
            if satisfies(matcher, candidate):
                return candidate
        raise Skip(f"{what}: no value for {matcher}")
    if "and" in matcher:
        for sub in matcher["and"]:
            try:
                candidate = value_for(sub, what)
            except Skip:
                continue
            if isinstance(candidate, str) and satisfies(matcher, candidate):
                return candidate
        raise Skip(f"{what}: no value meets every matcher of the 'and'")
    if "or" in matcher:
        return value_for(matcher["or"][0], what)
    if "hasExactly" in matcher or "includes" in matcher:
        subs = matcher.get("hasExactly") or matcher.get("includes")
        return [value_for(m, what) for m in subs]
    if "equalToJson" in matcher:
        v = matcher["equalToJson"]
        return v if isinstance(v, str) else json.dumps(v)
    raise Skip(f"{what}: matcher {sorted(matcher)[0]}")


# --- JSON bodies ------------------------------------------------------------------------------

_PLACEHOLDERS = {"${json-unit.any-string}": "x", "${json-unit.any-number}": 1,
                 "${json-unit.any-boolean}": True, "${json-unit.ignore}": "x"}


def _fill_placeholders(doc):
    if isinstance(doc, dict):
        return {k: _fill_placeholders(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_fill_placeholders(v) for v in doc]
    if isinstance(doc, str):
        if doc in _PLACEHOLDERS:
            return _PLACEHOLDERS[doc]
        if doc.startswith("${json-unit.regex}"):
            return regex_example(doc[len("${json-unit.regex}"):])
    return doc


def merge(a, b):
    """b laid over a (objects merged key by key, arrays element by element)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(a[k], v) if k in a else v
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = list(a)
        for i, v in enumerate(b):
            if i < len(out):
                out[i] = merge(out[i], v) if v != {} else out[i]
            else:
                out.append(v)
        return out
    return b


_TOKEN = re.compile(r"""\.\.?(?P<name>[A-Za-z_$@][\w$@-]*)|\[\s*'(?P<q1>[^']*)'\s*\]|\[\s*"(?P<q2>[^"]*)"\s*\]"""
                    r"""|\[(?P<index>-?\d+)\]|\[\*\]|\.\*|\[\?\((?P<filter>.*?)\)\](?=$|[.\[])""")
_CONDITION = re.compile(r"""^\s*@((?:\.[\w$-]+|\['[^']*'\])*)\s*(?:(==|=~|!=|>=|<=|>|<)\s*(.+?))?\s*$""")


def _segments(at_path):
    return [m.group(1) or m.group(2) for m in re.finditer(r"\.([\w$-]+)|\['([^']*)'\]", at_path)]


def _literal(text):
    text = text.strip()
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise Skip(f"JSONPath filter value {text!r}") from None


def _filter_element(expr):
    """An array element the filter selects."""
    element = {}
    for cond in re.split(r"\s*&&\s*", expr):
        m = _CONDITION.match(cond)
        if not m:
            raise Skip(f"JSONPath filter {expr!r}")
        path, op, rhs = m.group(1), m.group(2), m.group(3)
        if op is None:
            value = "x"
        elif op == "==":
            value = _literal(rhs)
        elif op == "=~":
            rm = re.fullmatch(r"/(.*)/(i?)", rhs.strip())
            if not rm:
                raise Skip(f"JSONPath regex {rhs!r}")
            value = regex_example(rm.group(1))
        else:
            raise Skip(f"JSONPath filter operator {op}")
        segs = _segments(path)
        if not segs:
            return value
        element = merge(element, _build(segs, value))
    return element


def _build(segments, leaf):
    doc = leaf
    for seg in reversed(segments):
        doc = {seg: doc}
    return doc


def json_for_path(expression, leaf="x"):
    """A JSON document in which the JSONPath `expression` finds something (`leaf` at its end)."""
    expression = expression.strip()
    if not expression.startswith("$"):
        raise Skip(f"JSONPath {expression!r}")
    rest, steps = expression[1:], []
    while rest:
        m = _TOKEN.match(rest)
        if not m:
            raise Skip(f"JSONPath {expression!r}")
        rest = rest[m.end():]
        if m.group("name") is not None:
            if m.group("name") in ("length", "size") and rest.startswith("()"):
                raise Skip(f"JSONPath function in {expression!r}")
            steps.append(("key", m.group("name")))
        elif m.group("q1") is not None or m.group("q2") is not None:
            steps.append(("key", m.group("q1") if m.group("q1") is not None else m.group("q2")))
        elif m.group("index") is not None:
            steps.append(("index", int(m.group("index"))))
        elif m.group("filter") is not None:
            steps.append(("filter", m.group("filter")))
        else:
            steps.append(("index", 0))

    def build(i):
        if i == len(steps):
            return leaf
        kind, arg = steps[i]
        inner = build(i + 1)
        if kind == "key":
            return {arg: inner}
        if kind == "index":
            if arg < 0:
                return [inner]
            return [{} if isinstance(inner, dict) else inner for _ in range(arg)] + [inner]
        element = _filter_element(arg)
        return [merge(element, inner) if i + 1 < len(steps) else element]

    return build(0)


def _sub_matcher_leaf(pattern):
    for key in ("equalTo", "contains", "matches"):
        if key in pattern:
            return value_for({key: pattern[key]}, "body")
    if "equalToJson" in pattern:
        v = pattern["equalToJson"]
        return json.loads(v) if isinstance(v, str) else v
    return "x"


def body_for(patterns):
    """(bytes, content type) that every body pattern accepts, or (None, None)."""
    doc, raw, texts, ctype = None, None, [], None
    for p in patterns:
        if not isinstance(p, dict):
            raise Skip("body pattern is not an object")
        if "equalToJson" in p:
            v = p["equalToJson"]
            try:
                parsed = json.loads(v) if isinstance(v, str) else v
            except ValueError:
                raise Skip("equalToJson is not JSON") from None
            doc = merge(doc, _fill_placeholders(parsed)) if doc is not None else _fill_placeholders(parsed)
        elif "matchesJsonPath" in p:
            expr = p["matchesJsonPath"]
            if isinstance(expr, dict):
                if "absent" in expr:
                    continue
                part = json_for_path(expr["expression"], _sub_matcher_leaf(expr))
            else:
                part = json_for_path(expr, _sub_matcher_leaf(p))
            doc = merge(doc, part) if doc is not None else part
        elif "binaryEqualTo" in p:
            raw, ctype = base64.b64decode(p["binaryEqualTo"]), "application/octet-stream"
        elif "equalTo" in p:
            raw = str(p["equalTo"]).encode()
        elif "equalToXml" in p:
            raw, ctype = str(p["equalToXml"]).encode(), "application/xml"
        elif "contains" in p:
            texts.append(str(p["contains"]))
        elif "matches" in p:
            texts.append(regex_example(p["matches"]))
        elif any(k in p for k in ("doesNotMatch", "doesNotContain", "absent")):
            continue
        else:
            raise Skip(f"body pattern {sorted(p)[0]}")
    if raw is not None:
        return raw, ctype
    if doc is not None:
        text = json.dumps(doc)
        for t in texts:
            if t not in text:
                raise Skip("a body pattern's text is not in the JSON body")
        return text.encode(), "application/json"
    if texts:
        if len(texts) > 1 and any(p.get("matches") for p in patterns if isinstance(p, dict)):
            raise Skip("several body regexes")
        return "".join(texts).encode(), "text/plain"
    return None, None


# --- the request ------------------------------------------------------------------------------

def _query(params):
    parts = []
    for name, matcher in params.items():
        value = value_for(matcher, f"query parameter {name}")
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                parts.append(f"{urllib.parse.quote(name, safe='')}={urllib.parse.quote(v, safe='')}")
    return "&".join(parts)


def _template_path(template, params):
    def fill(m):
        name = m.group(1)
        if name in params:
            value = value_for(params[name], f"path parameter {name}")
            if not isinstance(value, str):
                raise Skip(f"path parameter {name}")
            return urllib.parse.quote(value, safe="")
        return "1"
    return re.sub(r"\{([^}]+)\}", fill, template)


UNSUPPORTED_REQUEST_KEYS = ("multipartPatterns", "customMatcher", "host", "port", "scheme", "clientIp",
                            "formParameters")


def derive(mapping):
    req = mapping.get("request")
    if not isinstance(req, dict):
        raise Skip("no request object")
    for key in UNSUPPORTED_REQUEST_KEYS:
        if key in req:
            raise Skip(f"request.{key}")
    method = req.get("method", "ANY")
    if not isinstance(method, str):
        raise Skip("method is not a string")
    method = "GET" if method.upper() == "ANY" else method.upper()
    if "url" in req:
        url = req["url"]
    elif "urlPath" in req:
        url = req["urlPath"]
    elif "urlPattern" in req:
        url = regex_example(req["urlPattern"])
    elif "urlPathPattern" in req:
        url = regex_example(req["urlPathPattern"])
    elif "urlPathTemplate" in req:
        url = _template_path(req["urlPathTemplate"], req.get("pathParameters", {}))
    else:
        url = "/"
    if not isinstance(url, str) or not url.startswith("/"):
        raise Skip(f"URL {url!r} is not a path")
    query = _query(req.get("queryParameters", {}))
    if query:
        url += ("&" if "?" in url else "?") + query
    headers = {}
    for name, matcher in req.get("headers", {}).items():
        value = value_for(matcher, f"header {name}")
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            headers[name] = value
    cookies = []
    for name, matcher in req.get("cookies", {}).items():
        value = value_for(matcher, f"cookie {name}")
        if isinstance(value, str):
            cookies.append(f"{name}={value}")
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    # WireMock reads `basicAuth` (its JSON name) and `basicAuthCredentials` (its Java name).
    creds = req.get("basicAuthCredentials", req.get("basicAuth"))
    if isinstance(creds, dict):
        pair = f"{creds.get('username', '')}:{creds.get('password', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    body, ctype = body_for(req.get("bodyPatterns", []))
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = ctype
    return Request(method, url, headers, body)
