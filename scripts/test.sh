#!/usr/bin/env bash
# The whole test suite: Rust unit, integration and end-to-end tests, then the real third-party
# clients (PyPI's jira and atlassian-python-api) against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

# The Python clients run in a venv of their own, made on first use.
venv=".venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
cargo build --locked --quiet -p tokenauth-stub --bin tokenauth-stub
TOKENAUTH_BIN="$(pwd)/target/debug/tokenauth-stub" "$venv/bin/python" -m pytest -q tests/clients
