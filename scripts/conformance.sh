#!/usr/bin/env bash
# API conformance: schemathesis generates requests from the served openapi.json and checks that
# none yields a 5xx, and that every status code, content type, header and body is as documented.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${ST_EXAMPLES:-50}

venv=".venv-conformance"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt

cargo build --locked --quiet -p tokenauth-stub --bin tokenauth-stub
data=$(mktemp -d)
# A free port chosen by the kernel, read from the first line: a fixed one could be another
# run's server (a test started beside this one), and schemathesis would judge that.
target/debug/tokenauth-stub --data-dir "$data" --bind "127.0.0.1:0" >"$data.out" 2>"$data.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data" "$data.out" "$data.log"' EXIT
for _ in $(seq 100); do grep -q listening "$data.out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^tokenauth-stub listening on //p' "$data.out" | head -1)
[ -n "$base" ] || { echo "conformance: the server did not start"; cat "$data.log"; exit 1; }

# As the admin (every endpoint is reachable), with the demo password. Not the operations that
# add WireMock mappings: a generated mapping (negative data included) changes what every
# unrouted path answers for the rest of the run. They are covered by the differential tests
# against the real WireMock and by its PyPI client (tests/clients).
"$venv/bin/st" run "$base/rest/tokenauth/1/openapi.json" \
  -H "Authorization: Basic $(printf 'admin:admin' | base64)" \
  --max-examples "$EXAMPLES" --seed 20261125 \
  --exclude-path /rest/tokenauth/1/admin/notifications/test \
  --exclude-operation-id createMapping --exclude-operation-id updateMapping \
  --exclude-operation-id importMappings \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
