"""Canonical metric names, their orientation and their class: one table (Schaeffer et al. 2023, Sec. 2 and 4).

Every source spells its metrics its own way; parsers map them onto this vocabulary with
:func:`canonical_metric` and keep the source's spelling in ``source_metric``.

The taxonomy is :data:`METRICS`, one row per metric with its class and the reason for it; the
classes themselves are defined once, in :data:`CLASSES` (Schaeffer, Miranda & Koyejo 2023, "Are
Emergent Abilities of Large Language Models a Mirage?", Sec. 2 and 4; METHODS.md Sec. 2):

- ``discontinuous``: a score that jumps as a threshold is crossed.  Multiple choice grade (the
  argmax moves) and exact string match (all L tokens right, or nothing: Sec. 2 shows it behaves
  like p^L, and Sec. 4 counts it with the grade as the metrics under which BIG-bench's emergent
  abilities appear), and any accuracy that scores an example 1 or 0;
- ``nonlinear``: smooth but strongly curved in per-token error: pass@k, the repeated-sampling
  pass rate, F1 / MCC over thresholded predictions;
- ``continuous``: linear or smooth in per-token error: token edit distance ~ L(1 - p), Brier
  score, log-likelihood, perplexity (analysed as its log), BLEU, ROUGE, BERTScore.

An unknown metric is ``unclassified``: never guessed.  :func:`taxonomy` lists the table, and a
test checks that every metric this docstring names sits in the class it is named under.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLASSES", "MetricInfo", "METRICS", "canonical_metric", "metric_info", "metric_class", "higher_is_better",
           "taxonomy", "THRESHOLDED", "CONTINUOUS"]

#: class -> what puts a metric in it (Schaeffer et al. 2023, Sec. 2 and 4).
CLASSES = {
    "discontinuous": "a threshold per example: the score jumps from 0 to 1 as the right answer's probability crosses "
                     "the others' (multiple choice grade) or as the last of L tokens comes right (exact match ~ p^L)",
    "nonlinear": "smooth in the per-token probability but strongly curved (pass@k = 1 - (1 - p)^k; F1 over "
                 "thresholded predictions)",
    "continuous": "linear or smooth in the per-token probability: gives partial credit (edit distance ~ L(1 - p), "
                  "Brier score, log-likelihood, BLEU, BERTScore)",
    "unclassified": "not in the taxonomy, or mixing thresholded and continuous parts: never guessed",
}
#: the classes Schaeffer et al. call out as producing sharp jumps, and the one that does not
THRESHOLDED = ("discontinuous", "nonlinear")
CONTINUOUS = ("continuous",)


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    metric_class: str      # discontinuous | nonlinear | continuous | unclassified
    reason: str
    proportion: bool = False   # a mean of 0/1 outcomes (binomial noise, Wilson intervals)

    def __post_init__(self):
        if self.metric_class not in CLASSES:
            raise ValueError(f"metric {self.name!r}: class {self.metric_class!r} is not one of {list(CLASSES)}")


METRICS: dict[str, MetricInfo] = {m.name: m for m in [
    MetricInfo("multiple_choice_grade", True, "discontinuous",
               "1 if the right choice has the highest score, else 0: a threshold on the choice probabilities",
               proportion=True),
    MetricInfo("accuracy", True, "discontinuous",
               "share of examples judged exactly right: a threshold per example", proportion=True),
    MetricInfo("accuracy_norm", True, "discontinuous",
               "multiple choice grade on length-normalised log-likelihoods: still an argmax threshold",
               proportion=True),
    MetricInfo("exact_match", True, "discontinuous",
               "1 only if the whole output string equals the target (~ p^L over L tokens)", proportion=True),
    MetricInfo("exact_match_f1", True, "nonlinear",
               "F1 over thresholded exact-match predictions (on-emergence: macro F1 over the chosen options): nonlinear in them"),
    MetricInfo("pass_at_k", True, "nonlinear",
               "probability that one of k samples passes: 1-(1-p)^k, nonlinear in the per-sample pass rate",
               proportion=True),
    MetricInfo("pass_rate", True, "nonlinear",
               "share of repeated samples that pass (the PassUntil quantity): smooth but nonlinear in per-token error",
               proportion=True),
    MetricInfo("brier_score", False, "continuous",
               "multi-class Brier score sum_k (p_k - y_k)^2 of the choice probabilities: smooth in them"),
    MetricInfo("brier_score_binary", False, "continuous",
               "binary Brier score (1 - p_correct)^2: smooth in the probability of the right choice"),
    MetricInfo("brier_score_target", False, "continuous",
               "target-conditioned Brier score as defined by the source: smooth in the choice probabilities"),
    MetricInfo("brier_score_bigbench", False, "continuous",
               "BIG-bench calibration_multiple_choice_brier_score: multi-class Brier score averaged over all "
               "(example, choice) pairs, stored positive, lower is better (bigbench 1.0.0 api/task_metrics.py)"),
    MetricInfo("expected_calibration_error", False, "unclassified",
               "binned |accuracy - confidence| (BIG-bench, 15 bins): mixes a thresholded accuracy with "
               "probabilities, so not classified"),
    MetricInfo("edit_distance", False, "continuous",
               "token edit distance to the target (~ L(1-p)): linear in per-token error"),
    MetricInfo("bleu", True, "continuous", "n-gram overlap: gives partial credit, smooth in per-token error"),
    MetricInfo("rouge", True, "continuous", "n-gram overlap: gives partial credit"),
    MetricInfo("bertscore", True, "continuous", "embedding similarity to the target: gives partial credit"),
    MetricInfo("bleurt", True, "continuous",
               "learned similarity to the reference (BLEURT): gives partial credit, smooth in the output"),
    MetricInfo("bertscore_accuracy", True, "discontinuous",
               "share of outputs whose BERTScore-closest choice is right: a threshold per example",
               proportion=True),
    MetricInfo("bertscore_f1", True, "nonlinear",
               "macro F1 over classes of the BERTScore-closest choice (on-emergence bert_score_f1): "
               "thresholded predictions, not the BERTScore similarity itself"),
    MetricInfo("log_likelihood", True, "continuous", "log-probability of the target: smooth in per-token probability"),
    MetricInfo("neg_log_likelihood", False, "continuous", "negative log-probability of the target (a loss)"),
    MetricInfo("perplexity", False, "continuous", "exp of the per-token loss: smooth in per-token probability"),
    MetricInfo("loss", False, "continuous", "cross-entropy loss: smooth in per-token probability"),
    MetricInfo("likelihood_difference", False, "continuous",
               "difference of log-likelihoods between paired sentences (crows-pairs)"),
    MetricInfo("pct_stereotype", False, "discontinuous",
               "share of pairs where the stereotyped sentence scores higher: a threshold per pair"),
    MetricInfo("f1", True, "nonlinear", "harmonic mean of precision and recall over thresholded predictions"),
    MetricInfo("mcc", True, "nonlinear", "Matthews correlation of thresholded predictions"),
    MetricInfo("centered_accuracy", True, "discontinuous",
               "accuracy rescaled so the random baseline is 0 (a linear map of a thresholded score)"),
    MetricInfo("normalized_true_probability", True, "continuous",
               "TruthfulQA MC2: probability mass on the true answers, normalised over all answers: smooth in them"),
    MetricInfo("score", True, "unclassified", "an aggregate score whose definition the source does not give"),
]}

# source spelling (lower case) -> canonical name.  Sources with their own vocabulary map
# explicitly in their parser and only fall back to this table.
_ALIASES = {
    "acc": "multiple_choice_grade",       # lm-eval multiple-choice acc == BIG-bench MCG (same definition)
    "acc_norm": "accuracy_norm",
    "multiple_choice_grade": "multiple_choice_grade",
    "mcg": "multiple_choice_grade",
    "exact_str_match": "exact_match",
    "exact_match": "exact_match",
    "em": "exact_match",
    "calibration_multiple_choice_brier_score": "brier_score_bigbench",
    "brier": "brier_score",
    "brier_score": "brier_score",
    "bleu": "bleu",
    "rouge1": "rouge", "rouge2": "rouge", "rougelsum": "rouge", "rougel": "rouge",
    "bleurt": "bleurt",
    "ppl": "perplexity",
    "perplexity": "perplexity",
    "word_perplexity": "perplexity",
    "byte_perplexity": "perplexity",
    "bits_per_byte": "loss",
    "log_likelihood": "log_likelihood",
    "log_likelihood_per_char": "log_likelihood",
    "edit_distance": "edit_distance",
    "f1": "f1",
    "mcc": "mcc",
    "likelihood_difference": "likelihood_difference",
    "pct_stereotype": "pct_stereotype",
    "accuracy": "accuracy",
    "pass@1": "pass_at_k",
}


def canonical_metric(source_metric: str) -> str:
    """Map a source's metric spelling onto the canonical vocabulary.

    Unknown spellings are returned unchanged (lower case) so that they show up as
    ``unclassified`` rather than being guessed into a class.
    """
    key = str(source_metric).strip().lower()
    return _ALIASES.get(key, key)


def metric_info(metric: str) -> MetricInfo:
    """The :class:`MetricInfo` of a canonical metric; unknown ones are unclassified."""
    info = METRICS.get(metric)
    if info is None:
        return MetricInfo(metric, True, "unclassified", "not in the taxonomy: not guessed")
    return info


def metric_class(metric: str) -> str:
    return metric_info(metric).metric_class


def higher_is_better(metric: str) -> bool:
    return metric_info(metric).higher_is_better


def taxonomy():
    """The table as a DataFrame: metric, class, the class's definition, the metric's reason,
    orientation and whether it is a proportion."""
    import pandas as pd
    return pd.DataFrame([{"metric": m.name, "metric_class": m.metric_class, "class_definition": CLASSES[m.metric_class],
                          "reason": m.reason, "higher_is_better": m.higher_is_better, "proportion": m.proportion}
                         for m in METRICS.values()])
