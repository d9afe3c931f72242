"""tokenauth-stub for Python tests: the server binary, a handle that starts and drives it, and
a pytest plugin (loaded through the `pytest11` entry point) whose fixtures give each test its
own server. The manual's page: "Test your integration from Python"."""

from importlib.metadata import PackageNotFoundError, version

from .server import StubServer, StubStartError, binary_path

try:
    __version__ = version("tokenauth-stub")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0+unknown"

__all__ = ["StubServer", "StubStartError", "binary_path", "__version__"]
