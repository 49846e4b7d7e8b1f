"""Sample-until-pass records are ingestable (bring-your-own examples) and estimated with PassUntil."""
from __future__ import annotations

import numpy as np
import pytest

from emergence import api
from emergence.ingestion.ingest import ingest
from emergence.predictability.passuntil import passuntil_estimate


def test_until_pass_records_ingest_and_get_negative_binomial_intervals(tmp_path):
    rng = np.random.default_rng(7)
    sizes = {"m-100m": 1e8, "m-300m": 3e8, "m-1b": 1e9, "m-3b": 3e9}
    lines = ["model,n_params,instance,K,r"]
    for model, n in sizes.items():
        pu = np.exp(-40 * n ** -0.15)                  # a planted task law
        for i in range(20):
            k = int(rng.geometric(pu))                 # draws until the first pass
            lines.append(f"{model},{n:.0f},q{i},{k},1")
    path = tmp_path / "until_pass.csv"
    path.write_text("\n".join(lines) + "\n")
    mapping = {"name": "my-passuntil", "kind": "examples",
               "columns": {"model": "model", "params": "n_params", "example_id": "instance", "n_samples": "K",
                           "n_correct": "r"},
               "constants": {"task": "humaneval-like", "family": "toy"}}
    db = tmp_path / "s.duckdb"
    ingest([str(path)], db=db, mapping=mapping, online=False)

    inst = api.passuntil(source="my-passuntil", level="instance", design="until_pass", db=db)
    assert len(inst) == 80 and set(inst["design"]) == {"until_pass"}
    row = inst.iloc[0]
    ref = passuntil_estimate(int(row["n_samples"]), int(row["n_correct"]))
    # plain floats on both sides: pytest >= 9.1 refuses a 0-d numpy array inside an approx'd tuple
    got = tuple(float(row[c]) for c in ("pu", "lower", "upper"))
    assert got == pytest.approx(tuple(float(v) for v in (ref.estimate, ref.lower, ref.upper)))

    task = api.passuntil(source="my-passuntil", level="task", db=db)
    assert task["n_sizes"].tolist() == [4] and np.isfinite(task["pu_predicted"]).all()
