#!/usr/bin/env bash
# The keychain tests against a real Secret Service: a private D-Bus session with gnome-keyring
# unlocked by a throwaway, non-empty password (an empty one leaves the login collection locked).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-run-session >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnome-keyring dbus >/dev/null
fi

# The binaries as `cargo test --workspace` builds them: one set of features, so one copy of
# each dependency in target/ (CI's disk is small).
cargo build --locked --quiet --workspace --bins --tests
# `tokenauth exec` is tried with the real PyPI jira client.
venv=".venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
export TOKENAUTH_PYTHON="$(pwd)/$venv/bin/python"
export XDG_DATA_HOME; XDG_DATA_HOME="$(mktemp -d)"   # a fresh keyring, not the user's
dbus-run-session -- bash -c '
  set -euo pipefail
  echo -n "tokenauth-ci" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  [ -n "${KT_ONLY_CLI:-}" ] || cargo test --locked --workspace --test keychain -- --ignored ${KT_FILTER:-}
  # One at a time: two of them stop or lock the Secret Service the others use.
  cargo test --locked --workspace --test cli -- --ignored --test-threads=1 ${KT_ONLY_CLI:-}
'
