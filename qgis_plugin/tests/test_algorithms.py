"""Every Fringewatch algorithm through processing.run in a real QGIS, outputs checked with
GDAL/OGR."""

import glob
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import processing
import pytest
from osgeo import gdal, ogr, osr
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)

gdal.UseExceptions()

# Confidence for the tests of the plugin's plumbing (outputs, layers, persistence): low enough
# that the small test scene gives the bundled model's boxes whatever its recommended threshold.
PLUMBING_CONFIDENCE = 0.05
ogr.UseExceptions()

ALGORITHMS = ["compute_isl", "compute_pc1", "build_stack", "detect_stack",
              "detect_interferogram", "overlay_inventory", "persistence"]


def band_stats(path, band=1):
    """(min, max, mean) of the valid cells (keeps the dataset alive while reading)."""
    dataset = gdal.Open(str(path))
    values = dataset.GetRasterBand(band).ReadAsArray()
    values = values[values == values]
    return float(values.min()), float(values.max()), float(values.mean())


def orbit_index(facts):
    """The preset matching the scene in "Compute ISL", which has no "From the data"."""
    return 0 if facts["orbit"] == "ascending" else 1


# "Orbit" choices of the algorithms that take a phase.
FROM_DATA, ASCENDING, DESCENDING, CUSTOM = 0, 1, 2, 3


def layer_dump(path, layer):
    """Every feature of a layer (geometry WKT and fields), for before/after comparisons."""
    dataset = ogr.Open(str(path))
    lyr = dataset.GetLayerByName(layer)
    rows = []
    for feature in lyr:
        rows.append((feature.GetFID(), feature.GetGeometryRef().ExportToWkt(),
                     tuple(feature.GetField(i) for i in range(feature.GetFieldCount()))))
    return rows


def layer_names(path):
    dataset = ogr.Open(str(path))
    return [dataset.GetLayer(i).GetName() for i in range(dataset.GetLayerCount())]


def truth_boxes(scene_dir):
    dataset = ogr.Open(str(scene_dir / "truth.gpkg"))
    return [f.GetGeometryRef().Clone() for f in dataset.GetLayer(0)]


def iou(a, b):
    inter = a.Intersection(b).GetArea()
    union = a.GetArea() + b.GetArea() - inter
    return inter / union if union > 0 else 0.0


def with_inventory(scene_dir, target):
    """A GeoPackage holding the analyst's inventory layer, as before a detection run."""
    subprocess.run(["ogr2ogr", str(target), str(scene_dir / "inventory.gpkg"), "inventory"],
                   check=True)
    return target


def test_provider_lists_every_algorithm(plugin):
    provider = QgsApplication.processingRegistry().providerById("fringewatch")
    assert provider is not None and provider.name() == "Fringewatch"
    ids = sorted(a.name() for a in provider.algorithms())
    assert ids == sorted(ALGORITHMS)
    for name in ALGORITHMS:
        algorithm = QgsApplication.processingRegistry().algorithmById(f"fringewatch:{name}")
        assert algorithm.shortHelpString()
    # the tuning parameters are folded away under "Advanced parameters"
    advanced = QgsProcessingParameterDefinition.FlagAdvanced
    for name, parameters in [("detect_stack",
                              ["BACKEND", "AUGMENT", "IOU", "OVERLAP", "LAYER_NAME"]),
                             ("detect_interferogram", ["BACKEND", "AUGMENT", "IOU", "OVERLAP"]),
                             ("overlay_inventory", ["LAYER_NAME"]),
                             ("persistence", ["IOU", "DISTANCE", "LAYER_NAME"])]:
        algorithm = QgsApplication.processingRegistry().algorithmById(f"fringewatch:{name}")
        for parameter in parameters:
            assert algorithm.parameterDefinition(parameter).flags() & advanced, (name, parameter)
        assert not algorithm.parameterDefinition("OUTPUT").flags() & advanced
    # pipeline order in the toolbox: numbered groups; help links into the README
    groups = {}
    for name in ALGORITHMS:
        algorithm = QgsApplication.processingRegistry().algorithmById(f"fringewatch:{name}")
        groups.setdefault(algorithm.group(), []).append(name)
        url = algorithm.helpUrl()
        assert url.startswith("file://") and "README.md#" in url, (name, url)
    assert groups == {
        "1 · Input layers": ["compute_isl", "compute_pc1", "build_stack"],
        "2 · Detection": ["detect_stack", "detect_interferogram"],
        "3 · Inventory and persistence": ["overlay_inventory", "persistence"]}
    # the counts are outputs, so that the Graphical Modeler can chain them
    for name, outputs in [("detect_stack", {"OUTPUT", "DETECTIONS"}),
                          ("detect_interferogram", {"OUTPUT", "DETECTIONS"}),
                          ("overlay_inventory", {"OUTPUT", "NEW", "NEAR", "MAPPED",
                                                 "WITHOUT_GEOMETRY"}),
                          ("persistence", {"OUTPUT", "AREAS"})]:
        algorithm = QgsApplication.processingRegistry().algorithmById(f"fringewatch:{name}")
        assert {o.name() for o in algorithm.outputDefinitions()} == outputs, name


def test_layers_and_stack(plugin, scene, tmp_path):
    scene_dir, facts = scene
    isl = processing.run("fringewatch:compute_isl", {
        "DEM": str(scene_dir / "dem.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
        "INCIDENCE": str(scene_dir / "incidence.tif"), "ORBIT": orbit_index(facts),
        "OUTPUT": str(tmp_path / "isl.tif")})["OUTPUT"]
    pc1 = processing.run("fringewatch:compute_pc1", {
        "DEM": str(scene_dir / "dem.tif"), "OUTPUT": str(tmp_path / "pc1.tif")})["OUTPUT"]
    stack = processing.run("fringewatch:build_stack", {
        "PHASE": str(scene_dir / "phase.tif"), "ISL": isl, "PC1": pc1,
        "OUTPUT": str(tmp_path / "stack.tif")})["OUTPUT"]

    phase = gdal.Open(str(scene_dir / "phase.tif"))
    phase_srs = osr.SpatialReference(wkt=phase.GetProjection())
    for path, bands in [(isl, 1), (pc1, 1), (stack, 3)]:
        dataset = gdal.Open(path)
        assert dataset.RasterCount == bands
        assert (dataset.RasterXSize, dataset.RasterYSize) == (320, 320)
        assert osr.SpatialReference(wkt=dataset.GetProjection()).IsSame(phase_srs)
        assert dataset.GetGeoTransform() == pytest.approx(phase.GetGeoTransform())
    isl_band = band_stats(isl)
    assert 0.0 <= isl_band[0] and isl_band[1] <= 1.0 and isl_band[2] > 0.05
    # Band 1 of the stack is the wrapped phase itself.
    stack_dataset = gdal.Open(stack)
    stack_phase = stack_dataset.GetRasterBand(1).ReadAsArray()
    assert (stack_phase == phase.GetRasterBand(1).ReadAsArray()).all()


@pytest.fixture(scope="module")
def stack(plugin, scene, tmp_path_factory):
    scene_dir, facts = scene
    out = tmp_path_factory.mktemp("stack")
    isl = processing.run("fringewatch:compute_isl", {
        "DEM": str(scene_dir / "dem.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
        "INCIDENCE": str(scene_dir / "incidence.tif"), "ORBIT": orbit_index(facts),
        "OUTPUT": str(out / "isl.tif")})["OUTPUT"]
    pc1 = processing.run("fringewatch:compute_pc1", {
        "DEM": str(scene_dir / "dem.tif"), "OUTPUT": str(out / "pc1.tif")})["OUTPUT"]
    return processing.run("fringewatch:build_stack", {
        "PHASE": str(scene_dir / "phase.tif"), "ISL": isl, "PC1": pc1,
        "OUTPUT": str(out / "stack.tif")})["OUTPUT"]


def test_detect_into_geopackage_with_inventory(plugin, scene, stack, tmp_path):
    scene_dir, _ = scene
    target = with_inventory(scene_dir, tmp_path / "iffi.gpkg")
    before = layer_dump(target, "inventory")
    # A low confidence: these tests check the plumbing, and the 320 px scene has few signals.
    result = processing.run("fringewatch:detect_stack", {
        "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "BACKEND": 1,  # CPU, as the CLI below
        "OUTPUT": f"ogr:dbname='{target}' table=\"detections\" (geom)"})
    assert result["OUTPUT"] == f"{target}|layername=detections"
    # beside the inventory: the detections and QGIS's table of layer styles (their style)
    assert sorted(layer_names(target)) == ["detections", "inventory", "layer_styles"]
    assert layer_dump(target, "inventory") == before, "the inventory layer was touched"

    dataset = ogr.Open(str(target))
    layer = dataset.GetLayerByName("detections")
    assert layer.GetFeatureCount() == result["DETECTIONS"] > 0
    fields = [layer.GetLayerDefn().GetFieldDefn(i).GetName()
              for i in range(layer.GetLayerDefn().GetFieldCount())]
    for field in ["class", "score", "review", "interferogram", "model", "model_sha256"]:
        assert field in fields
    srs = layer.GetSpatialRef()
    phase_dataset = gdal.Open(str(scene_dir / "phase.tif"))
    phase_srs = osr.SpatialReference(wkt=phase_dataset.GetProjection())
    assert srs.IsSame(phase_srs)
    boxes = [(f["class"], f["review"], f.GetGeometryRef().Clone()) for f in layer]
    assert {review for _, review, _ in boxes} == {"unreviewed"}
    # The plugin writes what the command line writes: the same boxes, classes and scores.
    cli_out = tmp_path / "cli.gpkg"
    subprocess.run([os.environ["FRINGEWATCH_CLI"], "--quiet", "detect", "--stack", stack,
                    "--confidence", str(PLUMBING_CONFIDENCE), "--backend", "cpu",
                    "--out", str(cli_out)], check=True)
    cli_dataset = ogr.Open(str(cli_out))  # kept: a layer dies with its dataset
    cli_layer = cli_dataset.GetLayerByName("detections")

    def rows(features):
        return sorted((f["class"], round(f["score"], 5),
                       tuple(round(v, 3) for v in f.GetGeometryRef().GetEnvelope()))
                      for f in features)

    layer.ResetReading()
    assert rows(layer) == rows(cli_layer)
    # Test-time augmentation from the plugin is the command line's: other scores, the same ones
    augmented = tmp_path / "augmented.gpkg"
    processing.run("fringewatch:detect_stack", {
        "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "BACKEND": 1, "AUGMENT": 3,
        "OUTPUT": f"ogr:dbname='{augmented}' table=\"detections\" (geom)"})
    cli_augmented = tmp_path / "cli_augmented.gpkg"
    subprocess.run([os.environ["FRINGEWATCH_CLI"], "--quiet", "detect", "--stack", stack,
                    "--confidence", str(PLUMBING_CONFIDENCE), "--backend", "cpu",
                    "--augment", "sign-and-mirrors", "--out", str(cli_augmented)], check=True)
    augmented_dataset = ogr.Open(str(augmented))
    cli_augmented_dataset = ogr.Open(str(cli_augmented))
    plugin_rows = rows(augmented_dataset.GetLayerByName("detections"))
    assert plugin_rows == rows(cli_augmented_dataset.GetLayerByName("detections"))
    cli_layer.ResetReading()
    assert plugin_rows != rows(cli_layer), "eight symmetries gave the single pass's scores"
    layer.ResetReading()
    # ...and the boxes lie on the scene's signals (a georeferencing check: a flipped or shifted
    # grid puts them elsewhere; the model's accuracy is tests/bundled_model.rs's business).
    truths = truth_boxes(scene_dir)
    assert truths, "the scene has labelled signals"
    # The scene's one labelled signal: best IoU 0.29 with each tile referenced to its mean (the
    # default since 2026-12-05), 0.38 with the phase as given; boxes elsewhere give 0.
    best = max(iou(box, truth) for _, _, box in boxes for truth in truths)
    assert best >= 0.25, f"no detection on a truth box (best IoU {best:.2f})"

    # The same layer again is refused with the library's message; nothing changes.
    with pytest.raises(QgsProcessingException, match="already exists"):
        processing.run("fringewatch:detect_stack", {
            "STACK": stack, "OUTPUT": f"ogr:dbname='{target}' table=\"detections\""})
    assert layer_dump(target, "inventory") == before


class RecordProgress(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.seen = []
        self.infos = []
        self.errors = []

    def setProgress(self, progress):  # noqa: N802 - QGIS API name
        super().setProgress(progress)
        self.seen.append(progress)

    def pushInfo(self, info):  # noqa: N802 - QGIS API name
        super().pushInfo(info)
        self.infos.append(info)

    def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS API names
        super().reportError(error, fatalError)
        self.errors.append(error)


def test_heading_from_the_data_and_contradictions(plugin, scene, tmp_path):
    """#19 defect 2: the heading the phase records is the default; a preset that contradicts
    it is used but warned about; a phase that records none, or "Custom" without a heading, is
    refused before anything is written."""
    scene_dir, facts = scene
    inputs = {
        "PHASE": str(scene_dir / "phase.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
        "DEM": str(scene_dir / "dem.tif"), "INCIDENCE": str(scene_dir / "incidence.tif"),
        "CONFIDENCE": PLUMBING_CONFIDENCE}
    from_data = RecordProgress()
    processing.run("fringewatch:detect_interferogram", {
        **inputs, "OUTPUT": str(tmp_path / "a.gpkg")}, feedback=from_data)
    recorded = facts["heading_deg"]
    assert f"Heading {recorded:.1f}° (from the phase's metadata)" in from_data.infos
    assert not [e for e in from_data.errors if "contradicts" in e]

    wrong = ASCENDING if facts["orbit"] == "descending" else DESCENDING
    contradicted = RecordProgress()
    processing.run("fringewatch:detect_interferogram", {
        **inputs, "ORBIT": wrong, "HEADING": 45.0, "OUTPUT": str(tmp_path / "b.gpkg")},
        feedback=contradicted)
    warnings = [e for e in contradicted.errors if "contradicts" in e]
    assert len(warnings) == 1 and f"recorded heading {recorded}°" in warnings[0], \
        contradicted.errors
    assert [e for e in contradicted.errors if "used only with" in e]
    assert not [i for i in contradicted.infos if "from the phase's metadata" in i]

    bare = tmp_path / "bare_phase.tif"
    gdal.Translate(str(bare), str(scene_dir / "phase.tif"))
    dataset = gdal.Open(str(bare), gdal.GA_Update)
    dataset.SetMetadata({})
    dataset = None
    with pytest.raises(QgsProcessingException, match="records no heading") as refused:
        processing.run("fringewatch:detect_interferogram", {
            **inputs, "PHASE": str(bare), "OUTPUT": str(tmp_path / "c.gpkg")})
    # the library names its parameter; the dialog shows its own label for it
    assert 'give "Custom heading' in str(refused.value) and "`" not in str(refused.value)
    with pytest.raises(QgsProcessingException, match="no custom heading"):
        processing.run("fringewatch:detect_interferogram", {
            **inputs, "ORBIT": CUSTOM, "OUTPUT": str(tmp_path / "c.gpkg")})
    assert sorted(p.name for p in tmp_path.glob("*.gpkg")) == ["a.gpkg", "b.gpkg"]
    assert not list(tmp_path.glob(".fringewatch-*"))


def test_detect_from_interferogram_and_overlay(plugin, scene, tmp_path):
    scene_dir, facts = scene
    target = with_inventory(scene_dir, tmp_path / "results.gpkg")
    feedback = RecordProgress()
    result = processing.run("fringewatch:detect_interferogram", {
        "PHASE": str(scene_dir / "phase.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
        "DEM": str(scene_dir / "dem.tif"), "INCIDENCE": str(scene_dir / "incidence.tif"),
        "ORBIT": FROM_DATA, "LAYER_NAME": "s1_detections",
        "CONFIDENCE": PLUMBING_CONFIDENCE, "OUTPUT": str(target)}, feedback=feedback)
    # One progress that never runs backwards, although ISL and PC1 run side by side. The
    # library reports at most every 50 ms, so how many reports a sub-second run gives depends on
    # the machine's speed: a few, ending at 100.
    assert len(set(feedback.seen)) >= 4 and feedback.seen[-1] == 100, feedback.seen
    assert all(b >= a for a, b in zip(feedback.seen, feedback.seen[1:])), feedback.seen
    assert result["OUTPUT"] == f"{target}|layername=s1_detections"
    assert result["DETECTIONS"] > 0
    assert sorted(layer_names(target)) == ["inventory", "layer_styles", "s1_detections"]
    # No intermediate rasters are left beside the output.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.gpkg"]

    overlay = processing.run("fringewatch:overlay_inventory", {
        "DETECTIONS": result["OUTPUT"], "INVENTORY": f"{target}|layername=inventory",
        "NEW_DISTANCE": 100.0, "OUTPUT": str(target)})
    assert overlay["OUTPUT"] == f"{target}|layername=detections_overlay"
    overlay_dataset = ogr.Open(str(target))
    layer = overlay_dataset.GetLayerByName("detections_overlay")
    assert layer.GetFeatureCount() == result["DETECTIONS"]
    statuses = [f["status"] for f in layer]
    assert set(statuses) <= {"mapped", "near", "new"} and statuses
    assert [overlay[s.upper()] for s in ["new", "near", "mapped"]] == \
        [statuses.count(s) for s in ["new", "near", "mapped"]]
    assert overlay["WITHOUT_GEOMETRY"] == 0
    overlay_dataset = None

    # A detection whose geometry was cleared (a row edited by hand) is counted, warned about
    # and left out; the others are overlaid as before.
    edited = ogr.Open(str(target), update=1)
    edited.ExecuteSQL("UPDATE s1_detections SET geom = NULL WHERE fid = 1")
    edited = None
    feedback = RecordProgress()
    again = processing.run("fringewatch:overlay_inventory", {
        "DETECTIONS": result["OUTPUT"], "INVENTORY": f"{target}|layername=inventory",
        "NEW_DISTANCE": 100.0, "LAYER_NAME": "edited_overlay", "OUTPUT": str(target)},
        feedback=feedback)
    assert again["WITHOUT_GEOMETRY"] == 1
    assert sum(again[s.upper()] for s in ["new", "near", "mapped"]) == result["DETECTIONS"] - 1
    assert [e for e in feedback.errors if "1 of the detections have no geometry" in e], \
        feedback.errors
    edited_dataset = ogr.Open(str(target))  # kept: the layer lives only as long as it does
    assert edited_dataset.GetLayerByName("edited_overlay").GetFeatureCount() == \
        result["DETECTIONS"] - 1


def test_persistence_of_two_detection_runs(plugin, scene, stack, tmp_path):
    # The same stack detected twice (two "interferograms"): every area is seen 2 of 2.
    target = tmp_path / "runs.gpkg"
    first = processing.run("fringewatch:detect_stack", {
        "STACK": stack, "LAYER_NAME": "run_a", "CONFIDENCE": PLUMBING_CONFIDENCE,
        "OUTPUT": str(target)})
    second = processing.run("fringewatch:detect_stack", {
        "STACK": stack, "LAYER_NAME": "run_b", "CONFIDENCE": PLUMBING_CONFIDENCE,
        "OUTPUT": str(target)})
    result = processing.run("fringewatch:persistence", {
        "DETECTIONS": [first["OUTPUT"], second["OUTPUT"]], "OUTPUT": str(target)})
    assert result["OUTPUT"] == f"{target}|layername=persistence"
    dataset = ogr.Open(str(target))
    layer = dataset.GetLayerByName("persistence")
    assert 0 < layer.GetFeatureCount() == result["AREAS"] <= first["DETECTIONS"]
    members = 0
    for feature in layer:
        assert (feature["interferograms"], feature["covering"]) == (2, 2)
        members += feature["detections"]
    assert members == first["DETECTIONS"] + second["DETECTIONS"]
    with pytest.raises(QgsProcessingException, match="at least two"):
        processing.run("fringewatch:persistence", {
            "DETECTIONS": [first["OUTPUT"]], "OUTPUT": str(tmp_path / "p.gpkg")})


def test_constant_incidence_and_custom_heading(plugin, scene, tmp_path):
    scene_dir, facts = scene
    result = processing.run("fringewatch:compute_isl", {
        "DEM": str(scene_dir / "dem.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
        "INCIDENCE_DEG": facts["incidence_centre_deg"], "ORBIT": 2,
        "HEADING": facts["heading_deg"], "OUTPUT": str(tmp_path / "isl.tif")})
    stats = band_stats(result["OUTPUT"])
    assert 0.05 < stats[2] < 1.0


class CancelOnFirstProgress(QgsProcessingFeedback):
    def setProgress(self, progress):  # noqa: N802 - QGIS API name
        super().setProgress(progress)
        self.cancel()


def test_cancel_writes_nothing(plugin, scene, stack, tmp_path):
    scene_dir, facts = scene
    target = with_inventory(scene_dir, tmp_path / "iffi.gpkg")
    before = layer_dump(target, "inventory")
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("fringewatch:detect_stack", {
            "STACK": stack, "OUTPUT": str(target)}, feedback=CancelOnFirstProgress())
    assert layer_names(target) == ["inventory"]
    assert layer_dump(target, "inventory") == before
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("fringewatch:compute_pc1", {
            "DEM": str(scene_dir / "dem.tif"), "OUTPUT": str(tmp_path / "pc1.tif")},
            feedback=CancelOnFirstProgress())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iffi.gpkg"]


class CancelAtStep(QgsProcessingFeedback):
    """Asks to cancel when the run first reports step `step` (a new step's report always
    reaches the host, however often progress is forwarded), then counts the progress reports
    that still arrive (each one is a point where the library polled and went on)."""

    def __init__(self, step):
        super().__init__()
        self.step = step
        self.after_cancel = 0
        self.requested = None

    def setProgress(self, progress):  # noqa: N802 - QGIS API name
        super().setProgress(progress)
        if self.requested is not None:
            self.after_cancel += 1

    def setProgressText(self, text):  # noqa: N802 - QGIS API name
        super().setProgressText(text)
        if self.requested is None and text == self.step:
            self.requested = time.monotonic()
            self.cancel()


class RecordSteps(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.steps = []

    def setProgressText(self, text):  # noqa: N802 - QGIS API name
        super().setProgressText(text)
        if text not in self.steps:
            self.steps.append(text)


def test_a_cancel_at_any_moment_of_a_run_stops_it_and_writes_nothing(plugin, scene, tmp_path):
    """#19 defect 4: end-to-end detection cancelled at four of its steps (the DEM onto the
    phase grid, PC1's flow routing, its statistics beside it, detection, which makes ISL and
    PC1 as it reads them) stops at the library's next poll and leaves nothing; how long that
    takes is measured by benches/cancel_latency.py, not here."""
    scene_dir, _ = scene
    inputs = {
        "PHASE": str(scene_dir / "phase.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
        "DEM": str(scene_dir / "dem.tif"), "INCIDENCE": str(scene_dir / "incidence.tif"),
        "CONFIDENCE": PLUMBING_CONFIDENCE}
    out = tmp_path / "out"
    out.mkdir()
    whole = RecordSteps()
    processing.run("fringewatch:detect_interferogram", {
        **inputs, "OUTPUT": str(out / "d.gpkg")}, feedback=whole)
    (out / "d.gpkg").unlink()
    print(f"the run's steps: {whole.steps}")
    # PC1's passes over the whole DEM (TWI's flow routing the longest), then detection: no
    # layer and no stack is written on the way
    moments = ["reading DEM", "TWI: filling depressions", "statistics", "detecting"]
    assert set(moments) <= set(whole.steps), whole.steps
    for written in ["ISL", "writing PC1", "stacking"]:
        assert written not in whole.steps, whole.steps
    for step in moments:
        feedback = CancelAtStep(step)
        with pytest.raises(QgsProcessingException, match="Cancelled"):
            processing.run("fringewatch:detect_interferogram", {
                **inputs, "OUTPUT": str(out / "d.gpkg")}, feedback=feedback)
        stopped = time.monotonic() - feedback.requested
        print(f"cancel at '{step}': {feedback.after_cancel} progress reports after it, "
              f"stopped {stopped:.3f} s later")
        assert feedback.after_cancel <= 3, (step, feedback.after_cancel)
        assert list(out.iterdir()) == [], step
    assert not glob.glob(os.path.join(tempfile.gettempdir(), "fringewatch-area-*"))


def test_the_custom_heading_is_offered_only_with_custom_heading(plugin):
    """#19 defect 2: in the real Processing dialog the custom heading's box is enabled only
    while the orbit choice is "Custom heading", and what it holds reaches the parameters."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    for algorithm_id in ["fringewatch:compute_isl", "fringewatch:detect_interferogram"]:
        algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
        dialog = AlgorithmDialog(algorithm.create(), False, None)
        wrappers = dialog.mainWidget().wrappers
        orbit, heading = wrappers["ORBIT"], wrappers["HEADING"]
        context = QgsProcessingContext()
        choices = orbit.parameterDefinition().options()
        custom = choices.index("Custom heading")
        assert orbit.parameterValue() != custom
        assert not heading.widget.isEnabled()
        orbit.setParameterValue(custom, context)
        assert heading.widget.isEnabled()
        assert heading.parameterValue() is None  # "Not set" until the analyst types one
        heading.setParameterValue(-12.25, context)
        assert orbit.parameterValue() == custom and heading.parameterValue() == -12.25
        orbit.setParameterValue(0, context)
        assert not heading.widget.isEnabled()
        dialog.deleteLater()


def test_bad_input_gives_the_library_message(plugin, scene, tmp_path):
    scene_dir, _ = scene
    with pytest.raises(QgsProcessingException, match="expects 3 channels"):
        processing.run("fringewatch:detect_stack", {
            "STACK": str(scene_dir / "phase.tif"), "OUTPUT": str(tmp_path / "d.gpkg")})
    broken = tmp_path / "broken.onnx"
    broken.write_text("not a model")
    with pytest.raises(QgsProcessingException, match="not an ONNX model"):
        processing.run("fringewatch:detect_stack", {
            "STACK": str(scene_dir / "phase.tif"), "MODEL": str(broken),
            "OUTPUT": str(tmp_path / "d.gpkg")})
    # A DEM of another place (same pixels, georeferenced 500 km away): no overlap.
    elsewhere = tmp_path / "dem_elsewhere.tif"
    source = gdal.Open(str(scene_dir / "dem.tif"))
    x0, dx, _, y0, _, dy = source.GetGeoTransform()
    gdal.Translate(str(elsewhere), source, outputBounds=[
        x0 + 5e5, y0, x0 + 5e5 + dx * source.RasterXSize, y0 + dy * source.RasterYSize])
    source = None
    with pytest.raises(QgsProcessingException, match="overlap"):
        processing.run("fringewatch:compute_isl", {
            "DEM": str(elsewhere), "COHERENCE": str(scene_dir / "coherence.tif"),
            "INCIDENCE_DEG": 37.0, "ORBIT": 0, "OUTPUT": str(tmp_path / "isl.tif")})
    assert not (tmp_path / "d.gpkg").exists() and not (tmp_path / "isl.tif").exists()


def test_missing_library_is_explained(plugin, scene, tmp_path, monkeypatch):
    from fringewatch import native

    monkeypatch.setenv("FRINGEWATCH_LIBRARY", str(tmp_path / "nowhere" / "libfringewatch.so"))
    monkeypatch.setattr(native, "_loaded", {})
    scene_dir, _ = scene
    with pytest.raises(QgsProcessingException, match="native library was not found"):
        processing.run("fringewatch:compute_pc1", {
            "DEM": str(scene_dir / "dem.tif"), "OUTPUT": str(tmp_path / "pc1.tif")})


def test_a_library_built_against_another_gdal_says_what_to_install(plugin, scene, tmp_path,
                                                                  monkeypatch):
    """The zip's library links the build machine's GDAL; on a QGIS with another GDAL the
    dynamic loader fails. The message names the missing library and what to install, rather
    than "not found". A real loader failure: a library linked against libgdal.so.99, which is
    then removed."""
    from fringewatch import native

    fake_gdal = tmp_path / "libgdal.so.99"
    subprocess.run(["cc", "-shared", "-fPIC", "-x", "c", "-", "-o", str(fake_gdal),
                    "-Wl,-soname,libgdal.so.99"], input="int gdal_stub(void){return 0;}",
                   text=True, check=True)
    library = tmp_path / "lib" / "libfringewatch.so"
    library.parent.mkdir()
    subprocess.run(["cc", "-shared", "-fPIC", "-x", "c", "-", "-x", "none", "-o", str(library),
                    str(fake_gdal)], input="int gdal_stub(void); int f(void){return gdal_stub();}",
                   text=True, check=True)
    fake_gdal.unlink()
    monkeypatch.setenv("FRINGEWATCH_LIBRARY", str(library))
    monkeypatch.setattr(native, "_loaded", {})
    scene_dir, _ = scene
    with pytest.raises(QgsProcessingException) as error:
        processing.run("fringewatch:compute_pc1", {
            "DEM": str(scene_dir / "dem.tif"), "OUTPUT": str(tmp_path / "pc1.tif")})
    message = str(error.value)
    assert "built against GDAL libgdal.so.99" in message, message
    assert "qgis_plugin/build.sh" in message and "not found" not in message


def test_outputs_load_with_the_shipped_styles(plugin, scene, stack, tmp_path):
    scene_dir, _ = scene
    project = QgsProject.instance()
    try:
        result = processing.runAndLoadResults("fringewatch:detect_stack", {
            "STACK": stack, "OUTPUT": str(tmp_path / "styled.gpkg")})
        layers = [lyr for lyr in project.mapLayers().values()
                  if lyr.source() == result["OUTPUT"]]
        assert len(layers) == 1, [lyr.source() for lyr in project.mapLayers().values()]
        detections = layers[0]
        renderer = detections.renderer()
        assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "class"
        assert [c.value() for c in renderer.categories()][:4] == ["AR", "CF", "CS", "FS"]
        assert detections.labelsEnabled()
        review = detections.fields().indexOf("review")
        widget = detections.editorWidgetSetup(review)
        assert widget.type() == "ValueMap"
        values = [list(m.values())[0] for m in widget.config()["map"]]
        assert values == ["unreviewed", "confirmed", "rejected"]

        folder = os.path.dirname(stack)
        stack_result = processing.runAndLoadResults("fringewatch:build_stack", {
            "PHASE": str(scene_dir / "phase.tif"), "ISL": os.path.join(folder, "isl.tif"),
            "PC1": os.path.join(folder, "pc1.tif"),
            "OUTPUT": str(tmp_path / "s.tif")})
        raster = [lyr for lyr in project.mapLayers().values()
                  if lyr.source() == stack_result["OUTPUT"]][0]
        shader = raster.renderer().shader().rasterShaderFunction()
        assert raster.renderer().type() == "singlebandpseudocolor"
        assert shader.minimumValue() == pytest.approx(-math.pi)
        assert shader.maximumValue() == pytest.approx(math.pi)
        items = shader.colorRampItemList()
        assert items[0].color == items[-1].color, "the phase ramp is cyclic"
    finally:
        project.removeAllMapLayers()


def test_a_reopened_geopackage_keeps_style_and_review_rules(plugin, stack, tmp_path):
    """#19 defect 5: the style travels in the GeoPackage (layer_styles), so the layer opened
    from the file, without the plugin's post-processor, is styled with the review form;
    provenance is read-only in the form; an invalid review is refused by the file itself."""
    target = tmp_path / "reviewed.gpkg"
    result = processing.run("fringewatch:detect_stack", {
        "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "OUTPUT": str(target)})
    assert result["DETECTIONS"] > 0
    layer = QgsVectorLayer(f"{target}|layername=detections", "reopened", "ogr")
    assert layer.isValid()
    assert layer.renderer().type() == "categorizedSymbol"
    assert layer.renderer().classAttribute() == "class"
    fields = layer.fields()
    review = fields.indexOf("review")
    assert layer.editorWidgetSetup(review).type() == "ValueMap"
    form = layer.editFormConfig()
    for name in ["fid", "class", "score", "model_sha256", "created"]:
        assert form.readOnly(fields.indexOf(name)), name
    for name in ["review", "reviewer", "comment"]:
        assert not form.readOnly(fields.indexOf(name)), name

    first = next(layer.getFeatures())
    assert layer.startEditing()
    assert layer.changeAttributeValue(first.id(), review, "maybe?")
    assert not layer.commitChanges()
    assert "review must be one of" in " ".join(layer.commitErrors()), layer.commitErrors()
    layer.rollBack()
    assert layer.startEditing()
    layer.changeAttributeValue(first.id(), review, "confirmed")
    layer.changeAttributeValue(first.id(), fields.indexOf("reviewer"), "A. Analyst")
    layer.changeAttributeValue(first.id(), fields.indexOf("comment"), "fresh scarp")
    assert layer.commitChanges(), layer.commitErrors()
    del layer
    dataset = ogr.Open(str(target))
    feature = dataset.GetLayerByName("detections").GetFeature(first.id())
    assert (feature["review"], feature["reviewer"], feature["comment"]) == \
        ("confirmed", "A. Analyst", "fresh scarp")


def test_every_output_loads_with_its_own_style(plugin, scene, stack, tmp_path):
    """#19 defect 6: ISL, PC1, overlay and persistence load with their own styles (the
    persistence also through an ogr:dbname destination); landslide classes are drawn in black
    and white with a halo, so that they stand out on the cyclic phase, and artifacts thinner."""
    scene_dir, facts = scene
    project = QgsProject.instance()

    def loaded(result):
        layers = [lyr for lyr in project.mapLayers().values() if lyr.source() == result["OUTPUT"]]
        assert len(layers) == 1, [lyr.source() for lyr in project.mapLayers().values()]
        return layers[0]

    def ramp(layer):
        assert layer.renderer().type() == "singlebandpseudocolor"
        shader = layer.renderer().shader().rasterShaderFunction()
        return shader.minimumValue(), shader.maximumValue()

    try:
        isl = processing.runAndLoadResults("fringewatch:compute_isl", {
            "DEM": str(scene_dir / "dem.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
            "INCIDENCE": str(scene_dir / "incidence.tif"), "ORBIT": orbit_index(facts),
            "OUTPUT": str(tmp_path / "isl.tif")})
        assert ramp(loaded(isl)) == (0.0, 1.0)
        pc1 = processing.runAndLoadResults("fringewatch:compute_pc1", {
            "DEM": str(scene_dir / "dem.tif"), "OUTPUT": str(tmp_path / "pc1.tif")})
        assert ramp(loaded(pc1)) == (-3.0, 3.0)

        target = with_inventory(scene_dir, tmp_path / "iffi.gpkg")
        first = processing.run("fringewatch:detect_stack", {
            "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "OUTPUT": str(target)})
        overlay = processing.runAndLoadResults("fringewatch:overlay_inventory", {
            "DETECTIONS": first["OUTPUT"], "INVENTORY": f"{target}|layername=inventory",
            "OUTPUT": str(target)})
        renderer = loaded(overlay).renderer()
        assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "status"
        assert [c.value() for c in renderer.categories()] == ["new", "near", "mapped"]

        second = processing.run("fringewatch:detect_stack", {
            "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "LAYER_NAME": "run_b",
            "OUTPUT": str(target)})
        areas = processing.runAndLoadResults("fringewatch:persistence", {
            "DETECTIONS": [first["OUTPUT"], second["OUTPUT"]],
            "OUTPUT": f"ogr:dbname='{target}' table=\"areas\" (geom)"})
        assert areas["OUTPUT"] == f"{target}|layername=areas"
        renderer = loaded(areas).renderer()
        assert renderer.type() == "graduatedSymbol"
        assert renderer.classAttribute() == "interferograms"
    finally:
        project.removeAllMapLayers()

    # The detection classes as stored with the layer (layer_styles) and shipped (QML).
    detections = QgsVectorLayer(first["OUTPUT"], "detections", "ogr")
    symbols = {c.value(): c.symbol().clone() for c in detections.renderer().categories()}
    for name in ["CF", "CS", "FS"]:
        layers = [symbols[name].symbolLayer(i) for i in range(symbols[name].symbolLayerCount())]
        assert len(layers) == 2, name  # a halo under the outline
        assert all(layer.strokeColor().hsvSaturation() == 0 for layer in layers), name
        assert {layer.strokeColor().value() for layer in layers} == {0, 255}, name
    patterns = {name: symbols[name].symbolLayer(1).strokeStyle() for name in ["CF", "FS"]}
    assert patterns["CF"] != patterns["FS"]
    artifact = symbols["AR"]
    assert artifact.symbolLayerCount() == 1
    assert artifact.symbolLayer(0).strokeWidth() < symbols["CF"].symbolLayer(1).strokeWidth()


def test_an_area_of_interest_limits_detection_to_it(plugin, stack, tmp_path):
    """Analysts process the canvas extent or a drawn rectangle, not always the whole raster."""
    raster = QgsRasterLayer(stack, "stack")
    whole = raster.extent()
    west = (whole.xMinimum(), whole.center().x())
    area = f"{west[0]},{west[1]},{whole.yMinimum()},{whole.yMaximum()} [{raster.crs().authid()}]"
    result = processing.run("fringewatch:detect_stack", {
        "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "EXTENT": area,
        "OUTPUT": str(tmp_path / "west.gpkg")})
    assert result["DETECTIONS"] > 0
    # the interferogram keeps its name (the cut keeps the metadata and the file's stem)
    name = gdal.Open(stack).GetMetadataItem("FRINGEWATCH_INTERFEROGRAM_ID") or \
        os.path.splitext(os.path.basename(stack))[0]
    dataset = ogr.Open(str(tmp_path / "west.gpkg"))
    pixel = raster.rasterUnitsPerPixelX()
    for feature in dataset.GetLayerByName("detections"):
        x0, x1, _, _ = feature.GetGeometryRef().GetEnvelope()
        assert west[0] - pixel <= x0 and x1 <= west[1] + pixel, (x0, x1, west)
        assert feature["interferogram"] == name
    dataset = None
    far = (f"{whole.xMaximum() + 1e5},{whole.xMaximum() + 2e5},{whole.yMinimum()},"
           f"{whole.yMaximum()} [{raster.crs().authid()}]")
    with pytest.raises(QgsProcessingException, match="does not overlap"):
        processing.run("fringewatch:detect_stack", {
            "STACK": stack, "EXTENT": far, "OUTPUT": str(tmp_path / "far.gpkg")})
    assert not (tmp_path / "far.gpkg").exists()
    assert not glob.glob(os.path.join(tempfile.gettempdir(), "fringewatch-area-*"))


def test_selected_polygons_limit_detection_to_them(plugin, stack, tmp_path):
    """The area of interest as the selected polygons of a layer: the raster is cut to their
    bounds and masked outside them; an unselected polygon elsewhere is not processed."""
    raster = QgsRasterLayer(stack, "stack")
    whole = raster.extent()
    x_mid, y_mid = whole.center().x(), whole.center().y()
    polygons = QgsVectorLayer(f"Polygon?crs={raster.crs().authid()}", "areas", "memory")
    west = QgsFeature()
    west.setGeometry(QgsGeometry.fromRect(
        QgsRectangle(whole.xMinimum(), whole.yMinimum(), x_mid, whole.yMaximum())))
    east_corner = QgsFeature()
    east_corner.setGeometry(QgsGeometry.fromRect(
        QgsRectangle(x_mid + (whole.xMaximum() - x_mid) / 2, y_mid, whole.xMaximum(),
                     whole.yMaximum())))
    polygons.dataProvider().addFeatures([west, east_corner])
    QgsProject.instance().addMapLayer(polygons)
    try:
        first_id = next(polygons.getFeatures()).id()
        polygons.selectByIds([first_id])
        selected = QgsProcessingFeatureSourceDefinition(polygons.id(), True)
        result = processing.run("fringewatch:detect_stack", {
            "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "AREA_POLYGONS": selected,
            "OUTPUT": str(tmp_path / "selected.gpkg")})
        assert result["DETECTIONS"] > 0
        dataset = ogr.Open(str(tmp_path / "selected.gpkg"))
        pixel = raster.rasterUnitsPerPixelX()
        for feature in dataset.GetLayerByName("detections"):
            x0, x1, _, _ = feature.GetGeometryRef().GetEnvelope()
            assert whole.xMinimum() - pixel <= x0 and x1 <= x_mid + pixel, (x0, x1, x_mid)
        dataset = None
        # with both polygons the cut spans the raster, masked outside them: no box lies wholly
        # in the masked south-east
        result = processing.run("fringewatch:detect_stack", {
            "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "AREA_POLYGONS": polygons,
            "OUTPUT": str(tmp_path / "both.gpkg")})
        union = QgsGeometry.unaryUnion([f.geometry() for f in polygons.getFeatures()])
        dataset = ogr.Open(str(tmp_path / "both.gpkg"))
        for feature in dataset.GetLayerByName("detections"):
            box = QgsGeometry.fromWkt(feature.GetGeometryRef().ExportToWkt())
            assert box.intersects(union), box.asWkt()
        dataset = None
        polygons.removeSelection()
        with pytest.raises(QgsProcessingException, match="no polygons"):
            processing.run("fringewatch:detect_stack", {
                "STACK": stack, "AREA_POLYGONS": selected,
                "OUTPUT": str(tmp_path / "none.gpkg")})
        assert not (tmp_path / "none.gpkg").exists()
        assert not glob.glob(os.path.join(tempfile.gettempdir(), "fringewatch-area-*"))
    finally:
        QgsProject.instance().removeMapLayer(polygons.id())


def test_review_panel_walks_the_unreviewed_detections(plugin, stack, tmp_path):
    """The review workflow: next/previous unreviewed (highest score first), zoom to it,
    confirm/reject with one key, counts of what is left; reviews land in the file."""
    from fringewatch.review import KEYS, ReviewDock
    from qgis.gui import QgsMapCanvas

    target = tmp_path / "review.gpkg"
    result = processing.run("fringewatch:detect_stack", {
        "STACK": stack, "CONFIDENCE": PLUMBING_CONFIDENCE, "OUTPUT": str(target)})
    total = result["DETECTIONS"]
    assert total >= 3
    layer = QgsVectorLayer(f"{target}|layername=detections", "detections", "ogr")
    scores = sorted((-f["score"], f.id()) for f in layer.getFeatures())
    canvas = QgsMapCanvas()
    canvas.resize(400, 400)
    canvas.setDestinationCrs(layer.crs())
    dock = ReviewDock(canvas)
    dock.set_layer(layer)
    assert f"{total} left to review" in dock.status.text()
    assert {action: s.key().toString() for action, s in dock.shortcuts.items()} == KEYS

    dock.act("next")
    first = dock.session.current
    assert first == scores[0][1]
    box = layer.getFeature(first).geometry().boundingBox()
    assert canvas.extent().contains(box)
    dock.reviewer.setText("A. Analyst")
    dock.act("confirmed")  # stores, then moves on to the next unreviewed
    assert dock.session.current == scores[1][1]
    dock.act("rejected")
    assert dock.session.current == scores[2][1]
    dock.act("previous")  # wraps to the last unreviewed
    assert dock.session.current == scores[-1][1]
    assert f"{total - 2} left to review, 1 confirmed, 1 rejected" in dock.status.text()

    dataset = ogr.Open(str(target))
    rows = {f.GetFID(): (f["review"], f["reviewer"])
            for f in dataset.GetLayerByName("detections")}
    dataset = None
    assert rows[first] == ("confirmed", "A. Analyst")
    assert rows[scores[1][1]] == ("rejected", "A. Analyst")
    assert sum(r == "unreviewed" for r, _ in rows.values()) == total - 2
    dock.set_layer(QgsVectorLayer("Polygon?field=name:string", "other", "memory"))
    assert "no 'review' field" in dock.status.text()


def test_repeated_runs_in_one_session_are_each_styled(plugin, scene, stack, tmp_path):
    """Five detection runs in one QGIS process: every output loads, styled (issue: the QGIS
    plugin as analysts use it all day, defect 1)."""
    project = QgsProject.instance()
    try:
        for k in range(5):
            result = processing.runAndLoadResults("fringewatch:detect_stack", {
                "STACK": stack, "OUTPUT": str(tmp_path / f"run{k}.gpkg")})
            layers = [lyr for lyr in project.mapLayers().values()
                      if lyr.source() == result["OUTPUT"]]
            assert len(layers) == 1, (k, [lyr.source() for lyr in project.mapLayers().values()])
            renderer = layers[0].renderer()
            assert renderer.type() == "categorizedSymbol", (k, renderer.type())
            assert renderer.classAttribute() == "class"
    finally:
        project.removeAllMapLayers()


def test_a_run_leaves_the_hosts_gdal_cache_alone(plugin, scene, stack, tmp_path):
    """The library must not change process-wide GDAL settings of its host (issue: the QGIS
    plugin as analysts use it all day, defect 3). In a fresh process, as QGIS is before its
    first fringewatch run: the host's block cache is the same after PC1 and a detection."""
    script = f"""
import sys
from osgeo import gdal
sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})
from fringewatch import native
gdal.SetCacheMax(777 * 1024 * 1024)
library = native.load()
library.compute_pc1({str(scene[0] / "dem.tif")!r}, {str(tmp_path / "pc1.tif")!r})
with library.open_detector() as detector:
    detector.detect_stack({stack!r}, {str(tmp_path / "cache.gpkg")!r})
print(gdal.GetCacheMax() // (1024 * 1024))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "777", done.stdout
    assert (tmp_path / "pc1.tif").exists() and (tmp_path / "cache.gpkg").exists()


def test_plugin_zip_installs_and_finds_its_library(tmp_path):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    built = subprocess.run([os.path.join(root, "qgis_plugin", "build.sh"), "--no-cargo"],
                           check=True, capture_output=True, text=True)
    archive = built.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        z.extractall(tmp_path)
    for name in ["fringewatch/metadata.txt", "fringewatch/__init__.py",
                 "fringewatch/lib/libfringewatch.so", "fringewatch/models/fringewatch-default.onnx",
                 "fringewatch/styles/detections.qml", "fringewatch/styles/wrapped_phase.qml",
                 "fringewatch/native.py", "fringewatch/LICENSE", "fringewatch/README.md",
                 "fringewatch/styles/overlay.qml", "fringewatch/styles/persistence.qml",
                 "fringewatch/styles/isl.qml", "fringewatch/styles/pc1.qml"]:
        assert name in names
    # the plugin's binding is the Python package's one, packed as a file
    with open(os.path.join(root, "python", "fringewatch", "native.py"), "rb") as shared:
        assert (tmp_path / "fringewatch" / "native.py").read_bytes() == shared.read()
    env = {k: v for k, v in os.environ.items()
           if k not in ("FRINGEWATCH_LIBRARY", "FRINGEWATCH_MODEL_DIR")}
    code = ("import fringewatch.native as n; lib = n.load();"
            "d = lib.open_detector(n.bundled_model());"
            "print(lib.path); print(d.info()['metadata']['name']); d.close();"
            "print(lib.build_info()['default_model'])")
    run = subprocess.run([shutil.which("python3") or "/usr/bin/python3", "-c", code],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    path, model, default_model = run.stdout.split()
    assert path == str(tmp_path / "fringewatch" / "lib" / "libfringewatch.so")
    assert model.startswith("fringewatch-default")
    # the library finds the model beside itself, not in the build machine's source tree
    assert default_model == str(tmp_path / "fringewatch" / "models" / "fringewatch-default.onnx")
