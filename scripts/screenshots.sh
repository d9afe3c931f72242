#!/usr/bin/env bash
# Screenshots of each main screen of the real desktop app, in a real window under Xvfb, against
# a real server with a little history: docs/src/images/screen-*.png (shown in the manual's
# chapter on the desktop app).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xvfb-run >/dev/null || need+=(xvfb xauth)
command -v import >/dev/null || need+=(imagemagick)
command -v curl >/dev/null || need+=(curl)
command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring dbus)
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
ldconfig -p | grep -q 'libxkbcommon-x11.so.0' || need+=(libxkbcommon-x11-0)   # winit on X11
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The binaries as `cargo test --workspace` builds them: one set of features, so one copy of
# each dependency in target/ (CI's disk is small).
cargo build --locked --quiet --workspace --bins --tests
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port"
target/debug/tokenauth-stub --data-dir "$work/data" --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "$url/rest/api/2/serverInfo" >/dev/null && break; sleep 0.1; done

api() { curl -fs -u admin:admin -H 'Content-Type: application/json' "$@" >/dev/null; }
api -X PUT "$url/rest/tokenauth/1/admin/settings" \
  -d '{"ipAllowList":["127.0.0.0/8","10.20.0.0/16"],"audit":{"successfulAuthentication":true,"allFailedAttempts":true,"permissionDenied":true}}'
for t in "alice:CI pipeline:READ_ONLY" "alice:release script:READ_WRITE" "bob:backup job:READ_ONLY" "bob:Grafana:READ_ONLY"; do
  IFS=: read -r user desc scope <<<"$t"
  secret=$(curl -fs -u admin:admin -H 'Content-Type: application/json' \
    -X POST "$url/rest/tokenauth/1/admin/users/$user/tokens" \
    -d "{\"description\":\"$desc\",\"scope\":\"$scope\",\"validityDays\":90}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
  for _ in 1 2 3; do curl -fs -u "$user:$secret" "$url/rest/api/2/myself" >/dev/null; done
  curl -s -u "$user:$secret" -X POST "$url/rest/api/2/issue" >/dev/null
  [ "$desc" = "CI pipeline" ] && ci_secret=$secret
done
# One of alice's tokens runs out within the week: My tokens flags it.
api -X POST "$url/rest/tokenauth/1/admin/users/alice/tokens" \
  -d '{"description":"demo for the customer","scope":"READ_ONLY","validityDays":5}'
curl -s -u alice:wrong "$url/rest/api/2/myself" >/dev/null
# bob mistypes his password until the CAPTCHA limit: the Users screen shows him locked out.
for _ in 1 2 3; do curl -s -u bob:wrong "$url/rest/api/2/myself" >/dev/null; done
sleep 1.2

out="${SHOTS_DIR:-docs/src/images}"
mkdir -p "$out"
export XDG_DATA_HOME="$work/xdg"   # a fresh keyring and app storage, not the user's

shoot() { # name user tab [sign-in: yes, no, keychain]
  local name=$1 user=$2 tab=$3 sign=${4:-yes}
  local args=(--url "$url" --user "$user" --tab "$tab")
  local secret=""
  case "$sign" in
    yes) args+=(--sign-in --no-keychain); secret="$user" ;;
    keychain) args+=(--sign-in); secret="$user" ;;
  esac
  # The sign-in screen runs with a real, unlocked keychain, as a desktop session has one.
  KEEP="${KEEP:-}" TOKENAUTH_SECRET="$secret" dbus-run-session -- xvfb-run -a -s "-screen 0 1180x780x24" bash -c '
    echo -n screenshots | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    # A script of alice'"'"'s keeps the CI token under a label: My tokens shows which it is.
    # (The secret travels in the environment, never on a command line.)
    if [ -n "$KEEP" ]; then
      printf %s "$KEEP" | target/debug/tokenauth login "'"$url"'" --user alice --label nightly >/dev/null
    fi
    "$@" & app=$!
    sleep 7
    import -window root "'"$out/screen-$name.png"'"
    kill $app' _ target/debug/tokenauth-desktop "${args[@]}" 2>/dev/null
  echo "$out/screen-$name.png"
}
shoot sign-in admin tokens no
KEEP="$ci_secret" shoot my-tokens alice tokens keychain
shoot users admin users
shoot all-tokens admin all-tokens
shoot settings admin settings
shoot audit admin audit
