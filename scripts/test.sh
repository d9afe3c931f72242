#!/usr/bin/env bash
# The whole test suite: Rust unit, integration and end-to-end tests (the desktop app's headless
# kittest tests among them), then the real third-party clients (PyPI's jira and
# atlassian-python-api, and a client openapi-python-client generates from the served openapi.json)
# against the real server binary, and the differential test of mapped
# answers against the real WireMock (npm's jar, run with Java; fetched once into .cache/).
# Last, the Python package: the wheel around the binary and its pytest plugin, in a fresh venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# The desktop's snapshot test renders with wgpu; headless, that is Mesa's software Vulkan.
if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 \
   && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi

cargo test --workspace --locked

# The Python clients run in a venv of their own, made on first use.
venv=".venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
# The binaries as `cargo test --workspace` builds them: one set of features, so one copy of
# each dependency in target/ (CI's disk is small).
cargo build --locked --quiet --workspace --bins --tests
TOKENAUTH_BIN="$(pwd)/target/debug/tokenauth-stub" "$venv/bin/python" -m pytest -q tests/clients
# The pip-installable package and its pytest plugin, as a user installs them: a wheel around the
# binary just built, in a fresh venv of its own (docs/src/developers/python.md).
TOKENAUTH_STUB_BIN="$(pwd)/target/debug/tokenauth-stub" ./scripts/python-package.sh
