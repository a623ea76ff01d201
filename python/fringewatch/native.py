"""ctypes binding of the fringewatch C ABI (include/fringewatch.h).

One binding for every Python host: this file lives in the ``fringewatch`` Python package
(``python/``, pip-installable) and the QGIS plugin's ``native.py`` is a link to it, so that
``qgis_plugin/build.sh`` packs the same file into the plugin zip. It needs nothing but the
standard library (no QGIS, no Dask).

The native library is looked for, in order, at the path in the ``FRINGEWATCH_LIBRARY``
environment variable, then in ``lib/`` beside this file (where ``build.sh`` puts it in the
plugin zip and ``pip install ./python`` in the package). Every call returns a status; a
non-zero status raises :class:`FringewatchError` with the library's own message. Progress and
cancellation go through callbacks that the library calls from its worker threads.
"""

import ctypes
import json
import math
import os
import platform
import re
import threading

FW_OK = 0
FW_INVALID_ARGUMENT = 1
FW_NOT_FOUND = 2
FW_BAD_INPUT = 3
FW_INCOMPATIBLE = 4
FW_OUTPUT_ERROR = 5
FW_CANCELLED = 6
FW_IO_ERROR = 7
FW_INTERNAL = 8

FW_BACKEND_AUTO = 0
FW_BACKEND_CPU = 1
FW_BACKEND_GPU = 2

FW_AUGMENT_OFF = 0
FW_AUGMENT_SIGN = 1
FW_AUGMENT_MIRRORS = 2
FW_AUGMENT_SIGN_AND_MIRRORS = 3

PROGRESS_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)
CANCEL_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)


class _Sized(ctypes.Structure):
    """A struct of the header that starts with ``size``: set to this mirror's ``sizeof`` on
    creation, so that the library knows which version of the struct it is given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.size = ctypes.sizeof(self)


class FwCallbacks(_Sized):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("progress", PROGRESS_CALLBACK),
        ("cancel", CANCEL_CALLBACK),
        ("user_data", ctypes.c_void_p),
    ]


class FwDetectOptions(_Sized):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("confidence", ctypes.c_double),
        ("iou", ctypes.c_double),
        ("overlap", ctypes.c_uint32),
        ("overwrite", ctypes.c_bool),
        ("augment", ctypes.c_int32),
    ]


class FwRawLayers(_Sized):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("phase", ctypes.c_char_p),
        ("coherence", ctypes.c_char_p),
        ("dem", ctypes.c_char_p),
        ("incidence_raster", ctypes.c_char_p),
        ("incidence_deg", ctypes.c_double),
        ("heading_deg", ctypes.c_double),
    ]


class FringewatchError(Exception):
    """A call into the native library failed; ``status`` is the FW_* code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.cancelled = status == FW_CANCELLED


class LibraryNotFoundError(Exception):
    """The native library could not be found or loaded."""


def library_file_name():
    system = platform.system()
    if system == "Windows":
        return "fringewatch.dll"
    if system == "Darwin":
        return "libfringewatch.dylib"
    return "libfringewatch.so"


def library_candidates():
    """Where the library is looked for, in order."""
    candidates = []
    env = os.environ.get("FRINGEWATCH_LIBRARY")
    if env:
        candidates.append(env)
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.join(here, "lib", library_file_name()))
    return candidates


def bundled_model():
    """The model shipped in the plugin zip or the pip package (``models/``), or None (the
    library then looks in its own places)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "models", "fringewatch-default.onnx")
    return path if os.path.isfile(path) else None


_lock = threading.Lock()
_loaded = {}


def _encode(text):
    if text is None or text == "":
        return None
    return os.fspath(text).encode("utf-8")


def signatures():
    """Argument and result types of every function of the header, by name (checked against
    ``include/fringewatch.h`` by ``tests/python/ctypes_mirror.py``)."""
    c_char_pp = ctypes.POINTER(ctypes.c_char_p)
    c_void_pp = ctypes.POINTER(ctypes.c_void_p)
    string_out = ctypes.POINTER(ctypes.c_void_p)
    return {
        "fw_last_error": ([], ctypes.c_char_p),
        "fw_status_name": ([ctypes.c_int], ctypes.c_char_p),
        "fw_string_free": ([ctypes.c_void_p], None),
        "fw_version": ([c_char_pp], ctypes.c_int),
        "fw_build_info": ([string_out], ctypes.c_int),
        "fw_compute_isl": (
            [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double,
             ctypes.c_double, ctypes.c_char_p, ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_compute_pc1": (
            [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool,
             ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_build_stack": (
            [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
             ctypes.c_bool, ctypes.POINTER(FwCallbacks)],
            ctypes.c_int,
        ),
        "fw_detector_open": ([ctypes.c_char_p, ctypes.c_int, c_void_pp], ctypes.c_int),
        "fw_detector_info": ([ctypes.c_void_p, string_out], ctypes.c_int),
        "fw_detector_free": ([ctypes.c_void_p], None),
        "fw_detect_options_default": ([ctypes.POINTER(FwDetectOptions)], ctypes.c_int),
        "fw_detect_stack": (
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
             ctypes.POINTER(FwDetectOptions), ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_detect_interferogram": (
            [ctypes.c_void_p, ctypes.POINTER(FwRawLayers), ctypes.c_char_p,
             ctypes.c_char_p, ctypes.POINTER(FwDetectOptions),
             ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_overlay": (
            [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
             ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_bool,
             ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_persistence": (
            [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
             ctypes.c_size_t, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double,
             ctypes.c_double, ctypes.c_bool, ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_detect_product": (
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(FwDetectOptions),
             ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_batch_plan": (
            [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
             ctypes.c_size_t, string_out],
            ctypes.c_int,
        ),
        "fw_batch_persistence": (
            [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_double,
             ctypes.POINTER(FwCallbacks), string_out],
            ctypes.c_int,
        ),
        "fw_batch_record": (
            [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
             string_out],
            ctypes.c_int,
        ),
    }


class Library:
    """The loaded native library with typed functions."""

    def __init__(self, path):
        self.path = path
        self._lib = ctypes.CDLL(path)
        lib = self._lib
        for name, (argtypes, restype) in signatures().items():
            try:
                function = getattr(lib, name)
            except AttributeError as error:
                raise LibraryNotFoundError(
                    f"{path} is not a fringewatch library of this plugin's version "
                    f"(missing {name}); rebuild it with qgis_plugin/build.sh"
                ) from error
            function.argtypes = argtypes
            function.restype = restype

    # -- plumbing -------------------------------------------------------------------------

    def _check(self, status):
        if status != FW_OK:
            message = (self._lib.fw_last_error() or b"").decode("utf-8", "replace")
            name = self._lib.fw_status_name(status).decode()
            raise FringewatchError(status, message or name)

    def _take_string(self, pointer):
        if not pointer.value:
            return None
        try:
            return ctypes.string_at(pointer.value).decode("utf-8", "replace")
        finally:
            self._lib.fw_string_free(pointer.value)

    def _take_json(self, pointer):
        text = self._take_string(pointer)
        return json.loads(text) if text else None

    @staticmethod
    def _callbacks(feedback):
        """FwCallbacks wired to a QgsProcessingFeedback-like object (setProgress, setProgressText,
        isCanceled), or None. The ctypes function objects are kept on the struct."""
        if feedback is None:
            return None
        state = {"text": None}

        def on_progress(fraction, message, _user):
            try:
                feedback.setProgress(100.0 * fraction)
                text = message.decode("utf-8", "replace") if message else ""
                if text and text != state["text"]:
                    state["text"] = text
                    feedback.setProgressText(text)
            except Exception:  # noqa: BLE001 - never let an exception unwind into Rust
                pass

        def on_cancel(_user):
            try:
                return 1 if feedback.isCanceled() else 0
            except Exception:  # noqa: BLE001
                return 0

        callbacks = FwCallbacks(progress=PROGRESS_CALLBACK(on_progress),
                                cancel=CANCEL_CALLBACK(on_cancel), user_data=None)
        callbacks._keep = (on_progress, on_cancel)
        return callbacks

    @staticmethod
    def _ref(callbacks):
        return ctypes.byref(callbacks) if callbacks is not None else None

    # -- API ------------------------------------------------------------------------------

    def version(self):
        out = ctypes.c_char_p()
        self._check(self._lib.fw_version(ctypes.byref(out)))
        return out.value.decode()

    def build_info(self):
        out = ctypes.c_void_p()
        self._check(self._lib.fw_build_info(ctypes.byref(out)))
        return self._take_json(out)

    def compute_isl(self, dem, coherence, out, heading_deg, incidence_raster=None,
                    incidence_deg=math.nan, feedback=None):
        summary = ctypes.c_void_p()
        callbacks = self._callbacks(feedback)
        self._check(self._lib.fw_compute_isl(
            _encode(dem), _encode(coherence), _encode(incidence_raster), incidence_deg,
            heading_deg, _encode(out), self._ref(callbacks), ctypes.byref(summary)))
        return self._take_json(summary)

    def compute_pc1(self, dem, out, like=None, fit_loadings=False, feedback=None):
        report = ctypes.c_void_p()
        callbacks = self._callbacks(feedback)
        self._check(self._lib.fw_compute_pc1(
            _encode(dem), _encode(like), _encode(out), bool(fit_loadings),
            self._ref(callbacks), ctypes.byref(report)))
        return self._take_json(report)

    def build_stack(self, phase, isl, pc1, out, uint16=False, feedback=None):
        callbacks = self._callbacks(feedback)
        self._check(self._lib.fw_build_stack(
            _encode(phase), _encode(isl), _encode(pc1), _encode(out), bool(uint16),
            self._ref(callbacks)))

    def open_detector(self, model=None, backend=FW_BACKEND_AUTO):
        return Detector(self, model, backend)

    def overlay(self, detections, detections_layer, inventory, inventory_layer, out,
                out_layer, new_distance=250.0, overwrite=False, feedback=None):
        summary = ctypes.c_void_p()
        callbacks = self._callbacks(feedback)
        self._check(self._lib.fw_overlay(
            _encode(detections), _encode(detections_layer), _encode(inventory),
            _encode(inventory_layer), _encode(out), _encode(out_layer), float(new_distance),
            bool(overwrite), self._ref(callbacks), ctypes.byref(summary)))
        return self._take_json(summary)

    def persistence(self, inputs, out, out_layer, iou=0.25, distance=150.0, overwrite=False,
                    feedback=None):
        """Persistent areas of detection layers ``inputs`` = [(path, layer or None), ...]."""
        count = len(inputs)
        paths = (ctypes.c_char_p * count)(*[_encode(p) for p, _ in inputs])
        layers = (ctypes.c_char_p * count)(*[_encode(layer) for _, layer in inputs])
        summary = ctypes.c_void_p()
        callbacks = self._callbacks(feedback)
        self._check(self._lib.fw_persistence(
            paths, layers, count, _encode(out), _encode(out_layer), float(iou),
            float(distance), bool(overwrite), self._ref(callbacks), ctypes.byref(summary)))
        return self._take_json(summary)

    def batch_plan(self, out, layer, products):
        """Which of ``products`` (folders) are done in batch output ``out``:
        ``[{"product": ..., "done": bool}, ...]`` in their order."""
        count = len(products)
        paths = (ctypes.c_char_p * count)(*[_encode(p) for p in products])
        plan = ctypes.c_void_p()
        self._check(self._lib.fw_batch_plan(
            _encode(out), _encode(layer), paths, count, ctypes.byref(plan)))
        return self._take_json(plan)

    def batch_record(self, out, layer, product, result):
        """Record ``product``'s ``result`` in batch output ``out`` as ``batch`` does (its boxes
        and its ``runs`` row in one transaction): the JSON text :meth:`Detector.detect_product`
        gave, ``{"failed": message, "seconds": s}`` as text, or None for a product found done.
        Returns the outcome (``status`` done, failed or skipped)."""
        outcome = ctypes.c_void_p()
        self._check(self._lib.fw_batch_record(
            _encode(out), _encode(layer), _encode(product), _encode(result),
            ctypes.byref(outcome)))
        return self._take_json(outcome)

    def batch_persistence(self, out, layer, iou=0.25, distance=150.0, feedback=None):
        """Persistent areas over the done interferograms of batch output ``out`` into layer
        ``<layer>_persistence`` (replaced); returns the summary (``layer``, ``areas``...)."""
        summary = ctypes.c_void_p()
        callbacks = self._callbacks(feedback)
        self._check(self._lib.fw_batch_persistence(
            _encode(out), _encode(layer), float(iou), float(distance), self._ref(callbacks),
            ctypes.byref(summary)))
        return self._take_json(summary)


class Detector:
    """An opened model; free it with :meth:`close` (or use it as a context manager)."""

    def __init__(self, library, model, backend):
        self._library = library
        self._lib = library._lib
        self._handle = ctypes.c_void_p()
        library._check(self._lib.fw_detector_open(
            _encode(model), int(backend), ctypes.byref(self._handle)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._handle:
            self._lib.fw_detector_free(self._handle)
            self._handle = ctypes.c_void_p()

    def info(self):
        out = ctypes.c_void_p()
        self._library._check(self._lib.fw_detector_info(self._handle, ctypes.byref(out)))
        return self._library._take_json(out)

    def _options(self, confidence, iou, overlap, overwrite, augment=None):
        options = FwDetectOptions()
        self._library._check(self._lib.fw_detect_options_default(ctypes.byref(options)))
        if augment is not None:
            options.augment = int(augment)
        if confidence is not None:
            options.confidence = float(confidence)
        if iou is not None:
            options.iou = float(iou)
        if overlap is not None:
            options.overlap = int(overlap)
        options.overwrite = bool(overwrite)
        return options

    def detect_stack(self, stack, out, layer="detections", confidence=None, iou=None,
                     overlap=None, overwrite=False, feedback=None, augment=None):
        options = self._options(confidence, iou, overlap, overwrite, augment)
        callbacks = self._library._callbacks(feedback)
        summary = ctypes.c_void_p()
        self._library._check(self._lib.fw_detect_stack(
            self._handle, _encode(stack), _encode(out), _encode(layer), ctypes.byref(options),
            self._library._ref(callbacks), ctypes.byref(summary)))
        return self._library._take_json(summary)

    def detect_interferogram(self, phase, coherence, dem, heading_deg, out,
                             incidence_raster=None, incidence_deg=math.nan,
                             layer="detections", confidence=None, iou=None, overlap=None,
                             overwrite=False, feedback=None, augment=None):
        options = self._options(confidence, iou, overlap, overwrite, augment)
        raw = FwRawLayers(phase=_encode(phase), coherence=_encode(coherence), dem=_encode(dem),
                          incidence_raster=_encode(incidence_raster),
                          incidence_deg=float(incidence_deg),
                          heading_deg=math.nan if heading_deg is None else float(heading_deg))
        callbacks = self._library._callbacks(feedback)
        summary = ctypes.c_void_p()
        self._library._check(self._lib.fw_detect_interferogram(
            self._handle, ctypes.byref(raw), _encode(out), _encode(layer),
            ctypes.byref(options), self._library._ref(callbacks), ctypes.byref(summary)))
        return self._library._take_json(summary)


    def detect_product(self, product, confidence=None, iou=None, overlap=None, feedback=None,
                       augment=None):
        """Detect one product folder without writing anything shared; returns the result as
        JSON text for :meth:`Library.batch_record` (kept as text: its coordinates go back
        unchanged)."""
        options = self._options(confidence, iou, overlap, False, augment)
        callbacks = self._library._callbacks(feedback)
        result = ctypes.c_void_p()
        self._library._check(self._lib.fw_detect_product(
            self._handle, _encode(product), ctypes.byref(options),
            self._library._ref(callbacks), ctypes.byref(result)))
        return self._library._take_string(result)


# Shared libraries the native library links, by the name the loader reports, with what provides
# them on the systems QGIS runs on.
_DEPENDENCIES = {
    "libgdal": ("GDAL", "the GDAL your QGIS uses (Debian/Ubuntu: the libgdalNN package that "
                        "matches; conda: gdal)"),
    "libproj": ("PROJ", "the PROJ your QGIS uses (Debian/Ubuntu: libprojNN; conda: proj)"),
    "libvulkan": ("the Vulkan loader", "libvulkan1 (or set the backend to CPU)"),
}


def missing_dependency(message):
    """What to do when the dynamic loader's `message` says a library the native library links
    is missing (e.g. the zip was built against libgdal.so.32 and this QGIS has another GDAL), or
    None when the message is about something else."""
    for stem, (what, remedy) in _DEPENDENCIES.items():
        match = re.search(rf"({re.escape(stem)}[\w.\-]*\.so[\w.]*)", message)
        if match and "cannot open shared object file" in message:
            return (f"it was built against {what} {match.group(1)}, which this system does not "
                    f"have (the loader said: {message}). Install {remedy}, or build the library "
                    "against this system's libraries with qgis_plugin/build.sh (needs Rust: "
                    "https://rustup.rs).")
    return None


def load():
    """The native library (loaded once per path); raises LibraryNotFoundError saying where
    it looked."""
    errors = []
    for path in library_candidates():
        if not os.path.isfile(path):
            errors.append(f"{path}: no such file")
            continue
        with _lock:
            if path not in _loaded:
                try:
                    _loaded[path] = Library(path)
                except OSError as error:
                    missing = missing_dependency(str(error))
                    if missing is not None:
                        raise LibraryNotFoundError(
                            f"{path} was found but cannot be loaded: {missing}") from error
                    errors.append(f"{path}: {error}")
                    continue
            return _loaded[path]
    raise LibraryNotFoundError(
        "the fringewatch native library was not found ("
        + "; ".join(errors)
        + "). Install the plugin zip made by qgis_plugin/build.sh, or set FRINGEWATCH_LIBRARY "
        "to the path of " + library_file_name() + "."
    )
