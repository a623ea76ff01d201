"""One model's figures per held-out family, with a 95 % interval from a bootstrap over scenes.

Usage: /usr/bin/python3 models/family_interval.py HELDOUT_DIR SCORES [RESAMPLES] [SEED]

SCORES is what models/score_heldout.sh wrote for one model on HELDOUT_DIR's families. For each
family: per-class mAP@0.5 and class-agnostic AP@0.5 (matched as `fringewatch evaluate` matches;
models/compare_heldout.py) on all its scenes, and the 2.5 and 97.5 percentiles over RESAMPLES
draws of its scenes with replacement (1000 by default). Two families' figures whose intervals
overlap widely are not told apart by their scenes; for two models on the same scenes the paired
comparison (compare_heldout.py) is much sharper. Simulated data only: never a real-world figure.
"""

import os
import sys

import numpy as np
from compare_heldout import scene_tables, scores_of


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    heldout, scores = sys.argv[1:3]
    resamples = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    rng = np.random.default_rng(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    print(f"{scores}; bootstrap over scenes, {resamples} draws")
    print("| family | scenes | mAP@0.5 per class [95 %] | AP@0.5 agnostic [95 %] |")
    print("|---|---|---|---|")
    for family in sorted(os.listdir(heldout)):
        if not os.path.isdir(os.path.join(heldout, family)):
            continue
        tables = scene_tables(scores, heldout, family)
        n = len(tables)
        if n == 0:
            continue
        full = scores_of(tables, np.arange(n))
        draws = np.array([scores_of(tables, rng.integers(0, n, n)) for _ in range(resamples)])
        lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
        cells = [f"{full[k]:.3f} [{lo[k]:.3f}, {hi[k]:.3f}]" for k in range(2)]
        print(f"| {family} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
