"""AP at IoU 0.5 per category and its mean, by pycocotools, for the evaluator test.

Input JSON: {"classes": n, "truths": [[image, class, x0, y0, x1, y1], ...],
             "predictions": [[image, class, x0, y0, x1, y1, score], ...]}
Output JSON: {"per_class": [AP or null, ...], "map50": value}
"""
import contextlib
import io
import json
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def main(path_in, path_out):
    with open(path_in) as f:
        data = json.load(f)
    images = sorted({t[0] for t in data["truths"]} | {p[0] for p in data["predictions"]})
    image_id = {name: i + 1 for i, name in enumerate(images)}
    annotations = []
    for k, (image, cls, x0, y0, x1, y1) in enumerate(data["truths"]):
        w, h = x1 - x0, y1 - y0
        annotations.append({"id": k + 1, "image_id": image_id[image], "category_id": cls + 1,
                            "bbox": [x0, y0, w, h], "area": w * h, "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"info": {}, "licenses": [], "images": [{"id": i} for i in image_id.values()],
                  "categories": [{"id": c + 1} for c in range(data["classes"])],
                  "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dets = gt.loadRes([{"image_id": image_id[image], "category_id": cls + 1,
                            "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score}
                           for image, cls, x0, y0, x1, y1, score in data["predictions"]])
        ev = COCOeval(gt, dets, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [10000]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, 0]  # [recall, class]
    per_class = []
    for c in range(data["classes"]):
        p = precision[:, c]
        per_class.append(None if (p < 0).all() else float(np.mean(p[p > -1])))
    valid = [a for a in per_class if a is not None]
    with open(path_out, "w") as f:
        json.dump({"per_class": per_class, "map50": float(np.mean(valid))}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
