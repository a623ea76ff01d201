"""Processing algorithms of the Fringewatch provider: each one calls the native library through
:mod:`native`, with progress and cancel wired to the Processing feedback and library errors
raised as QgsProcessingException with the library's message."""

import math
import os
import re
import tempfile

from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from osgeo import gdal, ogr, osr
from qgis.core import (
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterVectorLayer,
)

from . import native

STYLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "styles")

# The orbit choices: the heading the phase records (written by the product readers and the
# simulator; NaN tells the library to read it), Sentinel-1's effective headings over the
# Northern Apennines (METHOD.md §2), or the custom heading.
FROM_DATA = "From the data (the heading the phase records)"
CUSTOM = "Custom heading"
ORBITS = [
    (FROM_DATA, math.nan),
    ("Sentinel-1 ascending (heading −10.5°)", -10.5),
    ("Sentinel-1 descending (heading −169.5°)", -169.5),
    (CUSTOM, None),
]
# The overlay's statuses, each counted in an output of the algorithm.
OVERLAY_STATUSES = ["new", "near", "mapped"]
BACKENDS = [("Automatic (a hardware GPU when available, else CPU)", native.FW_BACKEND_AUTO),
            ("CPU (tract)", native.FW_BACKEND_CPU),
            ("GPU (wgpu; also software Vulkan)", native.FW_BACKEND_GPU)]
AUGMENTS = [("Off (one pass of the network)", native.FW_AUGMENT_OFF),
            ("Phase sign (2 passes)", native.FW_AUGMENT_SIGN),
            ("Mirrors (4 passes)", native.FW_AUGMENT_MIRRORS),
            ("Phase sign and mirrors (8 passes; best on held-out simulations)",
             native.FW_AUGMENT_SIGN_AND_MIRRORS)]


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Applies a shipped QML style to an output layer when Processing loads it."""

    def __init__(self, qml):
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API name
        message, ok = layer.loadNamedStyle(self.qml)
        if not ok:
            feedback.reportError(f"style {self.qml} not applied: {message}")
        layer.triggerRepaint()


# The shipped styles by output kind (qgis_plugin/make_styles.py writes them).
_STYLES = {kind: os.path.join(STYLES, f"{file}.qml") for kind, file in [
    ("detections", "detections"), ("overlay", "overlay"), ("persistence", "persistence"),
    ("phase", "wrapped_phase"), ("isl", "isl"), ("pc1", "pc1")]}


# Post-processors waiting for their layer. QGIS keeps only a raw pointer, so Python must hold
# each one until QGIS has used it, and QGIS deletes it after use, so none may serve two runs (a
# shared instance failed every run after the first with "wrapped C/C++ object ... has been
# deleted"). One new instance per output; used ones are dropped on the next call.
_PENDING_POST_PROCESSORS = []


def post_processor(style):
    """A new post-processor for one output of one run, kept alive until QGIS has used it."""
    _PENDING_POST_PROCESSORS[:] = [p for p in _PENDING_POST_PROCESSORS if not sip.isdeleted(p)]
    processor = StyleOnLoad(_STYLES[style])
    _PENDING_POST_PROCESSORS.append(processor)
    return processor


def parse_vector_destination(destination, default_layer):
    """(path, layer) of a Processing vector destination: ``ogr:dbname='X.gpkg' table="name"``
    names the layer; a plain path gets ``default_layer``. A GeoJSON path has no layer."""
    match = re.match(r"^ogr:dbname='((?:[^']|'')*)'\s+table=\"((?:[^\"]|\"\")*)\"", destination)
    if match:
        return match.group(1).replace("''", "'"), match.group(2).replace('""', '"')
    path = destination
    if path.lower().endswith((".geojson", ".json")):
        return path, None
    if not path.lower().endswith(".gpkg"):
        raise QgsProcessingException(
            f"{path}: detections are written to a GeoPackage (.gpkg) or GeoJSON (.geojson)")
    return path, default_layer


def source_path_and_layer(uri):
    """Split an OGR layer source ``path|layername=x`` into (path, layer or None)."""
    parts = uri.split("|")
    layer = None
    for part in parts[1:]:
        if part.startswith("layername="):
            layer = part[len("layername="):]
    return parts[0], layer


class FringewatchAlgorithm(QgsProcessingAlgorithm):
    """Common plumbing: the library, errors, raster paths, output loading."""

    def tr(self, text):
        return QCoreApplication.translate("Fringewatch", text)

    # The toolbox lists groups by name: numbered steps put the algorithms in pipeline order.
    GROUP = ("2 · Detection", "detection")
    # Section of the README (shipped in the zip) that documents the algorithm.
    HELP = "qgis-plugin-qgis_plugin"

    def group(self):
        return self.tr(self.GROUP[0])

    def groupId(self):  # noqa: N802 - QGIS API name
        return self.GROUP[1]

    def helpUrl(self):  # noqa: N802 - QGIS API name
        """The README section, in the README beside the plugin (the zip) or of the source tree."""
        here = os.path.dirname(os.path.abspath(__file__))
        for readme in [os.path.join(here, "README.md"),
                       os.path.join(here, "..", "..", "README.md")]:
            if os.path.isfile(readme):
                return QUrl.fromLocalFile(os.path.abspath(readme)).toString() + "#" + self.HELP
        return ""

    def createInstance(self):  # noqa: N802
        return type(self)()

    def library(self):
        try:
            return native.load()
        except native.LibraryNotFoundError as error:
            raise QgsProcessingException(str(error)) from error

    def call(self, function, *args, **kwargs):
        """Run a native call; library errors become QgsProcessingException."""
        try:
            return function(*args, **kwargs)
        except native.FringewatchError as error:
            if error.cancelled:
                raise QgsProcessingException(
                    self.tr("Cancelled: nothing was written.")) from error
            raise QgsProcessingException(self.worded(str(error))) from error

    def worded(self, message):
        """A library message in the dialog's words: a parameter the library names in backticks
        (`heading`, `incidence_deg`) becomes this algorithm's label for it ("Orbit" choices
        aside, the parameter named like it in capitals), else the bare name."""
        def label(match):
            definition = self.parameterDefinition(match.group(1).upper())
            return f"\"{definition.description()}\"" if definition else match.group(1)
        return re.sub(r"`([a-z][a-z0-9_]*)`", label, message)

    def raster_path(self, parameters, name, context, required=True):
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            if required:
                raise QgsProcessingException(self.tr(f"{name}: no raster layer given"))
            return None
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                f"{layer.name()}: only rasters GDAL reads from files are supported "
                f"(provider '{layer.providerType()}')")
        return layer.source()

    def style_output(self, context, destination, uri, style):
        """Load `uri` (instead of `destination`) on completion, with a shipped style."""
        if not context.willLoadLayerOnCompletion(destination):
            return
        details = context.layerToLoadOnCompletionDetails(destination)
        name, project, output_name = details.name, details.project, details.outputName
        layers = context.layersToLoadOnCompletion()
        layers.pop(destination, None)
        context.setLayersToLoadOnCompletion(layers)
        new_details = QgsProcessingContext.LayerDetails(name or output_name, project,
                                                        output_name)
        context.addLayerToLoadOnCompletion(uri, new_details)
        context.layerToLoadOnCompletionDetails(uri).setPostProcessor(post_processor(style))


def advanced(parameter):
    """`parameter`, folded away under "Advanced parameters" in the dialog."""
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


def area_polygons(algorithm, parameters, context, crs):
    """The union of the area-of-interest polygons ("AREA_POLYGONS": a polygon layer, or only its
    selected features when the dialog's "Selected features only" is ticked) in `crs`, or None
    when none are given."""
    if parameters.get("AREA_POLYGONS") in (None, ""):
        return None
    source = algorithm.parameterAsSource(parameters, "AREA_POLYGONS", context)
    if source is None:
        raise QgsProcessingException("The area-of-interest polygons cannot be read")
    transform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    parts = []
    for feature in source.getFeatures(QgsFeatureRequest().setNoAttributes()):
        geometry = QgsGeometry(feature.geometry())
        if geometry.isEmpty():
            continue
        geometry.transform(transform)
        parts.append(geometry)
    if not parts:
        raise QgsProcessingException(
            "The area-of-interest layer gives no polygons (is \"Selected features only\" ticked "
            "with nothing selected?)")
    union = QgsGeometry.unaryUnion(parts)
    if union.isEmpty():
        raise QgsProcessingException(
            "The area-of-interest polygons have no area (invalid geometries? Check them with "
            "Vector ▸ Geometry Tools ▸ Check Validity)")
    return union


def write_mask(geometry, crs, path):
    """`geometry` as the only polygon of a GeoPackage at `path`, in `crs` (GDAL's cutline)."""
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs.toWkt())
    driver = ogr.GetDriverByName("GPKG")
    dataset = driver.CreateDataSource(path)
    layer = dataset.CreateLayer("area", srs, ogr.wkbMultiPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkb(bytes(geometry.asWkb()))))
    layer.CreateFeature(feature)
    feature = layer = dataset = None


def clipped_to_area(algorithm, parameters, name, context, folder):
    """The path of raster parameter `name`, or, when an area of interest is given, a VRT of it
    cut to that area in `folder`, named like the raster so that the interferogram keeps its name
    (and its metadata). The area is the extent ("EXTENT"), the polygons ("AREA_POLYGONS", whose
    outside becomes nodata), or where both meet. The cut keeps whole pixels of the raster's own
    grid, so the library works on that window only and its outputs stay georeferenced."""
    path = algorithm.raster_path(parameters, name, context)
    has_extent = parameters.get("EXTENT") not in (None, "")
    layer = algorithm.parameterAsRasterLayer(parameters, name, context)
    polygons = area_polygons(algorithm, parameters, context, layer.crs())
    if not has_extent and polygons is None:
        return path
    area = layer.extent()
    if has_extent:
        area = algorithm.parameterAsExtent(parameters, "EXTENT", context, layer.crs())
    if polygons is not None:
        bounds = polygons.boundingBox()
        area = area.intersect(bounds) if has_extent else bounds
    if area.isEmpty() or not area.intersects(layer.extent()):
        raise QgsProcessingException(
            f"The area of interest does not overlap {layer.name()} (in its CRS "
            f"{layer.crs().authid()}: area {area.toString(1)}, raster "
            f"{layer.extent().toString(1)})")
    area = area.intersect(layer.extent())
    stem = os.path.splitext(os.path.basename(path))[0]
    clipped = os.path.join(folder, f"{stem}.vrt")
    window = os.path.join(folder, f"{stem}.window.vrt") if polygons is not None else clipped
    result = gdal.Translate(window, path, format="VRT", projWin=[
        area.xMinimum(), area.yMaximum(), area.xMaximum(), area.yMinimum()])
    if result is None:
        raise QgsProcessingException(
            f"{layer.name()}: cannot cut it to the area of interest: {gdal.GetLastErrorMsg()}")
    descriptions = [result.GetRasterBand(b + 1).GetDescription()
                    for b in range(result.RasterCount)]
    nodata = result.GetRasterBand(1).GetNoDataValue()
    x0, dx, _, y0, _, dy = result.GetGeoTransform()
    width, height = result.RasterXSize, result.RasterYSize
    result = None
    if polygons is None:
        return clipped
    # the same window, its pixels outside the polygons set to nodata (NaN for float rasters)
    mask = os.path.join(folder, "area.gpkg")
    write_mask(polygons, layer.crs(), mask)
    if nodata is None:
        float_data = gdal.Open(window).GetRasterBand(1).DataType in (gdal.GDT_Float32,
                                                                   gdal.GDT_Float64)
        nodata = math.nan if float_data else 0
    # the window's own grid, stated so that GDAL neither moves nor resamples a pixel
    result = gdal.Warp(clipped, window, format="VRT", cutlineDSName=mask, dstNodata=nodata,
                       outputBounds=[x0, y0 + height * dy, x0 + width * dx, y0],
                       width=width, height=height)
    if result is None:
        raise QgsProcessingException(
            f"{layer.name()}: cannot mask it to the area's polygons: {gdal.GetLastErrorMsg()}")
    for band, description in enumerate(descriptions):
        result.GetRasterBand(band + 1).SetDescription(description)
    result = None
    return clipped


def add_area_parameter(algorithm):
    algorithm.addParameter(QgsProcessingParameterExtent(
        "EXTENT", algorithm.tr("Area of interest (empty: the whole raster)"), optional=True))
    algorithm.addParameter(QgsProcessingParameterFeatureSource(
        "AREA_POLYGONS",
        algorithm.tr("Area of interest polygons (outside them nothing is detected; tick "
                     "\"Selected features only\" for the selection)"),
        [QgsProcessing.TypeVectorPolygon], optional=True))


class DetectionParameters:
    """Parameters shared by both detection algorithms."""

    @staticmethod
    def add(algorithm):
        add_area_parameter(algorithm)
        algorithm.addParameter(QgsProcessingParameterFile(
            "MODEL", algorithm.tr("Model (ONNX; empty: the bundled default model)"),
            extension="onnx", optional=True))
        algorithm.addParameter(advanced(QgsProcessingParameterEnum(
            "BACKEND", algorithm.tr("Inference backend"), [b[0] for b in BACKENDS],
            defaultValue=0)))
        algorithm.addParameter(advanced(QgsProcessingParameterEnum(
            "AUGMENT",
            algorithm.tr("Test-time augmentation: average the network over symmetries of "
                         "each tile"),
            [a[0] for a in AUGMENTS], defaultValue=0)))
        algorithm.addParameter(QgsProcessingParameterNumber(
            "CONFIDENCE",
            algorithm.tr("Confidence threshold (empty: the model's recommended value)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.001, maxValue=0.999))
        algorithm.addParameter(advanced(QgsProcessingParameterNumber(
            "IOU", algorithm.tr("IoU threshold of non-maximum suppression"),
            QgsProcessingParameterNumber.Double, defaultValue=0.45, minValue=0.001, maxValue=1.0)))
        algorithm.addParameter(advanced(QgsProcessingParameterNumber(
            "OVERLAP", algorithm.tr("Tile overlap (pixels)"),
            QgsProcessingParameterNumber.Integer, defaultValue=32, minValue=0, maxValue=79)))
        algorithm.addParameter(advanced(QgsProcessingParameterString(
            "LAYER_NAME", algorithm.tr("Layer name in the GeoPackage"),
            defaultValue="detections")))
        algorithm.addParameter(QgsProcessingParameterBoolean(
            "OVERWRITE",
            algorithm.tr("Replace a layer of the same name (other layers are never touched)"),
            defaultValue=False))
        algorithm.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", algorithm.tr("Detections"), QgsProcessing.TypeVectorPolygon))
        algorithm.addOutput(QgsProcessingOutputNumber(
            "DETECTIONS", algorithm.tr("Number of detections")))

    @staticmethod
    def read(algorithm, parameters, context):
        model = algorithm.parameterAsFile(parameters, "MODEL", context) or native.bundled_model()
        backend = BACKENDS[algorithm.parameterAsEnum(parameters, "BACKEND", context)][1]
        confidence = None
        if parameters.get("CONFIDENCE") is not None:
            confidence = algorithm.parameterAsDouble(parameters, "CONFIDENCE", context)
        destination = algorithm.parameterAsOutputLayer(parameters, "OUTPUT", context)
        layer_name = algorithm.parameterAsString(parameters, "LAYER_NAME", context)
        path, layer = parse_vector_destination(destination, layer_name or "detections")
        return {
            "model": model,
            "backend": backend,
            "options": {
                "confidence": confidence,
                "iou": algorithm.parameterAsDouble(parameters, "IOU", context),
                "overlap": algorithm.parameterAsInt(parameters, "OVERLAP", context),
                "overwrite": algorithm.parameterAsBoolean(parameters, "OVERWRITE", context),
                "augment": AUGMENTS[algorithm.parameterAsEnum(parameters, "AUGMENT", context)][1],
                "layer": layer,
            },
            "destination": destination,
            "path": path,
        }

    @staticmethod
    def finish(algorithm, summary, read, context, feedback):
        layer = read["options"]["layer"]
        uri = read["path"] if layer is None else f"{read['path']}|layername={layer}"
        algorithm.style_output(context, read["destination"], uri, "detections")
        by_class = ", ".join(f"{k} {v}" for k, v in summary.get("by_class", {}).items())
        feedback.pushInfo(
            f"{summary['detections']} detections ({by_class}) from {summary['tiles_run']} "
            f"tiles with {summary['engine']}, model {summary['model']} → {uri}")
        if not summary.get("trained", True):
            feedback.reportError("the model is untrained: its detections mean nothing")
        return {"OUTPUT": uri, "DETECTIONS": summary["detections"]}


class ComputeIsl(FringewatchAlgorithm):
    GROUP = ("1 · Input layers", "layers")
    HELP = "the-layers-conventions-shareddocsmethodmd"

    def name(self):
        return "compute_isl"

    def displayName(self):  # noqa: N802
        return self.tr("Compute ISL (InSAR sensitivity)")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "ISL = S2L × W(γ) with the layover/shadow mask (Mondini et al. 2026, METHOD.md §2): "
            "sensitivity of the line of sight to downslope motion, weighted by coherence "
            "(k = 20, γm = 0.3). Output on the coherence grid.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("DEM", self.tr("DEM (metres)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "COHERENCE", self.tr("Coherence [0, 1]")))
        add_geometry_parameters(self, from_data=False)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("ISL")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        library = self.library()
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        incidence_raster, incidence_deg, heading = read_geometry(
            self, parameters, context, feedback, from_data=False)
        summary = self.call(
            library.compute_isl, self.raster_path(parameters, "DEM", context),
            self.raster_path(parameters, "COHERENCE", context), out, heading,
            incidence_raster=incidence_raster, incidence_deg=incidence_deg, feedback=feedback)
        feedback.pushInfo(f"ISL: mean {summary['mean_isl']:.3f}, "
                          f"{100 * summary['zero_fraction']:.1f} % masked or flat")
        self.style_output(context, out, out, "isl")
        return {"OUTPUT": out}


class ComputePc1(FringewatchAlgorithm):
    GROUP = ("1 · Input layers", "layers")
    HELP = "the-layers-conventions-shareddocsmethodmd"

    def name(self):
        return "compute_pc1"

    def displayName(self):  # noqa: N802
        return self.tr("Compute PC1 (terrain principal component)")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "PC1 of standardised slope, TRI, TWI and convexity (METHOD.md §3) with the paper's "
            "loadings, or loadings fitted to this DEM.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("DEM", self.tr("DEM (metres)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "LIKE", self.tr("Output grid like (empty: the DEM's grid)"), optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            "FIT_LOADINGS", self.tr("Fit the loadings to this DEM (default: the paper's)"),
            defaultValue=False))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("PC1")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        library = self.library()
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        report = self.call(
            library.compute_pc1, self.raster_path(parameters, "DEM", context), out,
            like=self.raster_path(parameters, "LIKE", context, required=False),
            fit_loadings=self.parameterAsBoolean(parameters, "FIT_LOADINGS", context),
            feedback=feedback)
        loadings = ", ".join(f"{k} {v:.3f}" for k, v in report["loadings"].items())
        feedback.pushInfo(f"PC1 loadings: {loadings}")
        self.style_output(context, out, out, "pc1")
        return {"OUTPUT": out}


class BuildStack(FringewatchAlgorithm):
    GROUP = ("1 · Input layers", "layers")
    HELP = "the-layers-conventions-shareddocsmethodmd"

    def name(self):
        return "build_stack"

    def displayName(self):  # noqa: N802
        return self.tr("Build detector input stack")

    def shortHelpString(self):  # noqa: N802
        return self.tr("Three bands on the phase grid: wrapped phase, ISL, PC1 (METHOD.md §1).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "PHASE", self.tr("Wrapped phase (radians)")))
        self.addParameter(QgsProcessingParameterRasterLayer("ISL", self.tr("ISL")))
        self.addParameter(QgsProcessingParameterRasterLayer("PC1", self.tr("PC1")))
        self.addParameter(QgsProcessingParameterBoolean(
            "UINT16", self.tr("16-bit unsigned with scale/offset (the preprint's form)"),
            defaultValue=False))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Stack")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        library = self.library()
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        self.call(library.build_stack, self.raster_path(parameters, "PHASE", context),
                  self.raster_path(parameters, "ISL", context),
                  self.raster_path(parameters, "PC1", context), out,
                  uint16=self.parameterAsBoolean(parameters, "UINT16", context),
                  feedback=feedback)
        self.style_output(context, out, out, "phase")
        return {"OUTPUT": out}


class DetectFromStack(FringewatchAlgorithm):
    HELP = "detection-output"

    def name(self):
        return "detect_stack"

    def displayName(self):  # noqa: N802
        return self.tr("Detect landslides")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "YOLOv3 on a detector input stack (phase, ISL, PC1). Boxes are classified AR, CF, "
            "CS or FS (artifact, earthflow, earthslide, rockslide) and written as a layer of a "
            "GeoPackage: pick an existing GeoPackage to add the layer beside your inventory (its "
            "other layers are never touched). Each box has a review field (unreviewed / "
            "confirmed / rejected) for the expert's check.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "STACK", self.tr("Detector input stack")))
        DetectionParameters.add(self)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        library = self.library()
        read = DetectionParameters.read(self, parameters, context)
        with tempfile.TemporaryDirectory(prefix="fringewatch-area-") as folder:
            stack = clipped_to_area(self, parameters, "STACK", context, folder)
            detector = self.call(library.open_detector, read["model"], read["backend"])
            with detector:
                report_engine(detector, feedback)
                options = dict(read["options"])
                summary = self.call(detector.detect_stack, stack, read["path"],
                                    feedback=feedback, **options)
        return DetectionParameters.finish(self, summary, read, context, feedback)


class DetectFromInterferogram(FringewatchAlgorithm):
    HELP = "detection-output"

    def name(self):
        return "detect_interferogram"

    def displayName(self):  # noqa: N802
        return self.tr("Detect landslides from interferogram")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "End to end: ISL and PC1 from the coherence, DEM and acquisition geometry (the "
            "paper's defaults), then detection (see Detect landslides) on the phase, ISL and "
            "PC1 read a row of tiles at a time, with no stack written. ISL and PC1 go to a "
            "temporary folder beside the output and are removed.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "PHASE", self.tr("Wrapped phase (radians)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "COHERENCE", self.tr("Coherence [0, 1]")))
        self.addParameter(QgsProcessingParameterRasterLayer("DEM", self.tr("DEM (metres)")))
        add_geometry_parameters(self)
        DetectionParameters.add(self)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        library = self.library()
        read = DetectionParameters.read(self, parameters, context)
        incidence_raster, incidence_deg, heading = read_geometry(
            self, parameters, context, feedback)
        coherence = self.raster_path(parameters, "COHERENCE", context)
        dem = self.raster_path(parameters, "DEM", context)
        # the phase grid is the output grid: cutting the phase limits the whole chain
        with tempfile.TemporaryDirectory(prefix="fringewatch-area-") as folder:
            phase = clipped_to_area(self, parameters, "PHASE", context, folder)
            detector = self.call(library.open_detector, read["model"], read["backend"])
            with detector:
                report_engine(detector, feedback)
                summary = self.call(
                    detector.detect_interferogram, phase, coherence, dem, heading,
                    read["path"], incidence_raster=incidence_raster,
                    incidence_deg=incidence_deg, feedback=feedback, **read["options"])
        source = "from the phase's metadata" if summary["heading_from_data"] else "as chosen"
        feedback.pushInfo(f"Heading {summary['heading_deg']:.1f}° ({source})")
        for note in summary["notes"]:
            feedback.reportError(f"Warning: {note}", False)
        return DetectionParameters.finish(self, summary, read, context, feedback)


class OverlayInventory(FringewatchAlgorithm):
    GROUP = ("3 · Inventory and persistence", "inventory")
    HELP = "inventory-overlay"

    def name(self):
        return "overlay_inventory"

    def displayName(self):  # noqa: N802
        return self.tr("Overlay detections with a landslide inventory")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Each detection gains the ids (id_frana or FID) of the inventory polygons it "
            "overlaps, the best match's movement type (nome_tipo), the overlapped fraction, the "
            "distance to the nearest polygon and a status: mapped (overlaps a mapped "
            "landslide), near (within the given distance) or new (nothing mapped within it). "
            "The inventory is reprojected to the detections' CRS when they differ.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterVectorLayer(
            "DETECTIONS", self.tr("Detections"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "INVENTORY", self.tr("Landslide inventory"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterNumber(
            "NEW_DISTANCE", self.tr("Distance beyond which a detection is new (metres)"),
            QgsProcessingParameterNumber.Double, defaultValue=250.0, minValue=0.0))
        self.addParameter(advanced(QgsProcessingParameterString(
            "LAYER_NAME", self.tr("Layer name in the GeoPackage"),
            defaultValue="detections_overlay")))
        self.addParameter(QgsProcessingParameterBoolean(
            "OVERWRITE", self.tr("Replace a layer of the same name"), defaultValue=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", self.tr("Detections with inventory overlay"),
            QgsProcessing.TypeVectorPolygon))
        for status in OVERLAY_STATUSES:
            self.addOutput(QgsProcessingOutputNumber(
                status.upper(), self.tr(f"Number of {status} detections")))
        self.addOutput(QgsProcessingOutputNumber(
            "WITHOUT_GEOMETRY", self.tr("Number of detections without a geometry (left out)")))

    def _layer_source(self, parameters, name, context, feedback):
        path, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, name, context, ["gpkg", "shp", "geojson", "json", "fgb", "sqlite"],
            "gpkg", feedback)
        return path, layer or None

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        library = self.library()
        detections, detections_layer = self._layer_source(parameters, "DETECTIONS", context,
                                                          feedback)
        inventory, inventory_layer = self._layer_source(parameters, "INVENTORY", context,
                                                        feedback)
        destination = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        layer_name = self.parameterAsString(parameters, "LAYER_NAME", context)
        path, layer = parse_vector_destination(destination, layer_name or "detections_overlay")
        summary = self.call(
            library.overlay, detections, detections_layer, inventory, inventory_layer, path,
            layer, self.parameterAsDouble(parameters, "NEW_DISTANCE", context),
            self.parameterAsBoolean(parameters, "OVERWRITE", context), feedback=feedback)
        totals = {status: 0 for status in OVERLAY_STATUSES}
        for cls, counts in summary["counts"].items():
            feedback.pushInfo(f"{cls}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            for status, count in counts.items():
                totals[status] = totals.get(status, 0) + count
        without_geometry = summary.get("without_geometry", 0)
        if without_geometry:
            feedback.reportError(
                f"Warning: {without_geometry} of the detections have no geometry (NULL or "
                "empty) and are not in the output", False)
        uri = path if layer is None else f"{path}|layername={layer}"
        self.style_output(context, destination, uri, "overlay")
        return {"OUTPUT": uri, "WITHOUT_GEOMETRY": without_geometry,
                **{status.upper(): n for status, n in totals.items()}}


class PersistentAreas(FringewatchAlgorithm):
    GROUP = ("3 · Inventory and persistence", "inventory")
    HELP = "multi-temporal-persistence"

    def name(self):
        return "persistence"

    def displayName(self):  # noqa: N802
        return self.tr("Persistent areas across interferograms")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Clusters the detection layers of several interferograms (one layer each; any CRS, "
            "ascending and descending together) into areas: two boxes are one area when their "
            "IoU reaches the threshold or their centres lie within the distance. Each area "
            "tells in how many interferograms it appears out of those whose scene covers it, "
            "the first and last dates, the orbits, the class vote and the scores.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "DETECTIONS", self.tr("Detection layers (one per interferogram)"),
            QgsProcessing.TypeVectorPolygon))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            "IOU", self.tr("IoU for the same area"), QgsProcessingParameterNumber.Double,
            defaultValue=0.25, minValue=0.001, maxValue=1.0)))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            "DISTANCE", self.tr("Or centres within (metres)"),
            QgsProcessingParameterNumber.Double, defaultValue=150.0, minValue=0.0)))
        self.addParameter(advanced(QgsProcessingParameterString(
            "LAYER_NAME", self.tr("Layer name in the GeoPackage"), defaultValue="persistence")))
        self.addParameter(QgsProcessingParameterBoolean(
            "OVERWRITE", self.tr("Replace a layer of the same name"), defaultValue=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", self.tr("Persistent areas"), QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputNumber("AREAS", self.tr("Number of areas")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        library = self.library()
        layers = self.parameterAsLayerList(parameters, "DETECTIONS", context)
        if len(layers) < 2:
            raise QgsProcessingException(
                self.tr("Give the detection layers of at least two interferograms."))
        inputs = []
        for layer in layers:
            if layer.providerType() != "ogr":
                raise QgsProcessingException(
                    f"{layer.name()}: only file layers (GeoPackage, shapefile, GeoJSON) are "
                    "supported")
            inputs.append(source_path_and_layer(layer.source()))
        destination = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        layer_name = self.parameterAsString(parameters, "LAYER_NAME", context)
        path, layer = parse_vector_destination(destination, layer_name or "persistence")
        summary = self.call(
            library.persistence, inputs, path, layer,
            iou=self.parameterAsDouble(parameters, "IOU", context),
            distance=self.parameterAsDouble(parameters, "DISTANCE", context),
            overwrite=self.parameterAsBoolean(parameters, "OVERWRITE", context),
            feedback=feedback)
        feedback.pushInfo(
            f"{summary['detections']} detections of {summary['interferograms']} "
            f"interferograms → {summary['areas']} areas, {summary['persistent_areas']} seen "
            "in two or more")
        for label in summary["without_footprint"]:
            feedback.reportError(
                f"{label} records no scene footprint: it counts as covering every area")
        uri = path if layer is None else f"{path}|layername={layer}"
        # loaded as `uri`, not as the destination (an ogr:dbname destination did not load)
        self.style_output(context, destination, uri, "persistence")
        return {"OUTPUT": uri, "AREAS": summary["areas"]}


def report_engine(detector, feedback):
    """Tell which engine runs and why (e.g. no hardware GPU: tract on the CPU)."""
    for note in detector.info().get("engine_notes", []):
        feedback.pushInfo(note)


def orbit_choices(from_data):
    """The orbit choices of an algorithm: "From the data" only where a phase is an input."""
    return [o for o in ORBITS if from_data or o[0] != FROM_DATA]


def add_geometry_parameters(algorithm, from_data=True):
    """Incidence (raster or constant) and heading (from the data, a preset or custom). The
    heading is optional and used only with "Custom heading": the dialog enables its box only
    then (widgets.CustomHeadingWrapper); a heading given with another choice through the API
    is reported as ignored rather than silently used or silently dropped."""
    algorithm.addParameter(QgsProcessingParameterRasterLayer(
        "INCIDENCE", algorithm.tr("Incidence angle raster (degrees; empty: a constant angle)"),
        optional=True))
    algorithm.addParameter(QgsProcessingParameterNumber(
        "INCIDENCE_DEG", algorithm.tr("Constant incidence angle (degrees)"),
        QgsProcessingParameterNumber.Double, defaultValue=37.0, minValue=0.0, maxValue=89.0))
    algorithm.addParameter(QgsProcessingParameterEnum(
        "ORBIT", algorithm.tr("Orbit"), [o[0] for o in orbit_choices(from_data)],
        defaultValue=0))
    heading = QgsProcessingParameterNumber(
        "HEADING", algorithm.tr("Custom heading (degrees clockwise from north; only with "
                                "\"Custom heading\")"),
        QgsProcessingParameterNumber.Double, optional=True, minValue=-360.0, maxValue=360.0)
    try:  # the dialog's widget (processing.gui is there in QGIS, also for qgis_process)
        from .widgets import CustomHeadingWrapper
        heading.setMetadata({"widget_wrapper": {"class": CustomHeadingWrapper,
                                                "custom_choice": CUSTOM}})
    except ImportError:
        pass
    algorithm.addParameter(heading)


def read_geometry(algorithm, parameters, context, feedback, from_data=True):
    """(incidence raster or None, incidence degrees or NaN, heading degrees or NaN: from the
    data)."""
    incidence_raster = algorithm.raster_path(parameters, "INCIDENCE", context, required=False)
    incidence_deg = math.nan
    if incidence_raster is None:
        incidence_deg = algorithm.parameterAsDouble(parameters, "INCIDENCE_DEG", context)
    label, preset = orbit_choices(from_data)[
        algorithm.parameterAsEnum(parameters, "ORBIT", context)]
    custom = parameters.get("HEADING") not in (None, "")
    if preset is None:
        if not custom:
            raise QgsProcessingException(
                "Orbit is \"Custom heading\" but no custom heading is given: give it, or "
                "choose another orbit")
        return incidence_raster, incidence_deg, algorithm.parameterAsDouble(
            parameters, "HEADING", context)
    if custom:
        feedback.reportError(
            f"The custom heading is used only with \"Custom heading\"; ignored (orbit: "
            f"{label})", False)
    return incidence_raster, incidence_deg, preset


ALGORITHMS = [ComputeIsl, ComputePc1, BuildStack, DetectFromStack, DetectFromInterferogram,
              OverlayInventory, PersistentAreas]
