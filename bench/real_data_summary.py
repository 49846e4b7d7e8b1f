"""What the real data show: the numbers behind README's section of that name, computed from a store.

    emergence --db /tmp/full.duckdb ingest --offline
    python bench/real_data_summary.py /tmp/full.duckdb

Prints, from the store only (nothing typed in by hand): the paired-outputs sentence the Overview leads with,
the verdicts per false-discovery family and per metric class, every series called emergent, the
multiplication completions split by operand digits with their verdicts and detection leads, the other
same-output replications, and the simulator's verdicts at its defaults.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from emergence import api, mirage  # noqa: E402
from emergence.analysis.simulate import DEFAULTS, simulate, simulated_verdicts  # noqa: E402


def main(db: str) -> int:
    pd.set_option("display.width", 220)
    pd.set_option("display.max_colwidth", 70)
    pd.set_option("display.max_columns", 30)
    print("== the paired outputs (size axis: parameters)")
    print(api.headline(db=db).sentence)
    print()
    print(mirage.pair_verdicts(api.pairs(db=db)).head(15).to_string(index=False))
    s_all = api.get_store(db).series()
    print("\n== false-discovery families")
    print(mirage.fdr_families(s_all).to_string(index=False))
    print("\n== verdicts per metric class (parameters axis, series tested on it)")
    print(api.summary(db=db)["metric_class"].to_string(index=False))
    print("\n== every series called emergent (all axes, primary rows)")
    e = s_all[s_all["emergent"] & s_all["primary"]]
    print(e[["source", "task", "subtask", "metric", "source_metric", "family", "model", "variant", "prompt_variant",
             "scale_axis", "n_scales", "width_decades", "q_value"]].to_string(index=False))
    print("\n== multiplication completions by operand digits (InstructGPT)")
    by, v = api.multiplication_by_digits(db=db)
    print(by.to_string(index=False))
    print(v.drop(columns=["verdict_reason"]).to_string(index=False))
    for title, table in api.replications(db=db):
        print(f"\n== {title}")
        print(table.to_string(index=False))
    print("\n== the simulator at its defaults")
    sim = simulate(**{k: v for k, v in DEFAULTS.items()})
    print(simulated_verdicts(sim, DEFAULTS["n_examples"], DEFAULTS["n_choices"]).to_string(index=False))
    sim = simulate(**{**DEFAULTS, "n_examples": 100})
    print("-- n = 100")
    print(simulated_verdicts(sim, 100, DEFAULTS["n_choices"]).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "data/emergence.duckdb"))
