"""Render the README's QGIS picture: a simulated scene's wrapped phase (shipped cyclic style),
the plugin's detections (shipped class style, score labels) and the scene's inventory, through
a real QGIS map renderer.

    cargo build --release
    xvfb-run -a /usr/bin/python3 qgis_plugin/render_docs.py docs/qgis_detections.png

Runs the plugin's "Detect landslides from interferogram" algorithm with processing.run.
"""

import json
import os
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, "/usr/share/qgis/python/plugins")
sys.path.insert(0, os.path.join(root, "qgis_plugin"))
os.environ.setdefault("FRINGEWATCH_LIBRARY", os.path.join(root, "target/release/libfringewatch.so"))
os.environ.setdefault("FRINGEWATCH_MODEL_DIR", os.path.join(root, "models"))

from qgis.testing import start_app  # noqa: E402

APP = start_app()

from processing.core.Processing import Processing  # noqa: E402
from qgis.core import (  # noqa: E402
    QgsFillSymbol,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

Processing.initialize()
import processing  # noqa: E402

import fringewatch  # noqa: E402
from fringewatch.algorithms import STYLES  # noqa: E402

DETECTIONS_STYLE = os.path.join(STYLES, "detections.qml")
PHASE_STYLE = os.path.join(STYLES, "wrapped_phase.qml")


def main(out_png, seed=2026, size=960):
    plugin = fringewatch.classFactory(None)
    plugin.initProcessing()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([os.path.join(root, "target/release/fringewatch"), "--quiet", "simulate",
                        "--seed", str(seed), "--size", str(size), "--out", f"{tmp}/sim"],
                       check=True)
        scene = f"{tmp}/sim/scene_0000"
        with open(f"{scene}/scene.json") as f:
            facts = json.load(f)
        subprocess.run(["ogr2ogr", f"{tmp}/iffi.gpkg", f"{scene}/inventory.gpkg", "inventory"],
                       check=True)
        result = processing.run("fringewatch:detect_interferogram", {
            "PHASE": f"{scene}/phase.tif", "COHERENCE": f"{scene}/coherence.tif",
            "DEM": f"{scene}/dem.tif", "INCIDENCE": f"{scene}/incidence.tif",
            "ORBIT": 0 if facts["orbit"] == "ascending" else 1,
            "OUTPUT": f"{tmp}/iffi.gpkg"})
        project = QgsProject.instance()
        phase = QgsRasterLayer(f"{scene}/phase.tif", "wrapped phase")
        phase.loadNamedStyle(PHASE_STYLE)
        inventory = QgsVectorLayer(f"{tmp}/iffi.gpkg|layername=inventory", "inventory", "ogr")
        inventory.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple({
            "color": "0,0,0,0", "outline_color": "40,40,40,200", "outline_width": "0.35",
            "outline_style": "dash"})))
        detections = QgsVectorLayer(result["OUTPUT"], "detections", "ogr")
        detections.loadNamedStyle(DETECTIONS_STYLE)
        truth = QgsVectorLayer(f"{scene}/truth.gpkg", "truth", "ogr")
        truth.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple({
            "color": "0,0,0,0", "outline_color": "255,255,255,230", "outline_width": "0.3",
            "outline_style": "dot"})))
        for layer in (phase, inventory, truth, detections):
            assert layer.isValid(), layer.name()
            project.addMapLayer(layer)
        settings = QgsMapSettings()
        settings.setLayers([detections, truth, inventory, phase])
        settings.setDestinationCrs(phase.crs())
        settings.setExtent(phase.extent())
        settings.setOutputSize(QSize(1200, 1200))
        settings.setBackgroundColor(QColor("white"))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage()
        assert image.save(out_png, "PNG"), out_png
        print(f"{out_png}: {result['DETECTIONS']} detections, "
              f"{facts['labelled_signals']} labelled signals, {facts['orbit']}")
        project.removeAllMapLayers()
    plugin.unload()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "docs", "qgis_detections.png"))
    os._exit(0)
