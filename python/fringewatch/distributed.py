"""Many interferogram products on a Dask cluster, into one GeoPackage.

Workers run one product per task (:func:`detect_product`) and write nothing shared: each hands
its boxes back to the client as JSON. The client is the single writer of the output GeoPackage,
through the same writer as ``fringewatch batch`` (the C ABI's ``fw_batch_plan`` and
``fw_batch_record``): one detection layer, the ``runs`` table, one SQLite transaction per pair,
and resume: a second call does only what is not done.

Failures:

- a product that cannot be used (not found, bad input, grids that do not fit) fails the same
  way on every worker, so it is recorded as ``failed`` with the library's message at once;
- anything else (an I/O error, a crash of the library, a worker that dies or is killed) is
  retried by Dask (``retries``; a lost worker's task is rescheduled by the scheduler, up to its
  ``distributed.scheduler.allowed-failures``), then recorded as ``failed``;
- a product already done, or listed twice, is recorded as ``skipped``: nothing is written twice.

Example (a local cluster of 2 worker processes)::

    from dask.distributed import Client, LocalCluster
    from fringewatch.distributed import detect_many

    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        outcomes = detect_many(["pairs/S1_A", "pairs/S1_B"], "italy.gpkg", client)

The command line does the same against a scheduler address (``fringewatch-dask --help``).
"""

import argparse
import csv
import json
import os
import sys
import threading
import time
import uuid

from . import native

BACKENDS = {
    "auto": native.FW_BACKEND_AUTO,
    "cpu": native.FW_BACKEND_CPU,
    "gpu": native.FW_BACKEND_GPU,
}

AUGMENTS = {
    "off": native.FW_AUGMENT_OFF,
    "sign": native.FW_AUGMENT_SIGN,
    "mirrors": native.FW_AUGMENT_MIRRORS,
    "sign-and-mirrors": native.FW_AUGMENT_SIGN_AND_MIRRORS,
}

# Errors that the same product gives on any worker: recorded as failed without a retry.
_DETERMINISTIC = {
    native.FW_INVALID_ARGUMENT,
    native.FW_NOT_FOUND,
    native.FW_BAD_INPUT,
    native.FW_INCOMPATIBLE,
}

_detectors = {}
_detectors_lock = threading.Lock()


def _detector(model, backend):
    """The worker process's detector for (model, backend), opened once, with its own lock
    (a detector serves one call at a time)."""
    key = (model, backend)
    with _detectors_lock:
        if key not in _detectors:
            library = native.load()
            detector = library.open_detector(model or native.bundled_model(), backend)
            _detectors[key] = (detector, threading.Lock())
        return _detectors[key]


def detect_product(product, model=None, backend="cpu", confidence=None, augment="off"):
    """The task of one product, run on a worker: its result as JSON text for
    :func:`record`. A product that cannot be used gives ``{"failed": message, "seconds": s}``;
    other errors are raised, for Dask to retry."""
    started = time.monotonic()
    detector, lock = _detector(model, BACKENDS[backend])
    try:
        with lock:
            return detector.detect_product(product, confidence=confidence,
                                           augment=AUGMENTS[augment])
    except native.FringewatchError as error:
        if error.status not in _DETERMINISTIC:
            raise
        return json.dumps({"failed": str(error), "seconds": time.monotonic() - started})


def failed_result(error):
    """The result text of a task that Dask gave up on (retries spent, worker lost)."""
    text = str(error) or type(error).__name__
    return json.dumps({"failed": f"{type(error).__name__}: {text}"})


def detect_many(products, out, client, layer="detections", model=None, backend="cpu",
                confidence=None, retries=2, on_outcome=None, augment="off"):
    """Detect every product folder of ``products`` on the workers of Dask ``client`` into
    detection layer ``layer`` and the ``runs`` table of GeoPackage ``out``, as ``fringewatch
    batch`` would; returns each product's outcome (``product``, ``interferogram``, ``status``
    done/failed/skipped, ``message``, ``detections``) in the order they were recorded.

    ``model`` is an ONNX file the workers can read (None: the bundled model); ``backend`` is
    ``"cpu"`` (tract), ``"gpu"`` or ``"auto"``; ``confidence`` None takes the model's
    recommended threshold; ``augment`` (``"off"``, ``"sign"``, ``"mirrors"`` or
    ``"sign-and-mirrors"``) the test-time augmentation, as ``fringewatch batch --augment``;
    ``retries`` is Dask's, for errors other than a bad product.
    ``on_outcome(outcome, recorded, total)`` is called after each record.
    """
    from dask.distributed import as_completed

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, not {augment!r}")
    library = native.load()
    products = [os.fspath(p) for p in products]
    model = os.path.abspath(model) if model else None
    plan = library.batch_plan(out, layer, products)
    outcomes = []

    def keep(outcome):
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome, len(outcomes), len(products))

    batch_id = uuid.uuid4().hex[:8]
    futures = {}
    for k, entry in enumerate(plan):
        if entry["done"]:
            keep(library.batch_record(out, layer, entry["product"], None))
            continue
        future = client.submit(
            detect_product, entry["product"], model, backend, confidence, augment,
            key=f"fringewatch-detect-{batch_id}-{k}", retries=retries, pure=False,
        )
        futures[future.key] = (future, entry["product"])
    for future in as_completed([f for f, _ in futures.values()]):
        product = futures[future.key][1]
        try:
            result = future.result()
        except Exception as error:  # noqa: BLE001 - retries spent or worker lost: recorded
            result = failed_result(error)
        keep(library.batch_record(out, layer, product, result))
        future.release()
    return outcomes


def manifest_products(path):
    """The product folders of a manifest CSV (a ``product`` column, paths relative to the
    CSV's folder), as ``fringewatch batch --manifest`` reads it."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
        if "product" not in columns:
            raise ValueError(f"{path}: no 'product' column in the header line")
        products = []
        for line, row in enumerate(reader, start=2):
            cell = (row.get(columns["product"]) or "").strip()
            if not cell:
                raise ValueError(f"{path}: line {line}: no product folder")
            products.append(os.path.join(base, cell))
    return products


def _arguments(argv):
    parser = argparse.ArgumentParser(
        prog="fringewatch-dask",
        description="Detect landslides in many interferogram products on a Dask cluster, into "
        "one GeoPackage (the detection layer and the 'runs' table, resumable).",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running Dask scheduler "
                       "(tcp://host:8786); without it a local cluster is started")
    where.add_argument("--workers", type=int, default=2,
                       help="worker processes of the local cluster (default 2)")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--products", nargs="+", help="product folders, one interferogram each")
    inputs.add_argument("--manifest", help="CSV with a 'product' column")
    parser.add_argument("--out", required=True, help="output GeoPackage (created, or continued)")
    parser.add_argument("--layer", default="detections", help="detection layer name")
    parser.add_argument("--model", help="ONNX model the workers can read (default: bundled)")
    parser.add_argument("--confidence", type=float,
                        help="least score of a reported box (default: the model's)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="cpu",
                        help="inference backend on the workers (default cpu)")
    parser.add_argument("--augment", choices=list(AUGMENTS), default="off",
                        help="test-time augmentation: average the network over symmetries of "
                        "each tile, at 2-8 times the inference (default off)")
    parser.add_argument("--retries", type=int, default=2,
                        help="Dask retries of a task that fails other than on bad input")
    parser.add_argument("--persistence", action="store_true",
                        help="afterwards, the persistent areas over every done interferogram "
                        "into layer <layer>_persistence (as fringewatch batch --persistence)")
    parser.add_argument("--quiet", action="store_true", help="no line per pair")
    return parser.parse_args(argv)


def main(argv=None):
    """``fringewatch-dask``: :func:`detect_many` from the command line."""
    args = _arguments(argv)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("error: Dask is not installed: pip install 'dask[distributed]'", file=sys.stderr)
        return 2
    try:
        products = args.products or manifest_products(args.manifest)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def report(outcome, recorded, total):
        if args.quiet and outcome["status"] != "failed":
            return
        what = outcome["message"] if outcome["status"] != "done" else (
            f"{outcome['detections']} detections")
        print(f"[{recorded}/{total}] {outcome['status']}: {outcome['product']}: {what}",
              file=sys.stderr, flush=True)

    cluster = None
    try:
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        with client:
            outcomes = detect_many(products, args.out, client, layer=args.layer,
                                   model=args.model, backend=args.backend,
                                   confidence=args.confidence, retries=args.retries,
                                   augment=args.augment,
                                   on_outcome=report)
        summary = (native.load().batch_persistence(args.out, args.layer)
                   if args.persistence else None)
    except (native.FringewatchError, native.LibraryNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            cluster.close()
    count = {s: sum(o["status"] == s for o in outcomes) for s in ("done", "failed", "skipped")}
    detections = sum(o["detections"] for o in outcomes)
    print(f"{len(outcomes)} pairs: {count['done']} done ({detections} detections), "
          f"{count['failed']} failed, {count['skipped']} skipped (done before) -> {args.out} "
          f"layer '{args.layer}', table 'runs'")
    if summary is not None:
        print(f"persistence: {summary['areas']} areas from {summary['detections']} detections "
              f"of {summary['interferograms']} interferograms, {summary['persistent_areas']} "
              f"seen in >= 2 -> layer '{summary['layer']}'")
    return 0


if __name__ == "__main__":
    # the importable module's main: tasks must name fringewatch.distributed.detect_product, since
    # a function of __main__ does not reach the workers
    from fringewatch.distributed import main as _main

    sys.exit(_main())
