"""Every Fringewatch algorithm through processing.run in a real QGIS, outputs checked with
GDAL/OGR."""

import math
import os
import shutil
import subprocess
import sys
import zipfile

import processing
import pytest
from osgeo import gdal, ogr, osr
from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
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
    return 0 if facts["orbit"] == "ascending" else 1


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
    assert sorted(layer_names(target)) == ["detections", "inventory"]
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
    # ...and the boxes lie on the scene's signals (a georeferencing check: a flipped or shifted
    # grid puts them elsewhere; the model's accuracy is tests/bundled_model.rs's business).
    truths = truth_boxes(scene_dir)
    assert truths, "the scene has labelled signals"
    best = max(iou(box, truth) for _, _, box in boxes for truth in truths)
    assert best >= 0.3, f"no detection on a truth box (best IoU {best:.2f})"

    # The same layer again is refused with the library's message; nothing changes.
    with pytest.raises(QgsProcessingException, match="already exists"):
        processing.run("fringewatch:detect_stack", {
            "STACK": stack, "OUTPUT": f"ogr:dbname='{target}' table=\"detections\""})
    assert layer_dump(target, "inventory") == before


class RecordProgress(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def setProgress(self, progress):  # noqa: N802 - QGIS API name
        super().setProgress(progress)
        self.seen.append(progress)


def test_detect_from_interferogram_and_overlay(plugin, scene, tmp_path):
    scene_dir, facts = scene
    target = with_inventory(scene_dir, tmp_path / "results.gpkg")
    feedback = RecordProgress()
    result = processing.run("fringewatch:detect_interferogram", {
        "PHASE": str(scene_dir / "phase.tif"), "COHERENCE": str(scene_dir / "coherence.tif"),
        "DEM": str(scene_dir / "dem.tif"), "INCIDENCE": str(scene_dir / "incidence.tif"),
        "ORBIT": orbit_index(facts), "LAYER_NAME": "s1_detections",
        "CONFIDENCE": PLUMBING_CONFIDENCE, "OUTPUT": str(target)}, feedback=feedback)
    # One progress that never runs backwards, although ISL and PC1 run side by side.
    assert len(feedback.seen) >= 10
    assert all(b >= a for a, b in zip(feedback.seen, feedback.seen[1:])), feedback.seen
    assert result["OUTPUT"] == f"{target}|layername=s1_detections"
    assert result["DETECTIONS"] > 0
    assert sorted(layer_names(target)) == ["inventory", "s1_detections"]
    # No intermediate rasters are left beside the output.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.gpkg"]

    overlay = processing.run("fringewatch:overlay_inventory", {
        "DETECTIONS": result["OUTPUT"], "INVENTORY": f"{target}|layername=inventory",
        "NEW_DISTANCE": 100.0, "OUTPUT": str(target)})
    assert overlay["OUTPUT"] == f"{target}|layername=detections_overlay"
    overlay_dataset = ogr.Open(str(target))
    layer = overlay_dataset.GetLayerByName("detections_overlay")
    assert layer.GetFeatureCount() == result["DETECTIONS"]
    statuses = {f["status"] for f in layer}
    assert statuses <= {"mapped", "near", "new"} and statuses


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
                 "fringewatch/native.py"]:
        assert name in names
    # the plugin's binding is the Python package's one, packed as a file
    with open(os.path.join(root, "python", "fringewatch", "native.py"), "rb") as shared:
        assert (tmp_path / "fringewatch" / "native.py").read_bytes() == shared.read()
    env = {k: v for k, v in os.environ.items()
           if k not in ("FRINGEWATCH_LIBRARY", "FRINGEWATCH_MODEL_DIR")}
    code = ("import fringewatch.native as n; lib = n.load();"
            "d = lib.open_detector(n.bundled_model());"
            "print(lib.path); print(d.info()['metadata']['name']); d.close()")
    run = subprocess.run([shutil.which("python3") or "/usr/bin/python3", "-c", code],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    path, model = run.stdout.split()
    assert path == str(tmp_path / "fringewatch" / "lib" / "libfringewatch.so")
    assert model.startswith("fringewatch-default")
