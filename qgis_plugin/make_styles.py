"""Regenerate the shipped QML styles (run headless with Debian's python3 and QGIS):

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis_plugin/make_styles.py

detections.qml: boxes outlined by class (AR, CF, CS, FS) in black and white with halos (they
stand out on the cyclic phase), the score as label, a value-map widget on the review field (never
empty), free text in reviewer and comment, and every other field read-only in the attribute form
(the detector's provenance); overlay.qml: detections by inventory status; persistence.qml: areas
graduated by the number of interferograms; isl.qml and pc1.qml: colour ramps over [0, 1] and
[-3, 3]. The library stores the vector styles with every layer it writes (GeoPackage
``layer_styles``, see src/detect/output.rs). wrapped_phase.qml: band 1 on a cyclic, high-contrast
hue wheel from −π to π, so a fringe cycle reads as one turn of the colour wheel (the paper's
Figure 6).
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
    QgsFieldConstraints,
    QgsGraduatedSymbolRenderer,
    QgsFillSymbol,
    QgsPalLayerSettings,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsRendererRange,
    QgsSimpleFillSymbolLayer,
    QgsSingleBandPseudoColorRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtGui import QColor  # noqa: E402

STYLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fringewatch", "styles")
# Class outlines drawn to stand out on the cyclic phase wheel, which holds every saturated hue:
# landslides in black and white only, each with a halo of the other (so they read on any hue and
# on dark or light ground too) and told apart by the pattern; artifacts (AR) thin, grey and
# dotted, so they do not compete with the landslides.
CLASSES = [
    # (class, core colour, halo colour or None, core width mm, line pattern, legend)
    ("AR", "#9e9e9e", None, 0.3, "dot", "AR: artifact that looks like deformation"),
    ("CF", "#000000", "#ffffff", 0.7, "solid", "CF: earthflow (clay shales)"),
    ("CS", "#ffffff", "#000000", 0.7, "solid", "CS: earthslide (shales and marls)"),
    ("FS", "#000000", "#ffffff", 0.7, "dash", "FS: rockslide (flysch)"),
]
HALO_EXTRA_MM = 0.7
REVIEW = ["unreviewed", "confirmed", "rejected"]
# The fields of a detection layer (src/detect/output.rs, detection_fields) and the GeoPackage's fid.
DETECTION_FIELDS = [
    ("fid", "integer"), ("class", "string"), ("score", "double"), ("objectness", "double"),
    ("interferogram", "string"), ("primary_date", "string"), ("secondary_date", "string"),
    ("orbit", "string"), ("temporal_baseline_days", "integer"), ("model", "string"),
    ("model_sha256", "string"), ("created", "datetime"), ("review", "string"),
    ("reviewer", "string"), ("comment", "string"),
]
EDITABLE = {"review", "reviewer", "comment"}


def outline(colour, width, pattern="solid", halo=None):
    """A hollow polygon symbol: its outline, over a wider halo when one is given."""
    layers = []
    if halo is not None:
        layers.append({"color": "0,0,0,0", "outline_color": halo,
                       "outline_width": str(width + HALO_EXTRA_MM), "outline_width_unit": "MM"})
    layers.append({"color": "0,0,0,0", "outline_color": colour, "outline_width": str(width),
                   "outline_width_unit": "MM", "outline_style": pattern})
    symbol = QgsFillSymbol.createSimple(layers[0])
    for properties in layers[1:]:
        symbol.appendSymbolLayer(QgsSimpleFillSymbolLayer.create(properties))
    return symbol


def save(layer, path):
    message, ok = layer.saveNamedStyle(path)
    assert ok, message


def overlay_style(path):
    """Detections after the overlay: what matters is what the inventory lacks."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:32633&field=status:string&field=class:string",
                           "overlay", "memory")
    categories = [
        QgsRendererCategory("new", outline("#ffff00", 1.0, halo="#000000"),
                            "new: nothing mapped within the distance"),
        QgsRendererCategory("near", outline("#ff8c00", 0.7, "dash", halo="#000000"),
                            "near: a mapped landslide within the distance"),
        QgsRendererCategory("mapped", outline("#9e9e9e", 0.4),
                            "mapped: overlaps a mapped landslide"),
    ]
    layer.setRenderer(QgsCategorizedSymbolRenderer("status", categories))
    save(layer, path)


def persistence_style(path):
    """Persistent areas: the more interferograms saw an area, the heavier its outline."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:32633&field=interferograms:integer", "persistence",
                           "memory")
    ranges = [
        QgsRendererRange(0.5, 1.5, outline("#9e9e9e", 0.3, "dot"), "seen once"),
        QgsRendererRange(1.5, 2.5, outline("#ffd000", 0.6, halo="#000000"), "seen twice"),
        QgsRendererRange(2.5, 4.5, outline("#ff7000", 0.9, halo="#000000"), "3–4 interferograms"),
        QgsRendererRange(4.5, 1e9, outline("#e00000", 1.2, halo="#ffffff"), "5 or more"),
    ]
    layer.setRenderer(QgsGraduatedSymbolRenderer("interferograms", ranges))
    save(layer, path)


def raster_ramp_style(path, minimum, maximum, stops, label="{:g}"):
    """A pseudocolour style of band 1 over [minimum, maximum] with (value, colour) stops, each
    labelled with its value in the `label` format."""
    with tempfile.TemporaryDirectory() as tmp:
        tif = os.path.join(tmp, "layer.tif")
        dataset = gdal.GetDriverByName("GTiff").Create(tif, 4, 4, 1, gdal.GDT_Float32)
        dataset.SetGeoTransform([0, 1, 0, 0, 0, -1])
        dataset = None
        layer = QgsRasterLayer(tif, "layer")
        ramp = QgsColorRampShader(minimum, maximum)
        ramp.setColorRampType(QgsColorRampShader.Interpolated)
        ramp.setColorRampItemList([
            QgsColorRampShader.ColorRampItem(v, QColor(c), label.format(v)) for v, c in stops])
        shader = QgsRasterShader()
        shader.setRasterShaderFunction(ramp)
        renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
        renderer.setClassificationMin(minimum)
        renderer.setClassificationMax(maximum)
        layer.setRenderer(renderer)
        save(layer, path)
        del layer


def detections_style(path):
    fields = "&".join(f"field={name}:{kind}" for name, kind in DETECTION_FIELDS)
    layer = QgsVectorLayer(f"Polygon?crs=EPSG:32633&{fields}", "detections", "memory")
    categories = []
    for name, colour, halo, width, pattern, label in CLASSES:
        categories.append(QgsRendererCategory(name, outline(colour, width, pattern, halo), label))
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
    layer.setFieldConstraint(review, QgsFieldConstraints.ConstraintNotNull,
                             QgsFieldConstraints.ConstraintStrengthHard)
    form = layer.editFormConfig()
    for index, field in enumerate(layer.fields()):
        form.setReadOnly(index, field.name() not in EDITABLE)
    layer.setEditFormConfig(form)
    save(layer, path)


def phase_style(path):
    steps = 12
    stops = []
    for k in range(steps + 1):
        r, g, b = colorsys.hsv_to_rgb((k % steps) / steps, 1.0, 1.0)
        stops.append((-math.pi + 2 * math.pi * k / steps, QColor.fromRgbF(r, g, b)))
    raster_ramp_style(path, -math.pi, math.pi, stops, label="{:.2f}")


if __name__ == "__main__":
    detections_style(os.path.join(STYLES, "detections.qml"))
    overlay_style(os.path.join(STYLES, "overlay.qml"))
    persistence_style(os.path.join(STYLES, "persistence.qml"))
    phase_style(os.path.join(STYLES, "wrapped_phase.qml"))
    # ISL in [0, 1] (0: layover, shadow or no sensitivity): dark to bright, viridis-like
    raster_ramp_style(os.path.join(STYLES, "isl.qml"), 0.0, 1.0, [
        (0.0, "#440154"), (0.25, "#3b528b"), (0.5, "#21918c"), (0.75, "#5ec962"),
        (1.0, "#fde725")])
    # PC1, a standardised component: diverging around 0
    raster_ramp_style(os.path.join(STYLES, "pc1.qml"), -3.0, 3.0, [
        (-3.0, "#2166ac"), (-1.5, "#67a9cf"), (0.0, "#f7f7f7"), (1.5, "#ef8a62"),
        (3.0, "#b2182b")])
    print("styles written to", STYLES)
    os._exit(0)
