"""Headless QGIS for the plugin tests (see ../shared/docs/QGIS_TESTING.md).

Run with Debian's python: QT_QPA_PLATFORM=offscreen /usr/bin/python3 -m pytest qgis_plugin/tests
Environment: FRINGEWATCH_LIBRARY (the native library), FRINGEWATCH_CLI (the fringewatch binary,
to simulate scenes), FRINGEWATCH_MODEL_DIR (the bundled model's folder). tests/qgis_plugin.rs
sets them.
"""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, "/usr/share/qgis/python/plugins")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from qgis.testing import start_app  # noqa: E402

APP = start_app()

from processing.core.Processing import Processing  # noqa: E402

Processing.initialize()

_exit_status = [0]


def pytest_sessionfinish(session, exitstatus):
    _exit_status[0] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # QGIS may crash at interpreter exit while layers are alive; leave with pytest's status.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status[0])


@pytest.fixture(scope="session")
def plugin():
    import fringewatch

    instance = fringewatch.classFactory(None)
    instance.initProcessing()
    yield instance
    instance.unload()


def _simulate(out, seed, size):
    cli = os.environ.get("FRINGEWATCH_CLI")
    if not cli:
        pytest.fail("FRINGEWATCH_CLI is not set (run through cargo test --test qgis_plugin)")
    subprocess.run([cli, "--quiet", "simulate", "--seed", str(seed), "--size", str(size),
                    "--out", str(out)], check=True)
    scene = out / "scene_0000"
    with open(scene / "scene.json") as f:
        facts = json.load(f)
    return scene, facts


@pytest.fixture(scope="session")
def scene(tmp_path_factory):
    """A 320 × 320 simulated scene (15 m) with labelled signals: (directory, scene.json)."""
    return _simulate(tmp_path_factory.mktemp("sim"), 8, 320)
