"""Build step of the fringewatch Python package: the native library and the bundled model go
into the package (``fringewatch/lib/``, ``fringewatch/models/``), where ``native.py`` looks for
them, the same layout as the QGIS plugin zip. Metadata is in pyproject.toml."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from fringewatch.native import library_file_name  # noqa: E402 - the binding's own file name


class BuildWithLibrary(build_py):
    """build_py, then the Rust library (cargo, unless FRINGEWATCH_NO_CARGO=1) and the model."""

    def run(self):
        super().run()
        if not os.environ.get("FRINGEWATCH_NO_CARGO"):
            subprocess.run(["cargo", "build", "--release", "--lib", "--manifest-path",
                            str(ROOT / "Cargo.toml")], check=True)
        library = ROOT / "target" / "release" / library_file_name()
        if not library.is_file():
            raise SystemExit(f"{library} is missing: build it with cargo build --release --lib")
        package = Path(self.build_lib) / "fringewatch"
        (package / "lib").mkdir(parents=True, exist_ok=True)
        (package / "models").mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, package / "lib" / library.name)
        shutil.copy2(ROOT / "models" / "fringewatch-default.onnx", package / "models")


class BinaryDistribution(Distribution):
    """The wheel carries a native library: tag it for the platform."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
