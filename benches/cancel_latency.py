"""How fast a cancel stops an end-to-end run through the C ABI (a benchmark, not a test).

    cargo build --release
    python3 benches/cancel_latency.py [SIZE]    # default 2400 × 2400 simulated scene

Cancels `fw_detect_interferogram` at several moments (inside PC1's passes over the DEM,
detection, which makes ISL and PC1 as it reads them) and prints the time from the cancel
request to the call's return, and checks nothing was written.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "qgis_plugin"))
os.environ.setdefault("FRINGEWATCH_LIBRARY", os.path.join(root, "target/release/libfringewatch.so"))
os.environ.setdefault("FRINGEWATCH_MODEL_DIR", os.path.join(root, "models"))

from fringewatch import native  # noqa: E402


class Feedback:
    """Asks to cancel `delay` seconds after the start; records when the library saw it."""

    def __init__(self, delay):
        self.start = time.monotonic()
        self.delay = delay
        self.requested = None
        self.text = ""
        threading.Timer(delay, self.cancel).start()

    def cancel(self):
        self.requested = time.monotonic()

    def setProgress(self, value):  # noqa: N802 - QgsProcessingFeedback's name
        pass

    def setProgressText(self, text):  # noqa: N802
        self.text = text

    def isCanceled(self):  # noqa: N802
        return self.requested is not None


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 2400
    library = native.load()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([os.path.join(root, "target/release/fringewatch"), "--quiet", "simulate",
                        "--seed", "1", "--size", str(size), "--out", f"{tmp}/sim"], check=True)
        scene = f"{tmp}/sim/scene_0000"
        with open(f"{scene}/scene.json") as f:
            heading = json.load(f)["heading_deg"]
        out_dir = f"{tmp}/out"
        os.mkdir(out_dir)
        with library.open_detector(None) as detector:
            start = time.monotonic()
            detector.detect_interferogram(f"{scene}/phase.tif", f"{scene}/coherence.tif",
                                          f"{scene}/dem.tif", heading, f"{out_dir}/full.gpkg",
                                          incidence_raster=f"{scene}/incidence.tif")
            total = time.monotonic() - start
            os.remove(f"{out_dir}/full.gpkg")
            print(f"{size}×{size} scene, uncancelled run {total:.2f} s")
            print("cancel at (s) | step when cancelled | stop latency (s) | files left")
            worst = 0.0
            for fraction in [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95]:
                feedback = Feedback(fraction * total)
                try:
                    detector.detect_interferogram(
                        f"{scene}/phase.tif", f"{scene}/coherence.tif", f"{scene}/dem.tif",
                        heading, f"{out_dir}/d.gpkg", incidence_raster=f"{scene}/incidence.tif",
                        feedback=feedback)
                    print(f"{fraction * total:13.2f} | finished before the cancel")
                    continue
                except native.FringewatchError as error:
                    assert error.cancelled, error
                latency = time.monotonic() - feedback.requested
                worst = max(worst, latency)
                left = os.listdir(out_dir)
                print(f"{fraction * total:13.2f} | {feedback.text:18} | {latency:16.3f} | {left}")
            print(f"worst stop latency {worst:.3f} s")


if __name__ == "__main__":
    main()
