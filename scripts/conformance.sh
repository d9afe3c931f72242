#!/usr/bin/env bash
# API conformance: schemathesis generates requests from the served openapi.json and checks that
# none yields a 5xx, and that every status code, content type, header and body is as documented.
#
# Three runs, one per way the server authenticates (HTTP Basic as the admin, an API token as
# Bearer, the JSESSIONID cookie of a session), each against its own fresh server: every
# operation is exercised with each kind of credential, and what one run does to the users,
# tokens, sessions and settings cannot change what the next one meets. Each run has every
# phase, the stateful (links) one included. The configuration (fixed values, exclusions,
# warnings that fail the run) is in tests/conformance/schemathesis.toml, the credentials in
# tests/conformance/hooks.py.
#
# ST_EXAMPLES: examples per operation (default 50); ST_AUTH: the runs (default "basic bearer
# session"); ST_LOG_DIR: keep a line per call of each run there (see hooks.py); ST_DOCUMENT: a
# document file to test the server against instead of the one it serves (to try a change to the
# document before it is made in the code).
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${ST_EXAMPLES:-50}
RUNS=${ST_AUTH:-basic bearer session}

venv=".venv-conformance"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt

# The binaries as `cargo test --workspace` builds them: one set of features, so one copy of
# each dependency in target/ (CI's disk is small).
cargo build --locked --quiet --workspace --bins --tests

# One run: its own server on a free port, its settings, schemathesis with its credential.
# Runs as a subshell of its own, so that the runs can go side by side.
run_one() (
  auth=$1
  data=$(mktemp -d)
  pid=
  trap 'if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$data" "$data.out" "$data.log"' EXIT
  # A free port chosen by the kernel, read from the first line: a fixed one could be another
  # run's server (a test started beside this one), and schemathesis would judge that.
  target/debug/tokenauth-stub --data-dir "$data" --bind "127.0.0.1:0" \
    --users tests/conformance/users.toml --mappings tests/conformance/wiremock \
    >"$data.out" 2>"$data.log" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$data.out" 2>/dev/null && break; sleep 0.1; done
  base=$(sed -n 's/^tokenauth-stub listening on //p' "$data.out" | head -1)
  [ -n "$base" ] || { echo "conformance: the server did not start"; cat "$data.log"; exit 1; }
  # Room for the tokens a run creates (the default cap, 100 per user, is reached half way, and
  # one user's audit budget for changes to their own tokens, a share of maxEvents, with it), and
  # every later creation would be refused for a reason that is not in its data), and tokens
  # without expiry (the bearer run's own, see hooks.py).
  curl -fsS -o /dev/null -u admin:admin -X PUT -H 'Content-Type: application/json' \
    --data @tests/conformance/settings.json "$base/rest/tokenauth/1/admin/settings"
  # A signing secret, so that `testNotification` can send (to the discard port, the webhook of
  # settings.json, or the URL schemathesis.toml fixes).
  curl -fsS -o /dev/null -u admin:admin -X PUT -H 'Content-Type: application/json' \
    --data '{"secret": "conformance-signing-secret"}' "$base/rest/tokenauth/1/admin/notifications/secret"

  extra=()
  # Only a cookie session can be ended: with Basic or a token, `deleteSession` has no session to
  # end (404) whatever it is sent. It is exercised by the session run.
  [ "$auth" = session ] || extra+=(--exclude-operation-id deleteSession)
  log=
  if [ -n "${ST_LOG_DIR:-}" ]; then mkdir -p "$ST_LOG_DIR"; log="$ST_LOG_DIR/$auth.tsv"; : >"$log"; fi

  CONFORMANCE_AUTH=$auth CONFORMANCE_LOG=$log \
    "$venv/bin/st" --config-file tests/conformance/schemathesis.toml run \
    "${ST_DOCUMENT:-$base/rest/tokenauth/1/openapi.json}" --url "$base/" --max-examples "$EXAMPLES" "${extra[@]}"
)

# The runs side by side (each is mostly one Python process waiting on one server), each into its
# own log, shown in order when all are done.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
start=$SECONDS
pids=()
for auth in $RUNS; do
  run_one "$auth" >"$logs/$auth.log" 2>&1 &
  pids+=("$!")
done
failed=()
i=0
for auth in $RUNS; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  i=$((i + 1))
  echo "=== conformance: $auth"
  cat "$logs/$auth.log"
  if [ "$rc" = 0 ]; then
    echo "=== conformance: $auth passed"
  else
    echo "=== conformance: $auth FAILED (exit $rc)"
    failed+=("$auth")
  fi
done
echo "=== conformance: $(echo $RUNS | wc -w) runs in $((SECONDS - start)) s"
[ ${#failed[@]} = 0 ] || { echo "conformance: failed: ${failed[*]}"; exit 1; }
