#!/usr/bin/env bash
# The manual: build docs/src/ into docs/book/ with mdBook, then check that every relative link
# of the README and the manual names a page and an anchor that exist (mdBook builds a broken
# link without a word).
set -euo pipefail
cd "$(dirname "$0")/.."

# mdBook from crates.io when it is missing. Its own lock file (--locked) and a debug build
# without the serve/watch/search features: about a minute on CI's two cores, where a release
# build with every feature takes several; building a small book does not need the speed.
version=0.5.4
if ! mdbook --version 2>/dev/null | grep -qx "mdbook v$version"; then
  CARGO_PROFILE_DEV_DEBUG=0 cargo install --quiet --locked mdbook --version "=$version" \
    --no-default-features --debug
fi

mdbook build docs
python3 scripts/check-links.py
