"""The README's "Bring your own" example runs as written, and the README lists every mappable field."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from emergence import cli
from emergence.ingestion.sources.byo import fields_for

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("### Bring your own"):README.index("## Methods, and the choices")]


def block(name: str, lang: str) -> str:
    m = re.search(rf"\*\*{re.escape(name)}\*\*\s*```{lang}\n(.*?)```", SECTION, re.S)
    assert m, f"no {lang} block under **{name}** in the README"
    return m.group(1)


def commands() -> list[list[str]]:
    text = re.search(r"```bash\n(.*?)```", SECTION, re.S).group(1)
    return [shlex.split(line.split("#")[0]) for line in text.splitlines() if line.strip()]


def test_the_per_example_example_runs_as_written(tmp_path, monkeypatch, capsys):
    (tmp_path / "outputs.json").write_text(block("outputs.json", "json"))
    (tmp_path / "mapping.toml").write_text(block("mapping.toml", "toml"))
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "s.duckdb")
    cmds = commands()
    assert [c[:2] for c in cmds] == [["emergence", "ingest"], ["emergence", "observations"], ["emergence", "issues"]]
    assert cli.main(cmds[0][1:] + ["--db", db]) == 0
    assert "my-evals" in capsys.readouterr().out
    assert cli.main(cmds[1][1:] + ["--db", db, "--csv", str(tmp_path / "o.csv")]) == 0
    obs = pd.read_csv(tmp_path / "o.csv").set_index("model")
    # what the README's comment says: 1/3, 2/3 and 1 for the three sizes, with the sizes of [sizes]
    assert obs["value"].to_dict() == pytest.approx({"my-lm-350m": 1 / 3, "my-lm-1.3b": 2 / 3, "my-lm-7b": 1.0})
    assert obs["params"].to_dict() == {"my-lm-350m": 3.5e8, "my-lm-1.3b": 1.3e9, "my-lm-7b": 7e9}
    assert cli.main(cmds[2][1:] + ["--db", db, "--csv", str(tmp_path / "i.csv")]) == 0
    issues = pd.read_csv(tmp_path / "i.csv")
    assert issues["kind"].tolist() == ["empty_prediction"]
    assert issues["detail"].iloc[0].startswith("model my-lm-350m: 1 of 3 rows with a target have no prediction")


def test_the_flags_only_variant_parses(tmp_path, monkeypatch):
    (tmp_path / "outputs.json").write_text(block("outputs.json", "json"))
    monkeypatch.chdir(tmp_path)
    m = re.search(r"The same without a TOML file: `(emergence ingest .*?)`", SECTION, re.S)
    args = shlex.split(m.group(1).replace("\n", " "))
    assert cli.main(args[1:] + ["--db", str(tmp_path / "s.duckdb")]) == 0


@pytest.mark.parametrize("kind", ["aggregate", "examples"])
def test_the_readme_lists_every_field(kind):
    head = f'Fields of `kind = "{kind}"`'
    table = SECTION[SECTION.index(head):]
    table = table[:table.index("\n\n", table.index("| --- |"))]
    listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert listed == list(fields_for(kind))
