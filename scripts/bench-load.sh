#!/usr/bin/env bash
# Load benchmark of tokenauth-stub (release build, loopback, wrk with 64 connections).
# Prints every figure of BENCHMARKS.md, each ratio measured within the same run.
#
#   scripts/bench-load.sh            # all scenarios, 10 s per wrk run
#   DUR=5 scripts/bench-load.sh      # shorter runs
#   ONLY="1 2 3" scripts/bench-load.sh            # some scenarios
#   ONLY=8 WARM=40 scripts/bench-load.sh           # WireMock mappings against the real WireMock
#                                    # (needs java and npm; WARM: seconds of JIT warm-up first)
#   BIN=/other/build/tokenauth-stub scripts/bench-load.sh   # another build (e.g. an older
#                                    # release, for a before/after on the same machine)
#
# Needs: wrk (Debian package `wrk`), curl, python3, taskset (util-linux). On a machine with two or
# more cores the server runs on CPU 1 and wrk on CPU 0, so they do not fight over one core.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-10}
CONNS=64
PORT=${PORT:-29900}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
trap 'stop_server; rm -rf "$WORK"' EXIT

if ! command -v wrk >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "bench-load: $tool is required (apt-get install wrk curl python3)"; exit 1; }
done

cargo build --release --quiet -p tokenauth-stub --bin tokenauth-stub -p tokenauth-e2e --bin tokenauth-seed --bin bare-hyper
BIN=${BIN:-target/release/tokenauth-stub}
SEED=target/release/tokenauth-seed
ONLY=${ONLY:-0 1 2 3 4 5 7 8}
want() { [[ " $ONLY " == *" $1 "* ]]; }

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_PIN=(taskset -c 1); CLIENT_PIN=(taskset -c 0)
else
  SERVER_PIN=(); CLIENT_PIN=()
fi

PID=""
start_server() { # data-dir [extra args]
  local data=$1; shift
  "${SERVER_PIN[@]}" "$BIN" --data-dir "$data" --bind "127.0.0.1:$PORT" "$@" >"$WORK/out" 2>"$WORK/server.log" &
  PID=$!
  for _ in $(seq 100); do
    grep -q "listening" "$WORK/out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
stop_server() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi
}
cli() { "$BIN" --data-dir "$@" 2>/dev/null; }

# wrk [args...] -> "rps p50 p99 requests"
load() {
  "${CLIENT_PIN[@]}" wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /requests in/ {n=$1}
    END {print rps, p50, p99, n}'
}
ratio() { python3 -c "print(f'{$1/$2:.3f}')"; }
cpu_seconds() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }

echo "# tokenauth-stub load benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${DUR}s per run, $CONNS connections"

median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

# ---------------------------------------------------------------- 0. the floor: bare hyper
# The stub's anonymous serverInfo against a bare hyper server (tests crate, `bare-hyper`) that
# answers the same status, headers and body bytes, captured from the stub, on the same core;
# three rounds, alternating, the median of each.
if want 0; then
D0="$WORK/d0"
start_server "$D0"
curl -s -D "$WORK/si.head" -o "$WORK/si.body" "$BASE/rest/api/2/serverInfo"
hdr_args=()
while IFS= read -r line; do
  line=${line%$'\r'}
  case "${line,,}" in content-type:*) hdr_args+=(--header "$line");; esac
done <"$WORK/si.head"
BARE_PORT=$((PORT + 2))
"${SERVER_PIN[@]}" target/release/bare-hyper --bind "127.0.0.1:$BARE_PORT" --body-file "$WORK/si.body" "${hdr_args[@]}" >"$WORK/bare.out" 2>&1 &
BARE_PID=$!
sleep 0.3
stub_runs=(); bare_runs=()
for _ in 1 2 3; do
  read -r r _ _ _ < <(load "http://127.0.0.1:$BARE_PORT/rest/api/2/serverInfo"); bare_runs+=("$r")
  read -r r _ _ _ < <(load "$BASE/rest/api/2/serverInfo"); stub_runs+=("$r")
done
kill "$BARE_PID" 2>/dev/null || true; wait "$BARE_PID" 2>/dev/null || true
stop_server
b_rps=$(median "${bare_runs[@]}"); s_rps=$(median "${stub_runs[@]}")
echo
echo "## 0. the floor: anonymous serverInfo vs a bare hyper server answering the same bytes"
echo "bare hyper:           $b_rps req/s   (runs: ${bare_runs[*]})"
echo "stub, anonymous:      $s_rps req/s   (runs: ${stub_runs[*]})"
echo "ratio: $(ratio "$s_rps" "$b_rps")   (target >= 0.85)"
fi

# ---------------------------------------------------------------- 1. cached token vs anonymous
D1="$WORK/d1"
if want 1 || want 2; then
TOKEN=$(cli "$D1" token create alice --description bench)
# The journal-off server runs beside the default one (a copy of its data: sled locks its
# directory), both on the server's core, so that the three figures alternate within three
# rounds, as the floor's do, and each ratio is of medians: one 10 s run each moved a ratio by
# more than a change buys (BENCHMARKS.md, stop 34).
cp -r "$D1" "$WORK/d1-off"
OFF_PORT=$((PORT + 3))
"${SERVER_PIN[@]}" "$BIN" --data-dir "$WORK/d1-off" --bind "127.0.0.1:$OFF_PORT" --journal-size 0 >"$WORK/off.out" 2>"$WORK/off.log" &
OFF_PID=$!
start_server "$D1"
for _ in $(seq 50); do grep -q "listening" "$WORK/off.out" 2>/dev/null && break; sleep 0.1; done
a_runs=(); t_runs=(); j0_runs=()
for _ in 1 2 3; do
  read -r r _ _ _ < <(load "$BASE/rest/api/2/serverInfo"); a_runs+=("$r")
  read -r r t_p50 t_p99 _ < <(load -H "Authorization: Bearer $TOKEN" "$BASE/rest/api/2/myself"); t_runs+=("$r")
  read -r r _ _ _ < <(load -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$OFF_PORT/rest/api/2/myself"); j0_runs+=("$r")
done
kill -TERM "$OFF_PID" 2>/dev/null || true; wait "$OFF_PID" 2>/dev/null || true
stop_server
a_rps=$(median "${a_runs[@]}"); t_rps=$(median "${t_runs[@]}"); j0_rps=$(median "${j0_runs[@]}")
echo
echo "## 1. authenticated GET /rest/api/2/myself (token, cache warm) vs anonymous serverInfo"
echo "(three rounds, alternating; medians)"
echo "anonymous:      $a_rps req/s   (runs: ${a_runs[*]})"
echo "token (cached): $t_rps req/s   (runs: ${t_runs[*]})  p50 $t_p50  p99 $t_p99 (its last run)"
echo "ratio: $(ratio "$t_rps" "$a_rps")   (target >= 0.95, journal on: the default)"
echo "token, journal off (--journal-size 0): $j0_rps req/s   (runs: ${j0_runs[*]}); journal on/off $(ratio "$t_rps" "$j0_rps")   (target >= 0.97)"

fi

# ---------------------------------------------------------------- 2. with audit option (1)
if want 2; then
cli "$D1" settings set '{"audit": {"successfulAuthentication": true}}' >/dev/null
before=$(cli "$D1" audit export --format csv --action "Authenticated with API token" | tail -n +2 | wc -l)
start_server "$D1"
read -r a2_rps _ _ _ < <(load "$BASE/rest/api/2/serverInfo")
read -r u_rps u_p50 u_p99 u_n < <(load -H "Authorization: Bearer $TOKEN" "$BASE/rest/api/2/myself")
stop_server
after=$(cli "$D1" audit export --format csv --action "Authenticated with API token" | tail -n +2 | wc -l)
events=$((after - before))
echo
echo "## 2. the same with audit option (1): every success audited"
echo "anonymous:      $a2_rps req/s"
echo "token, audited: $u_rps req/s  p50 $u_p50  p99 $u_p99"
echo "ratio: $(ratio "$u_rps" "$a2_rps")   (target >= 0.85)"
echo "requests counted by wrk: $u_n; events stored: $events; lost: $(( u_n > events ? u_n - events : 0 ))"
echo "(wrk does not count requests still in flight when it stops, so events may exceed requests)"

fi

# ---------------------------------------------------------------- 3. a flood of wrong secrets
if want 3; then
D3="$WORK/d3"
GOOD=$(cli "$D3" token create alice --description victim)
OTHER=$(cli "$D3" token create bob --description bystander)
python3 - "$GOOD" "$WORK/forged.txt" <<'PY'
import secrets, sys, zlib
alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
token, out = sys.argv[1], sys.argv[2]
token_id = token[4:16]
with open(out, "w") as f:
    for _ in range(50000):
        body = f"tka_{token_id}_" + "".join(secrets.choice(alphabet) for _ in range(32))
        n, sum_ = zlib.crc32(body.encode()), ""
        for _ in range(6):
            sum_ = alphabet[n % 62] + sum_
            n //= 62
        f.write(f"alice:{body}{sum_}\n")
PY
# wrk's Lua has no base64: pre-encode the headers instead.
python3 - "$WORK/forged.txt" "$WORK/forged.hdr" <<'PY'
import base64, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        out.write(base64.b64encode(line.strip().encode()).decode() + "\n")
PY
cat >"$WORK/flood.lua" <<'LUA'
local creds, i = {}, 0
init = function(args)
  for line in io.lines(os.getenv("FLOOD_FILE")) do creds[#creds + 1] = line end
end
request = function()
  i = i + 1
  return wrk.format("GET", "/rest/api/2/myself", {["Authorization"] = "Basic " .. creds[(i % #creds) + 1]})
end
LUA
start_server "$D3"
CONNS=32
read -r n_rps _ n_p99 _ < <(load -H "Authorization: Bearer $OTHER" "$BASE/rest/api/2/myself")
cpu0=$(cpu_seconds "$PID")
FLOOD_FILE="$WORK/forged.hdr" "${CLIENT_PIN[@]}" wrk -t1 -c32 -d"${DUR}s" -s "$WORK/flood.lua" "$BASE/rest/api/2/myself" >"$WORK/flood.out" 2>&1 &
FLOOD=$!
sleep 0.5
read -r f_rps _ f_p99 _ < <(load -H "Authorization: Bearer $OTHER" "$BASE/rest/api/2/myself")
wait "$FLOOD"
cpu1=$(cpu_seconds "$PID")
flood_rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/flood.out")
good_status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GOOD" "$BASE/rest/api/2/myself")
good_elsewhere=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -H "Authorization: Bearer $GOOD" "$BASE/rest/api/2/myself" || echo "n/a")
stop_server
hashed=$(grep -o 'argon2_verifications=[0-9]*' "$WORK/server.log" | tail -1 | cut -d= -f2)
CONNS=64
echo
echo "## 3. a flood of wrong secrets (valid checksum) for a real token id, 32 + 32 connections"
echo "other clients alone:       $n_rps req/s  p99 $n_p99"
echo "other clients under flood: $f_rps req/s  p99 $f_p99"
echo "ratio: $(ratio "$f_rps" "$n_rps")   (target >= 0.6)"
echo "flood answered at $flood_rps req/s (all 401); server CPU during the flood run: $(python3 -c "print(f'{($cpu1-$cpu0):.1f}')") s over ~${DUR}s"
echo "argon2 verifications by the server in all of this scenario: $hashed"
echo "the attacked token's owner, right secret never used before, right after the flood:"
echo "  from the flood's address: HTTP $good_status (its failure budget is spent); from 127.0.0.2: HTTP $good_elsewhere"

fi

# ---------------------------------------------------------------- 4. memory after 100,000 distinct tokens
if want 4; then
D4="$WORK/d4"
"$SEED" --data-dir "$D4" --tokens 100000 --tokens-out "$WORK/tokens.txt" 2>/dev/null
python3 - "$WORK/tokens.txt" "$WORK/tokens.hdr" <<'PY'
import sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        out.write("Bearer " + line.strip() + "\n")
PY
cat >"$WORK/distinct.lua" <<'LUA'
local tokens, i = {}, 0
init = function(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
end
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format("GET", "/rest/api/2/myself", {["Authorization"] = tokens[i]})
end
response = function(status, headers, body)
  if i >= #tokens then wrk.thread:stop() end
end
LUA
start_server "$D4"
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
# One connection walks the list in order and stops after the 100,000th token.
TOKENS_FILE="$WORK/tokens.hdr" "${CLIENT_PIN[@]}" wrk -t1 -c1 -d120s -s "$WORK/distinct.lua" "$BASE/rest/api/2/myself" >"$WORK/distinct.out" 2>&1 || true
distinct_n=$(awk '/requests in/ {print $1}' "$WORK/distinct.out")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
stop_server
echo
echo "## 4. memory after 100,000 distinct tokens were used (each verified once, cache capacity 10,000)"
echo "requests made: $distinct_n (one connection cycling through the 100,000 tokens)"
echo "RSS at start: $((rss0 / 1024)) MiB; after: $((rss1 / 1024)) MiB; peak (VmHWM): $((hwm / 1024)) MiB"

fi

# ---------------------------------------------------------------- 5. audit at scale
if want 5; then
D5="$WORK/d5"
"$SEED" --data-dir "$D5" --events 1000000 2>/dev/null
disk=$(du -sm "$D5" | cut -f1)
TOKEN5=$(cli "$D5" token create alice --description scale)
start_server "$D5"
first_page() { # query -> median ms of 5
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -w '%{time_total}\n' -u admin:admin "$BASE/rest/auditing/1.0/events?limit=50&$1"
  done | sort -n | sed -n 3p | awk '{printf "%.1f", $1 * 1000}'
}
p_all=$(first_page "")
p_user=$(first_page "user=alice")
p_bot=$(first_page "user=ci-bot-7")
p_action=$(first_page "action=API%20token%20created")
# 6. what the desktop's audit screen asks for: cursor paging and the chart's histogram
timed() { # path -> median ms of 5
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -w '%{time_total}\n' -u admin:admin "$BASE$1"
  done | sort -n | sed -n 3p | awk '{printf "%.1f", $1 * 1000}'
}
cursor=""; : >"$WORK/pages"
for _ in $(seq 300); do
  page=$(curl -s -u admin:admin -w '\n%{time_total}' "$BASE/rest/auditing/1.0/events?limit=100&before=$cursor")
  echo "$page" | tail -1 >>"$WORK/pages"
  cursor=$(echo "$page" | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pagingInfo"]["nextBefore"] or "")')
done
pages=$(sort -n "$WORK/pages" | awk '{a[NR]=$1} END {printf "median %.1f ms, slowest %.1f ms", a[int(NR/2)]*1000, a[NR]*1000}')
o_mid=$(timed "/rest/auditing/1.0/events?limit=100&offset=500000")
h_all=$(timed "/rest/tokenauth/1/admin/audit/histogram?buckets=60")
h_user=$(timed "/rest/tokenauth/1/admin/audit/histogram?buckets=60&user=alice")
h_both=$(timed "/rest/tokenauth/1/admin/audit/histogram?buckets=60&user=alice&action=Authenticated%20with%20API%20token")
read -r b_rps _ b_p99 _ < <(load -H "Authorization: Bearer $TOKEN5" "$BASE/rest/api/2/myself")
curl -s -o /dev/null -u admin:admin -X PUT -H 'Content-Type: application/json' \
  -d '{"audit": {"maxEvents": 500000}}' "$BASE/rest/tokenauth/1/admin/settings"
read -r pr_rps _ pr_p99 _ < <(load -H "Authorization: Bearer $TOKEN5" "$BASE/rest/api/2/myself")
stop_server
pruned=$(grep -o 'removed=[0-9]*' "$WORK/server.log" | tail -1 | cut -d= -f2)
echo
echo "## 5. audit at scale: 1,000,000 events in the store"
echo "disk: $disk MiB for 1,000,000 events (plus 3 users)"
echo "first page (50) of GET /rest/auditing/1.0/events, median of 5, curl total:"
echo "  no filter: $p_all ms; user=alice (1 in 1,000 events): $p_user ms; user=ci-bot-7 (1 in 20): $p_bot ms; rare action: $p_action ms   (target <= 50 ms)"
echo "authentication while idle:   $b_rps req/s  p99 $b_p99"
echo "authentication while pruning ${pruned:-?} events (maxEvents 1,000,000 -> 500,000): $pr_rps req/s  p99 $pr_p99"
echo
echo "## 6. the desktop's audit screen on 1,000,000 events"
echo "300 pages of 100 walked with the keyset cursor: $pages; offset=500000 instead: $o_mid ms"
echo "histogram (60 slices): no filter $h_all ms; user=alice $h_user ms; user and action $h_both ms"
fi

# ---------------------------------------------------------------- 7. HTTPS
if want 7; then
D7="$WORK/d7"
TOKEN7=$(cli "$D7" token create alice --description https)
start_server "$D7"
read -r h_rps h_p50 h_p99 _ < <(load -H "Authorization: Bearer $TOKEN7" "$BASE/rest/api/2/myself")
read -r hc_rps _ _ _ < <(load -H "Connection: close" -H "Authorization: Bearer $TOKEN7" "$BASE/rest/api/2/myself")
stop_server
start_server "$D7" --tls-self-signed
TLS_BASE="https://127.0.0.1:$PORT"
read -r s_rps s_p50 s_p99 _ < <(load -H "Authorization: Bearer $TOKEN7" "$TLS_BASE/rest/api/2/myself")
read -r sc_rps _ _ _ < <(load -H "Connection: close" -H "Authorization: Bearer $TOKEN7" "$TLS_BASE/rest/api/2/myself")
stop_server
echo
echo "## 7. HTTPS (--tls-self-signed, TLS 1.3, ECDSA P-256) vs plain HTTP, cached token"
echo "HTTP,  keep-alive:      $h_rps req/s  p50 $h_p50  p99 $h_p99"
echo "HTTPS, keep-alive:      $s_rps req/s  p50 $s_p50  p99 $s_p99"
echo "ratio: $(ratio "$s_rps" "$h_rps")"
echo "a new connection per request: HTTP $hc_rps req/s, HTTPS $sc_rps req/s (a full handshake each), ratio $(ratio "$sc_rps" "$hc_rps")"
fi

# ---------------------------------------------------------------- 8. WireMock mappings
# A mapped JSON answer (a Jira issue) with token authentication on the stub, against the same
# mapping on the real WireMock 3 without authentication, both on the same pinned core, WireMock
# measured after WARM seconds of load (its JIT climbs for about 40 s). Then the stub with 1,000
# mappings (literal paths: the common case the index serves) against 1, and journal on vs off.
if want 8; then
WIREMOCK_VERSION=3.13.2
JAR=".cache/wiremock/wiremock-standalone-$WIREMOCK_VERSION.jar"
if [ ! -f "$JAR" ]; then
  mkdir -p .cache/wiremock
  (cd "$WORK" && npm pack "wiremock@$WIREMOCK_VERSION" --silent >/dev/null \
    && tar -xzf "wiremock-$WIREMOCK_VERSION.tgz" "package/build/wiremock-standalone-$WIREMOCK_VERSION.jar")
  mv "$WORK/package/build/wiremock-standalone-$WIREMOCK_VERSION.jar" "$JAR"
fi
WARM=${WARM:-40}
M1="$WORK/m1"; M1000="$WORK/m1000"
python3 - "$M1" "$M1000" <<'EOF'
import json, pathlib, sys
issue = {"request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"},
         "response": {"status": 200, "headers": {"Content-Type": "application/json"},
                      "jsonBody": {"id": "10001", "key": "PROJ-1", "self": "http://jira/rest/api/2/issue/10001",
                                   "fields": {"summary": "A mapped issue", "status": {"name": "Open"},
                                              "assignee": {"name": "alice", "displayName": "Alice"},
                                              "labels": ["bench", "wiremock"]}}}}
for root, n in ((sys.argv[1], 1), (sys.argv[2], 1000)):
    m = pathlib.Path(root) / "mappings"; m.mkdir(parents=True)
    (pathlib.Path(root) / "__files").mkdir()
    (m / "issue.json").write_text(json.dumps(issue))
    others = [{"request": {"method": "GET", "urlPath": f"/rest/api/2/issue/OTHER-{i}"},
               "response": {"status": 200, "jsonBody": {"key": f"OTHER-{i}"}}} for i in range(n - 1)]
    if others:
        (m / "others.json").write_text(json.dumps({"mappings": others}))
EOF
WM_PORT=$((PORT + 1))
"${SERVER_PIN[@]}" java -jar "$JAR" --port "$WM_PORT" --root-dir "$M1" --disable-banner >"$WORK/wm.log" 2>&1 &
WM_PID=$!
for _ in $(seq 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$WM_PORT/rest/api/2/issue/PROJ-1" && break
  sleep 0.1
done
DUR_SAVED=$DUR; DUR=$WARM
load "http://127.0.0.1:$WM_PORT/rest/api/2/issue/PROJ-1" >/dev/null
DUR=$DUR_SAVED
read -r w_rps w_p50 w_p99 _ < <(load "http://127.0.0.1:$WM_PORT/rest/api/2/issue/PROJ-1")
kill -TERM "$WM_PID" 2>/dev/null || true; wait "$WM_PID" 2>/dev/null || true

D8="$WORK/d8"
TOKEN8=$(cli "$D8" token create alice --description wiremock-bench)
ISSUE="$BASE/rest/api/2/issue/PROJ-1"
start_server "$D8" --mappings "$M1"
read -r s1_rps s1_p50 s1_p99 _ < <(load -H "Authorization: Bearer $TOKEN8" "$ISSUE")
stop_server
start_server "$D8" --mappings "$M1" --journal-size 0
read -r s0_rps s0_p50 s0_p99 _ < <(load -H "Authorization: Bearer $TOKEN8" "$ISSUE")
stop_server
start_server "$D8" --mappings "$M1000"
read -r sk_rps sk_p50 sk_p99 _ < <(load -H "Authorization: Bearer $TOKEN8" "$ISSUE")
stop_server
start_server "$D8" --mappings "$M1"
read -r an_rps _ _ _ < <(load "$BASE/rest/api/2/serverInfo")
stop_server
echo
echo "## 8. a mapped JSON answer: the stub (token, journal on) vs WireMock $WIREMOCK_VERSION (no authentication, after ${WARM}s of warm-up)"
echo "WireMock:                      $w_rps req/s  p50 $w_p50  p99 $w_p99"
echo "stub, 1 mapping, journal on:   $s1_rps req/s  p50 $s1_p50  p99 $s1_p99   ratio to WireMock $(ratio "$s1_rps" "$w_rps")   (target >= 5)"
echo "stub, 1 mapping, journal off:  $s0_rps req/s  p50 $s0_p50  p99 $s0_p99   journal on/off $(ratio "$s1_rps" "$s0_rps")"
echo "stub, 1,000 mappings:          $sk_rps req/s  p50 $sk_p50  p99 $sk_p99   ratio to 1 mapping $(ratio "$sk_rps" "$s1_rps")   (target >= 0.95)"
echo "anonymous serverInfo (same server, baseline): $an_rps req/s"
fi
