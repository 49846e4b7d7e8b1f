"""Calibration of the emergent call: false-call and power tables, as recorded in BENCHMARKS.md.

    python bench/calibrate.py                 # 20 series per cell (about 3,900 series), markdown tables
    python bench/calibrate.py --per-cell 5    # a quick look

Simulates a store of mostly smooth series (lines, wide logistics, flat series, power-law losses and
their perplexities, the mirage model's exact match) and sharp ones (jumps between adjacent sizes), at
4-30 sizes, n from 100 to 10,000, with and without model-to-model scatter (emergence.analysis.calibrate), runs
the store's own verdict on all of them at once (one Benjamini-Hochberg family), and prints per kind
the share called emergent with its Wilson interval, and every target of the issue with whether it
holds.  Exit status 1 if a target fails.  `emergence calibrate` prints the same tables as text.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emergence.analysis import calibrate  # noqa: E402
from emergence.analysis.verdict import DEFAULT_N_BOOT, FDR_LEVEL, WIDTH_THRESHOLD  # noqa: E402


def md(df, floatfmt="{:.3f}") -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):      # itertuples keeps each column's type (iterrows would upcast)
        cells = []
        for v in r:
            if isinstance(v, float):
                cells.append(floatfmt.format(v))
            else:
                cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-cell", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT)
    args = ap.parse_args(argv)
    t0 = time.time()
    pts = calibrate.simulate_store(per_cell=args.per_cell, seed=args.seed)
    t1 = time.time()
    res = calibrate.run(pts, n_boot=args.n_boot)
    t2 = time.time()
    tb = calibrate.tables(res)
    print(f"{res['series'].nunique():,} simulated series ({len(pts):,} points), {args.per_cell} per cell, seed "
          f"{args.seed}; width threshold {WIDTH_THRESHOLD:g} decade, BH level {FDR_LEVEL:g}, B <= {args.n_boot}; "
          f"simulated in {t1 - t0:.0f} s, verdicts in {t2 - t1:.0f} s\n")
    print("### Targets\n")
    print(md(tb["targets"]))
    print("\n### Every state, per kind and scatter\n")
    print(md(tb["by_kind"]))
    print("\n### Called emergent, per kind and number of sizes\n")
    print(md(tb["by_size"][["truth", "kind", "k", "series", "n_emergent", "share_emergent", "ci_low", "ci_high",
                            "smooth", "insufficient", "no signal"]]))
    print("\n### Called emergent, per kind and test-set size n\n")
    print(md(tb["by_n"][["truth", "kind", "n", "series", "n_emergent", "share_emergent", "ci_low", "ci_high",
                         "smooth", "insufficient", "no signal"]]))
    t3 = time.time()
    b = calibrate.boundary(n_boot=args.n_boot)
    print(f"\n### At the null's boundary: a logistic exactly {WIDTH_THRESHOLD:g} decade wide, 13 sizes, n = 1,000, "
          f"p-values before the FDR step ({time.time() - t3:.0f} s)\n")
    print(md(b))
    return 0 if tb["targets"]["holds"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
