"""Regenerate the shipped QML styles (run headless with Debian's python3 and QGIS):

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis_plugin/make_styles.py

detections.qml: boxes outlined by class (AR, CF, CS, FS) with the score as label and a value-map
widget on the review field; wrapped_phase.qml: band 1 on a cyclic, high-contrast hue wheel from
−π to π, so a fringe cycle reads as one turn of the colour wheel (the paper's Figure 6).
"""

import colorsys
import math
import os
import sys
import tempfile

from osgeo import gdal

sys.path.insert(0, "/usr/share/qgis/python/plugins")
from qgis.testing import start_app  # noqa: E402

APP = start_app()

from qgis.core import (  # noqa: E402
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsEditorWidgetSetup,
    QgsFillSymbol,
    QgsPalLayerSettings,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsSingleBandPseudoColorRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtGui import QColor  # noqa: E402

STYLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fringewatch", "styles")
CLASSES = [
    # The colours of fringewatch's PNG previews (src/render.rs), chosen against the phase wheel.
    ("AR", "#ffffff", "AR: artifact that looks like deformation"),
    ("CF", "#000000", "CF: earthflow (clay shales)"),
    ("CS", "#c800c8", "CS: earthslide (shales and marls)"),
    ("FS", "#780000", "FS: rockslide (flysch)"),
]
REVIEW = ["unreviewed", "confirmed", "rejected"]


def detections_style(path):
    layer = QgsVectorLayer(
        "Polygon?crs=EPSG:32633&field=class:string&field=score:double&field=review:string",
        "detections", "memory")
    categories = []
    for name, colour, label in CLASSES:
        symbol = QgsFillSymbol.createSimple({
            "color": "0,0,0,0", "outline_color": colour, "outline_width": "0.7",
            "outline_width_unit": "MM"})
        categories.append(QgsRendererCategory(name, symbol, label))
    other = QgsFillSymbol.createSimple({
        "color": "0,0,0,0", "outline_color": "#ffe600", "outline_width": "0.5"})
    categories.append(QgsRendererCategory(None, other, "other"))
    layer.setRenderer(QgsCategorizedSymbolRenderer("class", categories))

    settings = QgsPalLayerSettings()
    settings.isExpression = True
    settings.fieldName = "\"class\" || ' ' || format_number(\"score\", 2)"
    settings.placement = QgsPalLayerSettings.OverPoint
    text = QgsTextFormat()
    text.setSize(8)
    text.setColor(QColor("#ffffff"))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setColor(QColor("#202020"))
    buffer.setSize(0.8)
    text.setBuffer(buffer)
    settings.setFormat(text)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)

    review = layer.fields().indexOf("review")
    layer.setEditorWidgetSetup(review, QgsEditorWidgetSetup(
        "ValueMap", {"map": [{value: value} for value in REVIEW]}))
    message, ok = layer.saveNamedStyle(path)
    assert ok, message


def phase_style(path):
    with tempfile.TemporaryDirectory() as tmp:
        tif = os.path.join(tmp, "phase.tif")
        dataset = gdal.GetDriverByName("GTiff").Create(tif, 4, 4, 1, gdal.GDT_Float32)
        dataset.SetGeoTransform([0, 1, 0, 0, 0, -1])
        dataset = None
        layer = QgsRasterLayer(tif, "phase")
        steps = 12
        items = []
        for k in range(steps + 1):
            value = -math.pi + 2 * math.pi * k / steps
            r, g, b = colorsys.hsv_to_rgb((k % steps) / steps, 1.0, 1.0)
            items.append(QgsColorRampShader.ColorRampItem(
                value, QColor.fromRgbF(r, g, b), f"{value:.2f}"))
        ramp = QgsColorRampShader(-math.pi, math.pi)
        ramp.setColorRampType(QgsColorRampShader.Interpolated)
        ramp.setColorRampItemList(items)
        shader = QgsRasterShader()
        shader.setRasterShaderFunction(ramp)
        renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
        renderer.setClassificationMin(-math.pi)
        renderer.setClassificationMax(math.pi)
        layer.setRenderer(renderer)
        message, ok = layer.saveNamedStyle(path)
        assert ok, message
        del layer


if __name__ == "__main__":
    detections_style(os.path.join(STYLES, "detections.qml"))
    phase_style(os.path.join(STYLES, "wrapped_phase.qml"))
    print("styles written to", STYLES)
    os._exit(0)
