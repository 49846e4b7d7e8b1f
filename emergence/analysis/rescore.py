"""Re-scoring the same outputs under other metrics (Schaeffer et al. 2023, Sec. 3-4; METHODS.md Sec. 4).

Per-example outputs (the ``examples`` table, :data:`emergence.ingestion.schema.EXAMPLE_COLUMNS`) are
scored here under continuous and discontinuous metrics alike, so the emergence score of one
set of outputs can be compared across metrics.  Choices made (each tested in
``tests/test_rescore.py``):

- **Choice probabilities** are the softmax of the per-choice log-probabilities over that
  question's own choices (unnormalised log-probabilities are fine; NaN marks a missing
  choice in a padded array, ``-inf`` a choice of probability 0).
- **Multiple choice grade** is 1 only if the right choice's score is *strictly* greater
  than every other choice's: a tie counts as wrong.  lm-eval's ``np.argmax`` would credit
  a tie when the right choice is listed first; the strict rule does not depend on the order
  of the choices.  The two differ only on exact ties.  A question with a single choice
  scores 1.  From ``p_correct`` alone (no full distribution) the grade is defined only for
  two choices: ``p_correct > 0.5``.
- **Brier score** (multi-class) ``sum_k (p_k - 1[k = correct])^2`` lies in [0, 2]; the
  binary form ``(1 - p_correct)^2`` in [0, 1].  With two choices and only ``p_correct``
  known, the multi-class form is exact: ``2 (1 - p_correct)^2``.
- **Exact match** compares prediction and target after stripping leading and trailing
  whitespace only: case, inner spaces and punctuation count (``"2,880" != "2880"``),
  as in BIG-bench's ``exact_str_match`` on a stripped output.  Text metrics need both a
  prediction and a target: a NULL prediction is "no generated text" (e.g. a multiple-choice
  row), not an empty answer; parsers store an empty generation as ``''``.
- **Token edit distance** is the Levenshtein distance (``rapidfuzz.distance.Levenshtein``)
  between the tokenised prediction and target, with a pluggable tokeniser
  (:data:`TOKENISERS`): ``characters`` (every character of the stripped text), ``digits``
  (only the ASCII digits 0-9: the digits of the number, so ``"2,880"`` reads ``2880``) and
  ``whitespace`` (whitespace-separated words).
- **Pass rate** from repeated sampling is the mean over problems of ``n_correct / n_samples``
  (each problem weighs the same, the per-problem quantity of Hu et al. 2023 and Brown et al.
  2024), not ``sum c / sum n`` (which would weigh problems by samples drawn; equal when every
  problem has the same n).
- **Aggregates**: value = mean over the examples that carry what the metric needs;
  ``stderr = sd(ddof=1) / sqrt(n)`` (NaN for one example); ``n_examples`` = that count.
- **Two paths, one set of rows**: per-example tables in memory are re-scored here
  (:func:`aggregate_examples`).  Tables the ingest spills to Parquet -- the rule is *spilled =
  large*: BIG-bench's BIG-G full logs -- get their choice metrics (Brier, binary Brier, grade)
  from the SQL twin :meth:`emergence.store.Store.rescore_choices` over the whole spilled table, in
  bounded memory; their other metrics stay here, one log at a time.  Both paths hand their
  per-group numbers (:data:`GROUP_AGGREGATE_COLUMNS`) to :func:`observation_rows`, and this
  module is the SQL path's test oracle (``tests/test_store_rescore.py``, ``tests/test_src_bigbench.py``).

References
----------
Schaeffer, R., Miranda, B. & Koyejo, S. (2023). Are Emergent Abilities of Large Language
Models a Mirage? NeurIPS 2023, Sec. 3 (token edit distance, Brier score).
Brier, G. W. (1950). Verification of forecasts expressed in terms of probability.
Monthly Weather Review 78(1), eq. (1).
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
JASA 22(158).
Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap, Ch. 13 (percentile interval).
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist
from scipy import special

from emergence.analysis.intervals import WilsonInterval, wilson_interval
from emergence import keys as _keys
from emergence.analysis.metrics import metric_info
from emergence.ingestion.schema import OBSERVATION_COLUMNS, conform

__all__ = [
    "TOKENISERS",
    "EXAMPLE_GROUP_KEY",
    "RESCORED_PREFIX",
    "WilsonInterval",
    "pad_choices",
    "choice_probabilities",
    "brier_from_logprobs",
    "brier_binary",
    "multiple_choice_grade",
    "exact_match",
    "tokenise",
    "edit_distance",
    "wilson_interval",
    "bootstrap_interval",
    "aggregate_examples",
    "GROUP_AGGREGATE_COLUMNS",
    "observation_rows",
]

RESCORED_PREFIX = "rescored:"
#: One aggregate observation per group of examples with these values.
EXAMPLE_GROUP_KEY = list(_keys.EXAMPLE_GROUP_KEY)   # the one spelling is emergence.keys'; a list for its callers

_DIGITS = re.compile(r"[0-9]")

#: name -> tokeniser (text -> a sequence of hashable tokens; a string is a sequence of characters).
TOKENISERS: dict[str, Callable[[str], object]] = {
    "characters": lambda s: s.strip(),
    "digits": lambda s: "".join(_DIGITS.findall(s)),
    "whitespace": lambda s: s.split(),
}


# ----------------------------------------------------------------------------- probabilities
def pad_choices(values) -> np.ndarray:
    """A ragged collection of per-choice values -> a (questions, max choices) float array.

    Missing choices (shorter rows, a NULL row) are NaN.  A 2-D array is returned as float.
    """
    if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype != object:
        return values.astype(float)
    rows = list(values.tolist() if isinstance(values, (pd.Series, np.ndarray)) else values)
    lens = np.fromiter((len(r) if isinstance(r, (list, tuple, np.ndarray)) else 0 for r in rows),
                       dtype=np.int64, count=len(rows))
    K = int(lens.max()) if lens.size else 0
    out = np.full((len(rows), K), np.nan)
    if K == 0:
        return out
    nonempty = [np.asarray(r, dtype=float) for r, n in zip(rows, lens) if n]
    flat = np.concatenate(nonempty) if nonempty else np.zeros(0)
    qi = np.repeat(np.arange(len(rows)), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    ki = np.arange(lens.sum()) - np.repeat(starts, lens)
    out[qi, ki] = flat
    return out


def choice_probabilities(logprobs) -> np.ndarray:
    """Softmax of each question's log-probabilities over its own choices (NaN = no choice).

    ``p_k = exp(l_k - logsumexp(l))`` (stable); a question whose choices are all NaN or all
    ``-inf`` gives a row of NaN.
    """
    lp = pad_choices(logprobs)
    valid = ~np.isnan(lp)
    with np.errstate(invalid="ignore"):
        lse = special.logsumexp(np.where(valid, lp, -np.inf), axis=1, keepdims=True)
        p = np.exp(np.where(valid, lp, -np.inf) - lse)
    p[~valid] = np.nan
    p[~np.isfinite(lse[:, 0])] = np.nan
    return p


def _correct_index(correct_index, K_valid: np.ndarray) -> np.ndarray:
    c = pd.to_numeric(pd.Series(np.asarray(correct_index, dtype=object).ravel()), errors="coerce").to_numpy(float)
    if c.shape != K_valid.shape:
        raise ValueError(f"correct_index has {c.size} entries for {K_valid.size} questions")
    known = np.isfinite(c)
    bad = known & ((c < 0) | (c >= K_valid) | (c != np.round(c)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"question {i}: correct_index {c[i]:g} is not one of its {int(K_valid[i])} choices")
    return c


def brier_from_logprobs(logprobs, correct_index) -> np.ndarray:
    """Multi-class Brier score of each question from its per-choice log-probabilities.

    ``BS = sum_k (p_k - 1[k = correct])^2`` with ``p = softmax(logprobs)`` over the
    question's choices (Brier 1950, eq. 1; METHODS.md Sec. 4).  Range [0, 2], lower is better.

    Parameters
    ----------
    logprobs : array_like or sequence of sequences
        (questions, choices) log-probabilities; ragged rows or NaN padding for fewer choices.
    correct_index : array_like of int
        Index of the right choice per question (NaN/None: no score).

    Returns
    -------
    numpy.ndarray
        One score per question (NaN where the question has no choices or no correct index).

    Raises
    ------
    ValueError
        If a correct index is not one of the question's choices.

    Examples
    --------
    Two equally likely choices: (0.5 - 1)^2 + (0.5 - 0)^2 = 0.5.

    >>> float(brier_from_logprobs([[0.0, 0.0]], [0])[0])
    0.5
    """
    p = choice_probabilities(logprobs)
    K = (~np.isnan(p)).sum(axis=1)
    c = _correct_index(correct_index, K)
    ok = np.isfinite(c) & (K > 0)
    onehot = np.zeros_like(p)
    rows = np.flatnonzero(ok)
    onehot[rows, c[rows].astype(np.int64)] = 1.0
    bs = np.nansum((p - onehot) ** 2, axis=1)
    return np.where(ok, bs, np.nan)


def brier_binary(p_correct) -> np.ndarray:
    """Binary Brier score ``(1 - p_correct)^2`` in [0, 1] (NaN passes through).

    Raises
    ------
    ValueError
        If a probability lies outside [0, 1].
    """
    p = np.asarray(p_correct, dtype=float)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p_correct must lie in [0, 1]; got {float(p[(p < 0) | (p > 1)][0]):g}")
    return (1.0 - p) ** 2


def multiple_choice_grade(scores, correct_index) -> np.ndarray:
    """1.0 if the right choice's score is strictly the highest, else 0.0 (NaN: no score).

    ``scores`` may be log-probabilities or probabilities (any increasing transform gives
    the same grade).  Ties count as wrong (module docstring).
    """
    s = pad_choices(scores)
    K = (~np.isnan(s)).sum(axis=1)
    c = _correct_index(correct_index, K)
    ok = np.isfinite(c) & (K > 0)
    rows = np.flatnonzero(ok)
    right = np.full(len(s), np.nan)
    if rows.size:
        sc = s[rows]
        ci = c[rows].astype(np.int64)
        s_right = sc[np.arange(rows.size), ci]
        others = sc.copy()
        others[np.arange(rows.size), ci] = np.nan
        with np.errstate(invalid="ignore"):
            best_other = np.where(np.isnan(others).all(axis=1), -np.inf,
                                  np.nanmax(np.where(np.isnan(others), -np.inf, others), axis=1))
        right[rows] = (s_right > best_other).astype(float)
    return right


# ----------------------------------------------------------------------------- text
def _texts(values) -> pd.Series:
    """Texts as an Arrow-backed string Series (NULL stays NULL; other values become text)."""
    if isinstance(values, pd.Series):
        s = values.reset_index(drop=True)
    else:
        s = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    if s.dtype != "string[pyarrow]":
        s = s.astype(object).where(s.notna(), None).astype("string[pyarrow]")
    return s


def _both_texts(predictions, targets):
    p, t = _texts(predictions), _texts(targets)
    if len(p) != len(t):
        raise ValueError(f"{len(p)} predictions for {len(t)} targets")
    ok = (p.notna() & t.notna()).to_numpy(dtype=bool)
    return p, t, ok


def exact_match(predictions, targets) -> np.ndarray:
    """1.0 where the stripped prediction equals the stripped target (NaN where either is NULL).

    Only leading/trailing whitespace is removed (module docstring).

    Examples
    --------
    >>> exact_match([" 42\\n", "2,880", "abc"], ["42", "2880", "ABC"]).tolist()
    [1.0, 0.0, 0.0]
    """
    p, t, ok = _both_texts(predictions, targets)
    out = np.full(len(p), np.nan)
    if ok.any():
        out[ok] = (p[ok].str.strip() == t[ok].str.strip()).to_numpy(dtype=float)
    return out


def tokenise(text: str, tokenizer: str | Callable = "characters"):
    """Tokens of ``text`` under a named tokeniser of :data:`TOKENISERS` or a callable."""
    return _tokeniser(tokenizer)(text)


def _tokeniser(tokenizer: str | Callable) -> Callable:
    fn = TOKENISERS.get(tokenizer) if isinstance(tokenizer, str) else tokenizer
    if fn is None or not callable(fn):
        raise ValueError(f"unknown tokenizer {tokenizer!r}; known: {list(TOKENISERS)} or a callable")
    return fn


def _tokenise_many(s: pd.Series, tokenizer: str | Callable) -> list:
    """Tokenise many texts (an Arrow string Series); named tokenisers run vectorised in Arrow."""
    if isinstance(tokenizer, str) and tokenizer == "characters":
        return s.str.strip().tolist()
    if isinstance(tokenizer, str) and tokenizer == "digits":
        return s.str.replace(r"[^0-9]+", "", regex=True).tolist()
    if isinstance(tokenizer, str) and tokenizer == "whitespace":
        return s.str.split().tolist()
    fn = _tokeniser(tokenizer)
    return [fn(x) for x in s.tolist()]


def edit_distance(predictions, targets, tokenizer: str | Callable = "characters") -> np.ndarray:
    """Token edit distance (Levenshtein) between each tokenised prediction and its target.

    Schaeffer et al. 2023, Sec. 3: the token edit distance ~ L (1 - p) is linear in per-token
    error.  NaN where the prediction or the target is NULL.

    Examples
    --------
    ``"2,880"`` against ``"2880"``: 1 character inserted, 0 digits differ.

    >>> edit_distance(["2,880"], ["2880"]).tolist(), edit_distance(["2,880"], ["2880"], "digits").tolist()
    ([1.0], [0.0])
    """
    _tokeniser(tokenizer)
    p, t, ok = _both_texts(predictions, targets)
    out = np.full(len(p), np.nan)
    if ok.any():
        pt = _tokenise_many(p[ok], tokenizer)
        tt = _tokenise_many(t[ok], tokenizer)
        out[ok] = cpdist(pt, tt, scorer=Levenshtein.distance, processor=None, dtype=np.int64)
    return out


# ----------------------------------------------------------------------------- intervals
# wilson_interval / WilsonInterval: emergence.analysis.intervals (imported above, re-exported for callers of this module)


def bootstrap_interval(values, groups=None, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
                       max_chunk_elements: int = 20_000_000) -> pd.DataFrame:
    """Percentile bootstrap interval of the mean over examples, for many groups at once.

    Resamples the examples of each group with replacement (Efron & Tibshirani 1993, Ch. 13),
    vectorised: groups are processed in chunks of at most ``max_chunk_elements`` draws.

    Parameters
    ----------
    values : array_like
        Per-example values (NaN values are dropped first).
    groups : array_like, optional
        Group label of each value (one group if omitted).
    n_boot, confidence, seed : int, float, int
        Replicates, two-sided level, seed of the generator.

    Returns
    -------
    pandas.DataFrame
        One row per group (sorted): ``group``, ``n``, ``mean``, ``low``, ``high``.
    """
    v = np.asarray(values, dtype=float).ravel()
    g = np.zeros(v.size, dtype=np.int64) if groups is None else np.asarray(groups).ravel()
    if g.shape != v.shape:
        raise ValueError(f"{v.size} values for {g.size} group labels")
    keep = np.isfinite(v)
    v, g = v[keep], g[keep]
    codes, labels = pd.factorize(g, sort=True)
    order = np.argsort(codes, kind="stable")
    v = v[order]
    sizes = np.bincount(codes, minlength=len(labels))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    G = len(labels)
    lo = np.full(G, np.nan)
    hi = np.full(G, np.nan)
    mean = np.bincount(codes, weights=np.asarray(values, dtype=float).ravel()[keep], minlength=G) / np.maximum(sizes, 1)
    rng = np.random.default_rng(seed)
    a = (1 - confidence) / 2
    g0 = 0
    while g0 < G:
        # a chunk of whole groups whose draws fit the memory bound
        total = np.cumsum(sizes[g0:]) * n_boot
        g1 = g0 + max(1, int(np.searchsorted(total, max_chunk_elements, side="right")))
        sz = sizes[g0:g1]
        base = np.repeat(starts[g0:g1], sz)
        span = np.repeat(sz, sz)
        idx = base[None, :] + (rng.random((n_boot, sz.sum())) * span[None, :]).astype(np.int64)
        sums = np.add.reduceat(v[idx], np.concatenate([[0], np.cumsum(sz)[:-1]]), axis=1) if sz.sum() else \
            np.zeros((n_boot, 0))
        means = sums / sz[None, :]
        lo[g0:g1] = np.quantile(means, a, axis=0)
        hi[g0:g1] = np.quantile(means, 1 - a, axis=0)
        g0 = g1
    return pd.DataFrame({"group": labels, "n": sizes, "mean": mean, "low": lo, "high": hi})


# ----------------------------------------------------------------------------- aggregation
def _valid_lists(col: pd.Series) -> np.ndarray:
    return np.fromiter((isinstance(r, (list, tuple, np.ndarray)) and len(r) > 0 for r in col),
                       dtype=bool, count=len(col))


def _join_unique(codes: np.ndarray, text: pd.Series, n_groups: int) -> np.ndarray:
    """Per group: its distinct non-empty texts joined with '; ' (sorted)."""
    df = pd.DataFrame({"g": codes, "t": text.astype(object).where(text.notna(), "").astype(str).to_numpy()})
    df = df[df["t"] != ""].drop_duplicates()
    out = np.full(n_groups, None, dtype=object)
    if df.empty:
        return out
    joined = df.sort_values(["g", "t"]).groupby("g")["t"].agg("; ".join)
    out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def _pass_rate_noise(agg: pd.DataFrame, long: pd.DataFrame, metric_names: list[str], ns: np.ndarray):
    """Repeated sampling is c of n samples per problem, not one outcome per problem: the pass rate's
    noise is binomial per problem, ``se = sqrt(sum_i p_i (1 - p_i) / n_i) / P`` over the P problems,
    and its resolution 1 / (total samples), so ``n_examples`` is the total number of samples (Hu et
    al. 2023's premise: a rate of 1e-4 is measurable with 10,000 samples per problem, whatever the
    number of problems).  Sets ``agg['se']`` and ``agg['n_eff']`` on the pass-rate rows."""
    mv_pass = [i for i, m in enumerate(metric_names) if m.split("\x1f")[0] == "pass_rate"]
    agg["se"] = np.nan
    agg["n_eff"] = agg["n"].to_numpy(dtype=float)
    if not mv_pass:
        return
    lp = long[long["mv"].isin(mv_pass)]
    n_i = ns[lp["row"].to_numpy()]
    p_i = lp["value"].to_numpy()
    t = pd.DataFrame({"g": lp["g"].to_numpy(), "mv": lp["mv"].to_numpy(), "v": p_i * (1 - p_i) / n_i, "n": n_i})
    s = t.groupby(["g", "mv"]).agg(v=("v", "sum"), n=("n", "sum"), k=("v", "size"))
    idx = pd.MultiIndex.from_arrays([agg["g"].to_numpy(), agg["mv"].to_numpy()])
    s = s.reindex(idx)
    is_pass = agg["mv"].isin(mv_pass).to_numpy()
    agg.loc[is_pass, "se"] = (np.sqrt(s["v"]) / s["k"]).to_numpy()[is_pass]
    agg.loc[is_pass, "n_eff"] = s["n"].to_numpy()[is_pass]


def _paired_se(long: pd.DataFrame, ex: pd.DataFrame, keyframe: pd.DataFrame, gid: np.ndarray,
               agg: pd.DataFrame) -> np.ndarray:
    """Per aggregated row: the standard error of the mean per-example difference between this model
    and the smallest model of its series (same outputs group but the model; final checkpoints),
    over the examples both were scored on (``example_id``; a row without one is not paired),
    ``sd(d, ddof=1) / sqrt(n)``.  NaN for the
    smallest model itself, without example ids, or with fewer than 2 shared examples.  The
    detection scale tests a model against the smallest one with it (paired per example)."""
    out = np.full(len(agg), np.nan)
    if "example_id" not in ex.columns or ex["example_id"].isna().all():
        return out
    series_key = [k for k in EXAMPLE_GROUP_KEY if k not in ("model", "checkpoint_step")]
    cols = [keyframe[c].astype(object).where(keyframe[c].notna(), "").map(str).to_numpy() for c in series_key]
    sk = np.array(["\x1f".join(t) for t in zip(*cols)], dtype=object)
    params = pd.to_numeric(ex["params"], errors="coerce").to_numpy(dtype=float) if "params" in ex.columns \
        else np.full(len(ex), np.nan)
    step = pd.to_numeric(ex["checkpoint_step"], errors="coerce").to_numpy(dtype=float) \
        if "checkpoint_step" in ex.columns else np.full(len(ex), np.nan)
    rows = long["row"].to_numpy()
    d = pd.DataFrame({"g": long["g"].to_numpy(), "mv": long["mv"].to_numpy(), "v": long["value"].to_numpy(),
                      "s": sk[rows], "p": params[rows], "c": ~np.isfinite(step[rows]),
                      "e": ex["example_id"].astype(str).to_numpy()[rows]})
    d = d[np.isfinite(d["p"].to_numpy()) & d["c"].to_numpy() & ex["example_id"].notna().to_numpy()[rows]]
    if d.empty:
        return out
    smallest = d.groupby(["s", "mv"])["p"].transform("min").to_numpy() == d["p"].to_numpy()
    ref = d[smallest].drop_duplicates(["s", "mv", "e"])[["s", "mv", "e", "v"]].rename(columns={"v": "v0"})
    pairs = d[~smallest].merge(ref, on=["s", "mv", "e"], how="inner")
    if pairs.empty:
        return out
    pairs["diff"] = pairs["v"] - pairs["v0"]
    se = pairs.groupby(["g", "mv"])["diff"].agg(["std", "size"])
    se = (se["std"] / np.sqrt(se["size"])).where(se["size"] >= 2)
    idx = pd.MultiIndex.from_arrays([agg["g"].to_numpy(), agg["mv"].to_numpy()])
    return se.reindex(idx).to_numpy(dtype=float)


def aggregate_examples(examples: pd.DataFrame, *, n_boot: int = 0, confidence: float = 0.95,
                       seed: int = 0, from_logprobs: bool = True) -> pd.DataFrame:
    """Observation rows re-scored from per-example outputs (the ingest's hook).

    For each group of :data:`EXAMPLE_GROUP_KEY` (source, task, subtask, family, model,
    checkpoint_step, shots, prompt_variant), every metric its examples support:

    ============================  ======================================================
    examples carry                metrics (``source_metric`` = ``'rescored:<metric>'``)
    ============================  ======================================================
    ``choice_logprobs`` + index   ``brier_score`` (multi-class), ``brier_score_binary``,
                                  ``multiple_choice_grade`` (strict argmax)
    ``p_correct`` only            ``brier_score_binary``; with ``n_choices == 2`` also
                                  ``brier_score`` = 2 (1 - p)^2 and the grade ``p > 0.5``
    ``prediction`` + ``target``   ``exact_match``; ``edit_distance`` once per tokeniser,
                                  ``variant = 'tokens=<name>'``
    ``n_samples`` + ``n_correct`` ``pass_rate`` (mean of per-problem c / n)
    ``loss``                      ``neg_log_likelihood`` (mean loss, nats)
    ============================  ======================================================

    A row with ``choice_logprobs`` uses them (its ``p_correct`` is ignored).  value = mean
    over the group's examples that carry the inputs; ``stderr = sd(ddof=1)/sqrt(n)``;
    ``n_examples`` = that count; for the grade, ``random_baseline`` = mean of 1/choices.
    ``is_final``: the examples' own flag where given; else True without a checkpoint, and
    for checkpoints True only at the largest step of that (source, model).
    ``source_file`` / ``content_hash``: the group's distinct values joined with ``'; '``.

    Parameters
    ----------
    examples : pandas.DataFrame
        Rows of the examples table (missing optional columns are NULL).
    n_boot, confidence, seed : int, float, int
        With ``n_boot > 0``, also a percentile bootstrap interval of each value over its
        examples (:func:`bootstrap_interval`, Efron & Tibshirani 1993, Ch. 13): columns
        ``ci_low``, ``ci_high`` after the observation columns.  The ingest leaves it at 0
        (``stderr`` is stored); ``emergence rescore`` asks for it.
    from_logprobs : bool
        False leaves out the three metrics computed from ``choice_logprobs`` (rows with only
        ``p_correct`` are still scored).  The ingest passes False for examples it spills to
        Parquet (the large tables: BIG-G full logs), whose choice metrics come from the SQL twin,
        :meth:`emergence.store.Store.rescore_choices` with ``group_meta=True``, over the whole
        spilled table; both paths end in :func:`observation_rows`.

    Returns
    -------
    pandas.DataFrame
        Conformed observation rows (:data:`emergence.ingestion.schema.OBSERVATION_COLUMNS`),
        ``in_scoring`` True; empty when nothing can be re-scored.

    Raises
    ------
    ValueError
        On a correct index outside the choices, a probability outside [0, 1], or more
        correct samples than samples, naming the example's file and row.
    """
    ex = examples.reset_index(drop=True)
    if len(ex) == 0:
        return conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, "examples")
    X = _Examples(ex)
    keyframe = pd.DataFrame({k: X.col(k) for k in EXAMPLE_GROUP_KEY})
    for k in ("subtask", "prompt_variant"):
        keyframe[k] = keyframe[k].astype(object).where(keyframe[k].notna(), "")
    gid = keyframe.groupby(EXAMPLE_GROUP_KEY, sort=True, dropna=False).ngroup().to_numpy()
    baseline = np.full(X.n, np.nan)
    # one function per kind of input, in this order: (row ids, metric, variant, per-example values)
    parts: list[tuple[np.ndarray, str, str, np.ndarray]] = _choice_parts(X, baseline, from_logprobs)
    parts += _text_parts(X)
    sampling = _sampling_parts(X)
    parts += sampling
    parts += _loss_parts(X)
    if not parts:
        return conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, "examples")

    long = pd.DataFrame({
        "g": np.concatenate([gid[r] for r, _, _, _ in parts]),
        "mv": np.repeat(np.arange(len(parts)), [len(r) for r, _, _, _ in parts]),
        "value": np.concatenate([v for _, _, _, v in parts]),
        "base": np.concatenate([baseline[r] if m == "multiple_choice_grade" else np.full(len(r), np.nan)
                                for r, m, _, _ in parts]),
    })
    long["row"] = np.concatenate([r for r, _, _, _ in parts])
    long = long[np.isfinite(long["value"].to_numpy())]
    agg = long.groupby(["g", "mv"], sort=True).agg(value=("value", "mean"), sd=("value", "std"),
                                                   n=("value", "size"), base=("base", "mean")).reset_index()
    agg["paired_se"] = _paired_se(long, ex, keyframe, gid, agg)
    if sampling:
        _pass_rate_noise(agg, long, [f"{m}\x1f{v}" for _, m, v, _ in parts], X.num("n_samples"))
    out = observation_rows(_group_aggregates(X, keyframe, gid, agg, [(m, v) for _, m, v, _ in parts]))
    if n_boot > 0:
        key = long["g"].to_numpy() * len(parts) + long["mv"].to_numpy()
        ci = bootstrap_interval(long["value"].to_numpy(), key, n_boot=n_boot, confidence=confidence,
                                seed=seed).set_index("group")
        want = agg["g"].to_numpy() * len(parts) + agg["mv"].to_numpy()
        out["ci_low"] = ci["low"].reindex(want).to_numpy()
        out["ci_high"] = ci["high"].reindex(want).to_numpy()
    return out


class _Examples:
    """Column access on an examples frame whose optional columns may be absent (read as NULL)."""

    def __init__(self, ex: pd.DataFrame):
        self.ex, self.n = ex, len(ex)

    def col(self, name: str) -> pd.Series:
        return self.ex[name] if name in self.ex.columns else pd.Series([None] * self.n, dtype=object)

    def num(self, name: str) -> np.ndarray:
        return pd.to_numeric(self.col(name), errors="coerce").to_numpy(dtype=float)

    def where(self, i: int) -> str:
        return f"{self.col('source_file').iloc[i]} row {self.col('row_ref').iloc[i]}"


def _choice_parts(X: _Examples, baseline: np.ndarray, from_logprobs: bool = True) -> list:
    """Multiple choice: Brier score (multi-class and binary) and grade from ``choice_logprobs``
    (Brier 1950, Eq. 1; grade = strict argmax, as BIG-bench), else from ``p_correct`` alone (binary
    Brier; with two choices also the multi-class Brier ``2 (1 - p)^2`` and the grade ``p > 0.5``).
    Fills ``baseline`` (1 / choices) for the rows it grades."""
    parts = []
    lists = X.col("choice_logprobs")
    has_lp = _valid_lists(lists)
    ci = X.num("correct_index")
    n_choices = X.num("n_choices")
    p_correct = X.num("p_correct")
    if has_lp.any() and from_logprobs:
        rows = np.flatnonzero(has_lp & np.isfinite(ci))
        lp = pad_choices(lists.iloc[rows])
        K = (~np.isnan(lp)).sum(axis=1)
        bad = (ci[rows] < 0) | (ci[rows] >= K)
        if bad.any():
            i = int(rows[np.flatnonzero(bad)[0]])
            raise ValueError(f"{X.where(i)}: correct_index {ci[i]:g} is not one of its {int(K[bad][0])} choices")
        p = choice_probabilities(lp)
        pc = p[np.arange(rows.size), ci[rows].astype(np.int64)]
        parts.append((rows, "brier_score", "", brier_from_logprobs(lp, ci[rows])))
        parts.append((rows, "brier_score_binary", "", (1.0 - pc) ** 2))
        parts.append((rows, "multiple_choice_grade", "", multiple_choice_grade(lp, ci[rows])))
        baseline[rows] = 1.0 / K
    only_p = ~has_lp & np.isfinite(p_correct)
    if only_p.any():
        rows = np.flatnonzero(only_p)
        pc = p_correct[rows]
        if ((pc < 0) | (pc > 1)).any():
            i = int(rows[np.flatnonzero((pc < 0) | (pc > 1))[0]])
            raise ValueError(f"{X.where(i)}: p_correct {p_correct[i]:g} outside [0, 1]")
        parts.append((rows, "brier_score_binary", "", (1.0 - pc) ** 2))
        two = n_choices[rows] == 2
        if two.any():
            parts.append((rows[two], "brier_score", "", 2.0 * (1.0 - pc[two]) ** 2))
            parts.append((rows[two], "multiple_choice_grade", "", (pc[two] > 0.5).astype(float)))
            baseline[rows[two]] = 0.5
    return parts


def _text_parts(X: _Examples) -> list:
    """Generated text: exact match, and edit distance once per tokeniser (Schaeffer et al. 2023 Sec. 3)."""
    pred, targ = X.col("prediction"), X.col("target")
    txt = (pred.notna() & targ.notna()).to_numpy()
    if not txt.any():
        return []
    rows = np.flatnonzero(txt)
    pr = _texts(pred.iloc[rows])
    tg = _texts(targ.iloc[rows])
    return [(rows, "exact_match", "", exact_match(pr, tg))] + [
        (rows, "edit_distance", f"tokens={name}", edit_distance(pr, tg, name)) for name in TOKENISERS]


def _sampling_parts(X: _Examples) -> list:
    """Repeated sampling: the pass rate ``c / n`` per problem (Hu et al. 2023; Brown et al. 2024)."""
    ns, nc = X.num("n_samples"), X.num("n_correct")
    samp = np.isfinite(ns) & np.isfinite(nc) & (ns > 0)
    if not samp.any():
        return []
    rows = np.flatnonzero(samp)
    if (nc[rows] > ns[rows]).any() or (nc[rows] < 0).any():
        i = int(rows[np.flatnonzero((nc[rows] > ns[rows]) | (nc[rows] < 0))[0]])
        raise ValueError(f"{X.where(i)}: n_correct {nc[i]:g} not within 0..n_samples {ns[i]:g}")
    return [(rows, "pass_rate", "", nc[rows] / ns[rows])]


def _loss_parts(X: _Examples) -> list:
    """Per-example loss (nats): its mean is the negative log-likelihood."""
    loss = X.num("loss")
    ok = np.isfinite(loss)
    return [(np.flatnonzero(ok), "neg_log_likelihood", "", loss[ok])] if ok.any() else []


def _final_flags(X: _Examples) -> np.ndarray:
    """The examples' own ``is_final`` where given; else a final model, or the largest step of its
    (source, model)."""
    step = X.num("checkpoint_step")
    final = X.col("is_final").astype("boolean").to_numpy(dtype=object)
    max_step = pd.Series(step).groupby([X.col("source").astype(str).to_numpy(), X.col("model").astype(str).to_numpy()]) \
        .transform("max").to_numpy()
    inferred = ~np.isfinite(step) | (step == max_step)
    return np.where(pd.isna(final), inferred, final).astype(bool)


def _group_aggregates(X: _Examples, keyframe: pd.DataFrame, gid: np.ndarray, agg: pd.DataFrame,
                      metric_variants: list[tuple[str, str]]) -> pd.DataFrame:
    """The numpy path's :data:`GROUP_AGGREGATE_COLUMNS` frame: one row per (group, metric, variant) of ``agg``,
    the group's columns from its first example, ``source_file`` / ``content_hash`` over all its examples."""
    G = int(gid.max()) + 1
    g = agg["g"].to_numpy()
    first = pd.Series(np.arange(X.n)).groupby(gid).first().to_numpy()       # first example row of each group
    r = first[g]
    se = agg["sd"].to_numpy() / np.sqrt(agg["n"].to_numpy())
    if "se" in agg.columns:
        se = np.where(np.isfinite(agg["se"].to_numpy()), agg["se"].to_numpy(), se)
    out = {k: (keyframe[k] if k in ("subtask", "prompt_variant") else X.col(k)).to_numpy()[r]
           for k in EXAMPLE_GROUP_KEY}
    for k in ("params", "non_embedding_params", "tokens", "checkpoint_step", "shots"):
        out[k] = X.num(k)[r]
    out.update({
        "source_family": X.col("source_family").to_numpy()[r],
        "params_estimate": X.col("params_estimate").to_numpy()[r],
        "is_final": _final_flags(X)[r],
        "source_file": _join_unique(gid, X.col("source_file"), G)[g],
        "content_hash": _join_unique(gid, X.col("content_hash"), G)[g],
        "metric": np.array([m for m, _ in metric_variants], dtype=object)[agg["mv"]],
        "variant": np.array([v for _, v in metric_variants], dtype=object)[agg["mv"]],
        "value": agg["value"].to_numpy(),
        "stderr": se,
        "n_examples": agg["n"].to_numpy(),
        "n_samples": agg["n_eff"].to_numpy() if "n_eff" in agg.columns else np.full(len(agg), np.nan),
        "random_baseline": agg["base"].to_numpy(),
        "paired_se": agg["paired_se"].to_numpy(),
    })
    return pd.DataFrame(out)


#: What :func:`observation_rows` reads: one row per group of :data:`EXAMPLE_GROUP_KEY` and metric.  Both
#: re-scoring paths produce it: :func:`aggregate_examples` (numpy, in memory) and
#: :meth:`emergence.store.Store.rescore_choices` with ``group_meta=True`` (DuckDB, examples spilled to Parquet).
GROUP_AGGREGATE_COLUMNS = (
    *EXAMPLE_GROUP_KEY,
    "source_family", "params", "params_estimate", "non_embedding_params", "tokens",   # the group's first example
    "is_final",              # that example's own flag, else: no checkpoint, or the largest step of (source, model)
    "source_file", "content_hash",        # the group's distinct non-empty values, sorted, joined with '; '
    "metric", "variant",     # variant optional ('')
    "value", "stderr", "n_examples",      # mean, sd(ddof=1)/sqrt(n) (or the metric's own se), examples averaged
    "n_samples",             # optional: samples behind a pass rate (stored as n_examples)
    "random_baseline", "paired_se",
)


def observation_rows(groups: pd.DataFrame) -> pd.DataFrame:
    """Group aggregates (:data:`GROUP_AGGREGATE_COLUMNS`) -> conformed observation rows, ``in_scoring`` True.

    The one place both re-scoring paths turn their per-group numbers into stored rows, so the two
    cannot drift: ``source_metric`` = ``'rescored:<metric>'``, ``higher_is_better`` from the
    metric table, ``params_source`` "examples table" where a size is known, ``baseline_source``
    where a baseline is, ``value_scale`` "unit", ``n_examples`` = the samples of a pass rate else
    the examples, and ``row_ref`` saying which.  An empty frame gives no rows.
    """
    n = len(groups)
    if n == 0:
        return conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, "examples")
    g = groups.reset_index(drop=True)

    def num(c):
        return pd.to_numeric(g[c], errors="coerce").to_numpy(dtype=float) if c in g.columns else np.full(n, np.nan)

    metric = g["metric"].astype(object).to_numpy()
    variant = g["variant"].fillna("").to_numpy() if "variant" in g.columns else np.full(n, "", dtype=object)
    info = {m: metric_info(m) for m in set(metric)}
    k, s = num("n_examples"), num("n_samples")
    n_eff = np.where(np.isfinite(s), s, k)
    base = num("random_baseline")
    out = pd.DataFrame({
        **{c: g[c].to_numpy() for c in ("source", "task", "subtask", "family", "source_family", "model",
                                        "params_estimate", "prompt_variant")},
        "metric": metric,
        "source_metric": [RESCORED_PREFIX + m for m in metric],
        "higher_is_better": [info[m].higher_is_better for m in metric],
        "params": num("params"),
        "params_source": np.where(np.isfinite(num("params")), "examples table", None),
        "non_embedding_params": num("non_embedding_params"),
        "tokens": num("tokens"),
        "checkpoint_step": num("checkpoint_step"),
        "is_final": g["is_final"].astype(bool).to_numpy(),
        "shots": num("shots"),
        "variant": variant,
        "value": num("value"),
        "value_scale": "unit",
        "stderr": num("stderr"),
        "n_examples": n_eff,
        "random_baseline": base,
        "paired_se": num("paired_se"),
        "baseline_source": np.where(np.isfinite(base), "rescored: mean of 1 / number of choices", None),
        "source_file": g["source_file"].to_numpy(),
        "row_ref": [f"{int(a)} examples" if not np.isfinite(e) or e == a else f"{int(a)} problems, {int(e):,} samples"
                    for a, e in zip(k, n_eff)],
        "content_hash": g["content_hash"].to_numpy(),
        "in_scoring": True,
    })
    return conform(out, OBSERVATION_COLUMNS, str(out["source"].iloc[0]))
