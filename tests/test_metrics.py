"""The metric taxonomy is one table, and the module's own docstring agrees with it (Schaeffer et al. 2023, Sec. 2, 4)."""
from __future__ import annotations

import re

import pytest

from emergence.analysis import metrics
from emergence.analysis.metrics import CLASSES, METRICS, MetricInfo, canonical_metric, metric_class, taxonomy

# every metric the module docstring names, under the class it names it in
NAMED = {
    "discontinuous": {"Multiple choice grade": "multiple_choice_grade", "exact string match": "exact_match",
                      "any accuracy": "accuracy"},
    "nonlinear": {"pass@k": "pass_at_k", "repeated-sampling pass rate": "pass_rate", "F1": "f1", "MCC": "mcc"},
    "continuous": {"token edit distance": "edit_distance", "Brier": "brier_score", "log-likelihood": "log_likelihood",
                   "perplexity": "perplexity", "BLEU": "bleu", "ROUGE": "rouge", "BERTScore": "bertscore"},
}


def _docstring_bullets() -> dict[str, str]:
    """class -> the text of its bullet in the module docstring."""
    doc = metrics.__doc__
    out = {}
    for cls in NAMED:
        m = re.search(rf"- ``{cls}``:(.*?)(?=\n- ``|\n\n)", doc, re.S)
        assert m, f"the docstring has no bullet for {cls}"
        out[cls] = " ".join(m.group(1).split())
    return out


@pytest.mark.parametrize("cls", list(NAMED))
def test_the_docstring_names_each_metric_under_its_class_in_the_table(cls):
    text = _docstring_bullets()[cls]
    for phrase, metric in NAMED[cls].items():
        assert phrase in text, (cls, phrase)
        assert metric_class(metric) == cls, (metric, metric_class(metric), cls)


def test_exact_match_and_accuracy_are_one_class():
    """The old docstring called accuracy over a multi-token target nonlinear while the table said
    discontinuous: both are a threshold per example (Schaeffer et al. Sec. 4 counts them with the grade)."""
    assert {metric_class(m) for m in ("exact_match", "accuracy", "multiple_choice_grade")} == {"discontinuous"}


def test_every_metric_has_a_known_class_and_a_reason():
    t = taxonomy()
    assert set(t["metric_class"]) <= set(CLASSES)
    assert (t["reason"].str.len() > 10).all() and (t["class_definition"].str.len() > 10).all()
    assert len(t) == len(METRICS)


def test_an_unknown_class_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        MetricInfo("x", True, "sharp", "because")


@pytest.mark.parametrize("spelling, canonical", [("acc", "multiple_choice_grade"), ("EM", "exact_match"),
                                                 ("pass@1", "pass_at_k"), ("word_perplexity", "perplexity"),
                                                 ("something_new", "something_new")])
def test_canonical_names(spelling, canonical):
    assert canonical_metric(spelling) == canonical
    if canonical == "something_new":
        assert metric_class(canonical) == "unclassified"
