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
port=${PORT:-29960}
target/debug/tokenauth-stub --data-dir "$data" --bind "127.0.0.1:$port" >"$data.out" 2>"$data.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data" "$data.out" "$data.log"' EXIT
for _ in $(seq 100); do grep -q listening "$data.out" 2>/dev/null && break; sleep 0.1; done

# As the admin (every endpoint is reachable), with the demo password.
"$venv/bin/st" run "http://127.0.0.1:$port/rest/tokenauth/1/openapi.json" \
  -H "Authorization: Basic $(printf 'admin:admin' | base64)" \
  --max-examples "$EXAMPLES" --seed 20261125 \
  --exclude-path /rest/tokenauth/1/admin/notifications/test \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
