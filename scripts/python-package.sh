#!/usr/bin/env bash
# The Python package as a user gets it: build the wheel (hatchling, packaging the binary cargo
# already built: TOKENAUTH_STUB_BIN, by default the debug build scripts/test.sh makes), install
# it into a fresh venv with only pytest, pytest-xdist and jira beside it, then run the manual's
# example suite plain and with `-n 4`, and the plugin's own tests — each from its own folder,
# with no conftest of the project. See docs/src/developers/python.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export TOKENAUTH_STUB_BIN="${TOKENAUTH_STUB_BIN:-$root/target/debug/tokenauth-stub}"
[ -x "$TOKENAUTH_STUB_BIN" ] || { echo "no binary at $TOKENAUTH_STUB_BIN: cargo build --workspace --bins first"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip_quiet=(--quiet --disable-pip-version-check)

python3 -m venv "$work/venv"
# The wheel's build backend (hatchling, pinned in pyproject.toml) comes into pip's isolated
# build environment: the venv's pip builds it, and the venv never sees it.
"$work/venv/bin/pip" wheel "${pip_quiet[@]}" --no-deps -w "$work/dist" server-stub/python
wheel=("$work"/dist/tokenauth_stub-*.whl)
echo "wheel: $(basename "${wheel[0]}") ($(du -h "${wheel[0]}" | cut -f1))"
"$work/venv/bin/pip" install "${pip_quiet[@]}" "${wheel[0]}" \
  -r server-stub/python/tests/requirements.txt
# The venv's own binary, not the one the wheel was built from.
unset TOKENAUTH_STUB_BIN
"$work/venv/bin/tokenauth-stub" --version

run_pytest() {
  # No cache folder written into the source tree.
  (cd "$1" && shift && "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$@")
}
run_pytest server-stub/python/examples
run_pytest server-stub/python/examples -n 4
run_pytest server-stub/python/tests
