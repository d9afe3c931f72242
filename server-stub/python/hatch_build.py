"""hatchling hooks: the crate's version for the package, and the already built binary in the wheel.

The wheel carries a binary that cargo built, not one this build makes: CI builds the workspace
with one feature set, and a second build of `tokenauth-stub` alone would unify features
differently and recompile most dependencies (see the comment in pyproject.toml). So the binary
comes from `TOKENAUTH_STUB_BIN`, by default `target/release/tokenauth-stub` of this workspace
(what `cargo build --release -p tokenauth-stub` leaves), and a missing one is a clear error.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tomllib
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.metadata.plugin.interface import MetadataHookInterface

HERE = pathlib.Path(__file__).resolve().parent
WORKSPACE = HERE.parents[1]
EXE = ".exe" if sys.platform == "win32" else ""


def crate_version() -> str:
    """The workspace's version, so the package and the crate cannot drift apart."""
    with open(WORKSPACE / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def platform_tag() -> str:
    """`py3-none-<this platform>`: the binary runs with any Python 3 but only on this OS and CPU.

    hatchling's `infer_tag` would name this interpreter too (`cp311-cp311-…`), which the binary
    does not depend on. The platform is the same one hatchling infers: the first non-manylinux
    tag (the binary is linked against this machine's glibc, so no manylinux promise is made).
    """
    from packaging.tags import sys_tags

    tag = next(t for t in sys_tags() if "manylinux" not in t.platform and "musllinux" not in t.platform)
    return f"py3-none-{tag.platform}"


class CrateVersion(MetadataHookInterface):
    def update(self, metadata: dict[str, Any]) -> None:
        metadata["version"] = crate_version()


class StubBinary(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        default = WORKSPACE / "target" / "release" / f"tokenauth-stub{EXE}"
        binary = pathlib.Path(os.environ.get("TOKENAUTH_STUB_BIN", default)).resolve()
        if not binary.is_file():
            raise FileNotFoundError(
                f"no tokenauth-stub binary at {binary}: build it first "
                "(cargo build --release -p tokenauth-stub) or set TOKENAUTH_STUB_BIN"
            )
        # A script of the wheel: installers put it on the environment's PATH (bin/ or Scripts/)
        # and keep its executable bit, as ruff's and uv's wheels do with theirs.
        build_data["shared_scripts"][str(binary)] = f"tokenauth-stub{EXE}"
        build_data["pure_python"] = False
        build_data["tag"] = platform_tag()
