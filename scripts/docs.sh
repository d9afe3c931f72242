#!/usr/bin/env bash
# The manual: build docs/src/ into docs/book/ with mdBook, then check that every relative link
# of the README and the manual names a page and an anchor that exist (mdBook builds a broken
# link without a word).
set -euo pipefail
cd "$(dirname "$0")/.."

# mdBook from crates.io when it is missing (or another version), with its own lock file. A
# debug build without debug info or the serve/watch/search features (about a minute of CPU on
# two cores): CI's time is nearly spent, and building a small book needs no optimised binary.
version=0.5.4
if ! mdbook --version 2>/dev/null | grep -qx "mdbook v$version"; then
  CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=0 \
    cargo install --quiet --locked mdbook --version "=$version" --no-default-features --debug
fi

mdbook build docs
python3 scripts/check-links.py
