"""The [extract] / [normalise] rules (emergence.ingestion.sources._extract): tables of inputs and expected values.

The reference for ``first_number`` and ``first_json_object`` is ZeroEval's own procedure
(``../shared/data/zeroeval-results/reference/math_eval.py`` and ``eval_utils.py``), restated in
each expected value; on the real files tests/test_src_presets.py checks the accuracies they give
against ZeroEval's summary tables.
"""
from __future__ import annotations

import pytest

from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources._extract import (apply_rules, compile_normalisers, compile_rules, first_json_object,
                                        first_number, normalise, safe_arithmetic)


@pytest.mark.parametrize("text, expected", [
    ("3/4", 0.75), ("-(1+2)/4", -0.75), ("1_000/4", 250.0), ("2**10/4", 256.0), (" 7 / 2 ", 3.5), ("7//2", 3.0),
    ("1e3/4", 250.0), ("0x10/4", 4.0), ("5 % 3", 2.0),
    ("1/0", None),                      # eval raises: ZeroEval keeps the text
    ("abs(-3)/2", None), ("x/2", None), ("'3'/2", None), ("[1]/2", None), ("True/2", None), ("1j/2", None),
    ("9**9**9", None),                  # refused before it is computed
    ("10**400/3", None),                # beyond a float (eval would overflow too)
    ("(" * 150 + "1" + ")" * 150, None),  # longer than 200 characters
    ("3/4 cups", None), ("", None),
])
def test_safe_arithmetic(text, expected):
    assert safe_arithmetic(text) == expected


def test_safe_arithmetic_never_executes_text(tmp_path):
    marker = tmp_path / "ran"
    for text in (f"__import__('os').system('touch {marker}')/1", f"open('{marker}', 'w')/1",
                 f"(lambda: open('{marker}', 'w'))()/1", "().__class__.__bases__[0].__subclasses__()/1"):
        assert safe_arithmetic(text) is None
    assert not marker.exists()


@pytest.mark.parametrize("text, expected", [
    ("18", "18"), ("18.0", "18"), ("$1,234", "1234"), ("$ 5", "5"), ("3/4", "0.75"), ("-3/4", "-0.75"),
    ("1/3", "0.3333333333333333"), ("-0", "0"), ("12 apples", "12"), ("x = -2.50 m", "-2.5"),
    ("\\frac{1}{2}", "1"),             # LaTeX: no '/', the first number
    ("1e20/1", "1"),                   # str(float(1e20)) = '1e+20' and ZeroEval takes its first number, 1
    ("3/4 cup", "3"),                  # the fraction does not evaluate: first number of the text
    ("no number", None), ("", None),
])
def test_first_number(text, expected):
    assert first_number(text) == expected


@pytest.mark.parametrize("text, expected", [
    ('reasoning {"answer": "a{b}"} tail', {"answer": "a{b}"}),
    ('{"a": 1} {"answer": 2}', {"a": 1}),                        # the first complete object only
    ('{"answer": "x\n y"}', {"answer": "x y"}),                 # line breaks removed before parsing
    ('{"answer": "\\s"}', None),                                # invalid escape: does not parse
    ('} {"answer": 1', None),                                   # a stray '}' is ignored; never balanced
    ('{"answer": "a"} trailing }', {"answer": "a"}),
    ("no json", None),
])
def test_first_json_object(text, expected):
    assert first_json_object(text) == expected


@pytest.mark.parametrize("rules, text, model, expected", [
    (["json:answer"], '```json\n{"reasoning": "r", "answer": "18"}\n```', None, "18"),
    (["json:answer"], '{"answer": 18}', None, "18"),                   # a number: its JSON text
    (["json:answer"], '{"answer": [1, 2]}', None, "[1, 2]"),
    (["json:answer"], '{"answer": null}', None, None),                  # null: no match
    (["json:result.value"], '{"result": {"value": "x"}}', None, "x"),
    (["json:answer", r'"answer"\s*:\s*"([^"]*?)"'], 'broken {"answer": "7", }}', None, "7"),
    ([r"The answer is \(?([A-J])\)?"], "so The answer is (C).", None, "C"),
    ([r"(?P<value>\d+) apples"], "I have 12 apples", None, "12"),
    ([r"\d+"], "abc 42 def", None, "42"),                               # no group: the whole match
    ([r"answer:(x)?"], "answer:", None, None),                          # a group that took no part: no match
    ([r"answer:(\w*)"], "answer: ", None, ""),                          # an empty group: an empty value
    ([{"regex": r"boxed\{(\d+)\}", "models": "Llama-3.1"}], "\\boxed{36}", "Meta-Llama-3.1-8B", "36"),
    ([{"regex": r"boxed\{(\d+)\}", "models": "Llama-3.1"}], "\\boxed{36}", "gemma-2-2b-it", None),
    (["json:answer"], "nothing here", None, None),
])
def test_apply_rules(rules, text, model, expected):
    assert apply_rules(compile_rules(rules, "m.toml", "prediction"), text, model) == expected


def test_zeroeval_boxed_rule_needs_boxed_near_the_end():
    """The preset's Llama-3.1 rule: 'boxed' within the last 30 characters, then the first \\boxed{...}."""
    import tomllib
    from emergence.ingestion.sources.zeroeval import PRESET
    spec = tomllib.loads(PRESET.read_text())["extract"]["prediction"][-1]
    rules = compile_rules([spec], "zeroeval.toml", "prediction")
    assert apply_rules(rules, "so the result is $\\boxed{36}$.", "Meta-Llama-3.1-8B-Instruct") == "36"
    assert apply_rules(rules, "\\boxed{1} then \\boxed{2}", "Meta-Llama-3.1-8B-Instruct") == "1"
    assert apply_rules(rules, "\\boxed{36}" + " more words" * 5, "Meta-Llama-3.1-8B-Instruct") is None
    assert apply_rules(rules, "\\boxed{36}", "Qwen2.5-7B-Instruct") is None


@pytest.mark.parametrize("spec, value", [
    (["(unclosed"], "(unclosed"), ([{"regex": "a", "json": "b"}], None), ([{"regex": "a", "model": "x"}], None),
    ([], None), (["json:"], "json:"), ([3], 3),
])
def test_bad_rules_name_the_field(spec, value):
    with pytest.raises(IngestError) as e:
        compile_rules(spec, "m.toml", "prediction")
    assert e.value.file == "m.toml" and e.value.field == "extract.prediction"


@pytest.mark.parametrize("steps, value, row, expected", [
    ("choice_letter", "B", {}, "B"), ("choice_letter", " C ", {}, "C"), ("choice_letter", "(D) because", {}, "D"),
    ("choice_letter", "A) x, B) y", {}, "A"), ("choice_letter", "none", {}, "none"),
    ("choice_label:choices", "cat", {"choices": ["dog", "cat"]}, "B"),
    ("choice_label:choices", "cow", {"choices": ["dog", "cat"]}, None),
    (["strip:'\"", "escape_newlines"], "'a\nb'", {}, "a\\nb"),
    ("remove:#", "# 18", {}, " 18"), (["remove:#", "first_number"], "# 3/4", {}, "0.75"),
    ("lower", "ABC", {}, "abc"), ("first_number", "none", {}, None),
])
def test_normalisers(steps, value, row, expected):
    assert normalise(value, compile_normalisers(steps, "m.toml", "target"), row) == expected


@pytest.mark.parametrize("spec", ["first_digit", "strip", "choice_label", ["lower", 3], "first_number:x"])
def test_unknown_normaliser_is_an_error(spec):
    with pytest.raises(IngestError, match="normaliser") as e:
        compile_normalisers(spec, "m.toml", "target")
    assert e.value.field == "normalise.target"
