"""PassUntil (Hu et al. 2023) and fixed-n repeated sampling: per-instance pass rates, their
intervals, and the task scaling law ``log(-log PU) = log c - alpha log N``.

Two designs measure an instance's pass rate ``PU`` (probability that one sample passes):

Sample until pass (Hu et al. 2023, Sec. 3, "PassUntil")
    Draw samples until ``r`` of them pass (``r = 1`` or ``2``), ``K`` draws in all.
    ``PU_hat = r / K`` is the maximum-likelihood estimate; the failures ``K - r`` follow a
    negative binomial.  Interval (:func:`passuntil_estimate`): exact, from
    ``P(K <= k) = P(Binomial(k, p) >= r) = I_p(r, k - r + 1)`` (the regularised incomplete beta
    function), inverted as in Clopper-Pearson::

        lower = BetaPPF(a/2;     r, K - r + 1)       (P_lower(K <= K_obs) = a/2)
        upper = BetaPPF(1 - a/2; r, K - r)           (P_upper(K >= K_obs) = a/2; 1 if K = r)

    A run that hits the cap on ``K`` before ``r`` passes is censored: it is scored as the
    fixed-n design below with ``n = cap``.  Only valid where a random guess cannot pass.

Fixed-n repeated sampling (e.g. Brown et al. 2024 "Large Language Monkeys", as in
monkeys-powerlaws: 10,000 samples per problem)
    ``PU_hat = c / n`` with a Clopper-Pearson (default) or Wilson interval
    (:func:`binomial_estimate`).  ``c = 0`` is **censored**: it only says ``PU`` is below
    about ``3 / n`` (the upper end of the interval), never ``log(0)``.

How fits treat censored instances (the project's decisions)
    * **Task level** (Hu et al. Eq. 4 on the task mean): the task ``PU`` at one size is the mean
      of ``c_i / n_i`` over instances *including* the zeros as 0 -- each ``c_i / n_i`` is unbiased
      for ``PU_i`` even when ``c_i = 0``, so the mean is unbiased for the task's mean pass rate.
      The law is then fitted by least squares on ``(ln N, log(-log mean PU))`` over the training
      sizes (a size whose mean is exactly 0 or 1 is excluded and counted).
    * **Instance level**: per instance, the law is fitted by binomial maximum likelihood with the
      log-log link, ``c ~ Binomial(n, exp(-exp(log_c - alpha ln N)))`` (``method="binomial"``):
      a ``c = 0`` enters through its probability ``(1 - PU)^n`` -- the censored likelihood --
      not through ``log(0)``.  ``method="ols"`` instead fits Hu et al.'s straight line to
      ``log(-log(c/n))`` over the sizes with ``0 < c < n`` only (censored points excluded).
      Either way an instance needs passes at >= 2 training sizes (with fewer the maximum
      likelihood slope diverges); unfitted instances are counted and contribute 0 to the
      instance-level task prediction (the mean over instances of each instance's predicted
      ``PU``), which is therefore a lower-side estimate when many instances are unfitted.

Both designs share the fits: the negative-binomial likelihood of ``(K, r)`` is proportional
to the binomial one, ``p^r (1 - p)^(K - r)``, so :func:`fit_instance_law` and the task law apply
unchanged to sample-until-pass records (``n_samples = K``, ``n_correct = r``); only the
per-instance interval differs (:func:`instance_estimates`, ``design=``).  Note ``r / K`` is
biased upwards at small ``K`` (``(r - 1)/(K - 1)`` is the unbiased estimator for ``r >= 2``).

Input: a frame shaped like the project's examples table (``emergence.ingestion.schema.EXAMPLE_COLUMNS``):
``model, params, example_id, n_samples, n_correct`` and optionally ``task``, ``family`` (groups).

References
----------
Hu, S., et al. (2023). Predicting Emergent Abilities with Infinite Resolution Evaluation.
ICLR 2024. Sec. 3 (PassUntil), Eq. 4 (task scaling law), Sec. 5 (accelerated emergence).
Brown, B., et al. (2024). Large Language Monkeys: Scaling Inference Compute with Repeated Sampling.
Clopper, C. J., Pearson, E. S. (1934). Biometrika 26(4). Wilson, E. B. (1927). JASA 22(158).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, stats

from emergence.predictability.fits import FitError, LogLogFit, curvature_class
from emergence.analysis.intervals import clopper_pearson_interval, wilson_interval

__all__ = [
    "PUEstimate", "passuntil_estimate", "binomial_estimate", "pu_law", "sample_until_pass",
    "compare_designs", "instance_estimates", "task_pass_rates", "TaskMean", "until_pass_task_mean",
    "fit_instance_law", "instance_fits",
    "passuntil_predictions", "REQUIRED_COLUMNS",
]

REQUIRED_COLUMNS = ("model", "params", "example_id", "n_samples", "n_correct")


class PUEstimate(NamedTuple):
    """Point estimate and interval of pass rates (arrays of one shape)."""

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    censored: np.ndarray     # True where no sample passed: only an upper bound is informative


def _alpha(confidence):
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    return 1 - confidence


def _counts(name, v):
    a = np.asarray(v, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a != np.round(a)):
        raise ValueError(f"{name} must be whole numbers >= 0; got {np.asarray(v).ravel()[:10].tolist()}")
    return a


def passuntil_estimate(K, r, confidence: float = 0.95) -> PUEstimate:
    """PassUntil estimate ``PU = r / K`` with its exact negative-binomial interval.

    Parameters
    ----------
    K : array_like of int
        Samples drawn until the ``r``-th pass (the ``r``-th pass included), ``K >= r``.
    r : array_like of int
        Passes required, ``>= 1``.
    confidence : float
        Two-sided level.

    Returns
    -------
    PUEstimate
        ``estimate = r / K`` (maximum likelihood, Hu et al. 2023 Sec. 3); ``lower`` =
        ``BetaPPF(a/2; r, K-r+1)``, ``upper`` = ``BetaPPF(1-a/2; r, K-r)`` (1 when ``K = r``),
        from ``P(K <= k) = I_p(r, k-r+1)``; ``censored`` all False.

    Examples
    --------
    >>> e = passuntil_estimate(100, 1)
    >>> float(e.estimate[()]), round(float(e.lower[()]), 6), round(float(e.upper[()]), 5)
    (0.01, 0.000253, 0.03658)
    """
    a = _alpha(confidence)
    K, r = np.broadcast_arrays(_counts("K", K), _counts("r", r))
    if np.any(r < 1) or np.any(K < r):
        raise ValueError(f"need r >= 1 and K >= r; got K={K.ravel()[:10].tolist()}, r={r.ravel()[:10].tolist()}")
    est = r / K
    lower = stats.beta.ppf(a / 2, r, K - r + 1)
    with np.errstate(invalid="ignore"):
        upper = np.where(K > r, stats.beta.ppf(1 - a / 2, r, np.maximum(K - r, 1)), 1.0)
    return PUEstimate(est, lower, upper, np.zeros(est.shape, dtype=bool))


def binomial_estimate(n_correct, n_samples, confidence: float = 0.95, method: str = "clopper-pearson") -> PUEstimate:
    """Fixed-n design: ``PU = c / n`` with a binomial interval.

    Parameters
    ----------
    n_correct, n_samples : array_like of int
        Passes ``c`` out of ``n`` samples (``0 <= c <= n``, ``n >= 1``).
    confidence : float
        Two-sided level.
    method : {"clopper-pearson", "wilson"}
        Exact Clopper-Pearson (default; at ``c = 0`` the upper bound is
        ``1 - (a/2)^(1/n)``, about ``3.7 / n`` at 95 %) or the Wilson score interval.

    Returns
    -------
    PUEstimate
        ``censored`` is True where ``c = 0``.

    Examples
    --------
    >>> e = binomial_estimate(0, 10_000)
    >>> float(e.estimate[()]), round(float(e.upper[()]) * 10_000, 2)
    (0.0, 3.69)
    """
    _alpha(confidence)   # refuses a level outside (0, 1) before the counts are read
    c, n = np.broadcast_arrays(_counts("n_correct", n_correct), _counts("n_samples", n_samples))
    if np.any(n < 1) or np.any(c > n):
        raise ValueError(f"need n >= 1 and 0 <= c <= n; got c={c.ravel()[:10].tolist()}, n={n.ravel()[:10].tolist()}")
    est = c / n
    if method == "clopper-pearson":
        lower, upper = clopper_pearson_interval(c, n, confidence)
    elif method == "wilson":
        lower, upper = wilson_interval(c, n, confidence)
    else:
        raise ValueError(f"method must be 'clopper-pearson' or 'wilson'; got {method!r}")
    return PUEstimate(est, lower, upper, c == 0)


def pu_law(N, log_c: float, alpha: float) -> np.ndarray:
    """``PU(N) = exp(-c N^(-alpha))`` with ``c = exp(log_c)`` (Hu et al. 2023, Eq. 4)."""
    return np.exp(-np.exp(log_c - alpha * np.log(np.asarray(N, dtype=float))))


def sample_until_pass(pu, r: int = 1, cap: int = 100_000, seed=None, confidence: float = 0.95) -> pd.DataFrame:
    """Simulate PassUntil on instances with true pass rates ``pu``, ``K`` capped at ``cap``.

    ``K - r ~ NegativeBinomial(r, pu)``; when ``K`` would exceed ``cap`` the run stops at
    ``cap`` draws with ``passes < r`` (drawn from ``Binomial(cap, pu)`` conditioned on
    ``< r``) and ``reached = False``; such a run is scored as a fixed-n record.

    Returns
    -------
    DataFrame with ``pu, K, passes, reached, estimate, lower, upper, censored``.
    """
    pu = np.atleast_1d(np.asarray(pu, dtype=float))
    if np.any(~np.isfinite(pu)) or np.any(pu < 0) or np.any(pu > 1):
        raise ValueError(f"pu must be in [0, 1]; got {pu[:10].tolist()}")
    if not (isinstance(r, (int, np.integer)) and r >= 1) or not (isinstance(cap, (int, np.integer)) and cap >= r):
        raise ValueError(f"need integer r >= 1 and cap >= r; got r={r!r}, cap={cap!r}")
    rng = np.random.default_rng(seed)
    safe = np.where(pu > 0, pu, 1.0)
    K = np.where(pu > 0, r + rng.negative_binomial(r, safe), np.iinfo(np.int64).max).astype(np.int64)
    reached = K <= cap
    passes = np.full(pu.shape, r, dtype=np.int64)
    for i in np.flatnonzero(~reached):
        j = np.arange(r)
        w = stats.binom.pmf(j, cap, pu[i])
        passes[i] = rng.choice(j, p=w / w.sum()) if w.sum() > 0 else 0
    K = np.where(reached, K, cap)
    est = np.empty(pu.shape)
    lo, hi = np.empty(pu.shape), np.empty(pu.shape)
    if reached.any():
        e = passuntil_estimate(K[reached], passes[reached], confidence)
        est[reached], lo[reached], hi[reached] = e.estimate, e.lower, e.upper
    if (~reached).any():
        e = binomial_estimate(passes[~reached], K[~reached], confidence)
        est[~reached], lo[~reached], hi[~reached] = e.estimate, e.lower, e.upper
    return pd.DataFrame({"pu": pu, "K": K, "passes": passes, "reached": reached, "estimate": est,
                         "lower": lo, "upper": hi, "censored": passes == 0})


def compare_designs(pu, n_fixed: int = 100, r: int = 1, cap: int = 100_000, seed=None,
                    confidence: float = 0.95) -> pd.DataFrame:
    """Fixed-n accuracy vs PassUntil on the same true pass rates (Hu et al. 2023, Fig. 1).

    With ``n_fixed`` samples an instance whose ``PU << 1 / n_fixed`` almost always reads 0
    (``fixed_reads_zero``) while PassUntil still returns a finite estimate (until the cap).

    Returns
    -------
    DataFrame with ``pu``, ``fixed_correct``, ``fixed_estimate``, ``fixed_upper``,
    ``fixed_reads_zero`` and the PassUntil columns of :func:`sample_until_pass`
    (``K, passes, reached, estimate, lower, upper, censored``).
    """
    pu = np.atleast_1d(np.asarray(pu, dtype=float))
    rng = np.random.default_rng(seed)
    c = rng.binomial(int(n_fixed), pu)
    f = binomial_estimate(c, int(n_fixed), confidence)
    until = sample_until_pass(pu, r=r, cap=cap, seed=rng, confidence=confidence)
    out = pd.DataFrame({"pu": pu, "fixed_n": int(n_fixed), "fixed_correct": c, "fixed_estimate": f.estimate,
                        "fixed_upper": f.upper, "fixed_reads_zero": c == 0})
    return pd.concat([out, until.drop(columns="pu")], axis=1)


# ---- the examples table ---------------------------------------------------------------------
def _group_cols(df):
    return [c for c in ("task", "family") if c in df.columns]


def _prepare(examples: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    missing = [c for c in REQUIRED_COLUMNS if c not in examples.columns]
    if missing:
        raise ValueError(f"examples lack column(s) {missing}; got {list(examples.columns)}")
    df = examples.copy()
    for c in ("params", "n_samples", "n_correct"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    usable = df["params"].notna() & (df["params"] > 0) & df["n_samples"].notna() & (df["n_samples"] > 0) \
        & df["n_correct"].notna()
    bad = usable & ((df["n_correct"] < 0) | (df["n_correct"] > df["n_samples"]))
    if bad.any():
        row = df[bad].iloc[0]
        raise ValueError(f"n_correct must be in [0, n_samples]; got n_correct={row['n_correct']}, "
                         f"n_samples={row['n_samples']} (model {row['model']!r}, example {row['example_id']!r})")
    n_skipped = int((~usable).sum())
    df = df[usable]
    for c in _group_cols(df):
        df[c] = df[c].fillna("")
    df["example_id"] = df["example_id"].astype(str)
    return df, n_skipped


def instance_estimates(examples: pd.DataFrame, design: str = "fixed_n", confidence: float = 0.95,
                       method: str = "clopper-pearson") -> pd.DataFrame:
    """Per instance and model: ``n_samples`` (``n`` or ``K``), ``n_correct`` (``c`` or ``r``), ``PU`` and interval.

    Parameters
    ----------
    examples : DataFrame
        ``model, params, example_id, n_samples, n_correct`` [``, task, family, reached``].
    design : {"fixed_n", "until_pass"}
        ``fixed_n``: binomial interval; ``until_pass``: ``n_samples = K`` draws until
        ``n_correct = r`` passes, negative-binomial interval; a record with ``reached`` False
        (or, without that column, ``n_correct = 0``) hit the cap and gets the binomial interval.
    confidence, method :
        As in :func:`binomial_estimate`.

    Returns
    -------
    DataFrame: the input's group and key columns plus ``pu, lower, upper, censored, design``.
    Rows without a size or sample count are left out (use :func:`passuntil_predictions`
    for their count).
    """
    df, _ = _prepare(examples)
    if design == "fixed_n":
        e = binomial_estimate(df["n_correct"], df["n_samples"], confidence, method)
        est, lo, hi, cens = e
    elif design == "until_pass":
        reached = (df["reached"].astype(bool) if "reached" in df.columns else df["n_correct"] > 0).to_numpy()
        est, lo, hi = (np.empty(len(df)) for _ in range(3))
        k, r = df["n_samples"].to_numpy(), df["n_correct"].to_numpy()
        if reached.any():
            e = passuntil_estimate(k[reached], r[reached], confidence)
            est[reached], lo[reached], hi[reached] = e.estimate, e.lower, e.upper
        if (~reached).any():
            e = binomial_estimate(r[~reached], k[~reached], confidence, method)
            est[~reached], lo[~reached], hi[~reached] = e.estimate, e.lower, e.upper
        cens = r == 0
    else:
        raise ValueError(f"design must be 'fixed_n' or 'until_pass'; got {design!r}")
    cols = _group_cols(df) + ["model", "params", "example_id", "n_samples", "n_correct"]
    out = df[cols].reset_index(drop=True).copy()
    out["pu"], out["lower"], out["upper"], out["censored"] = est, lo, hi, np.asarray(cens, dtype=bool)
    out["design"] = design
    return out


def task_pass_rates(examples: pd.DataFrame, design: str = "fixed_n") -> pd.DataFrame:
    """Task-level ``PU`` per group and size, nearly unbiased for either design.

    ``fixed_n`` (n samples drawn, c passed): the mean of ``c_i / n_i`` over instances, zeros
    included (each ``c_i / n_i`` is unbiased for ``PU_i``); ``se = sqrt(sum_i p_i (1 - p_i) /
    n_i) / I`` (binomial noise of the fixed instance set).

    ``until_pass`` (Hu et al. 2023's PassUntil: each record is ``K`` draws, ``r`` passes, the
    ``K``-th draw the ``r``-th pass; ``r = 0`` is a run capped at ``K`` draws without a pass).
    The mean of ``r / K`` is biased upwards (about fourfold at PU = 0.01 with r = 1: E[1/K] =
    -p ln p / (1 - p) for a geometric K).  Instead:

    - every instance with ``r >= 2``: the mean of ``(r - 1) / (K - 1)``, unbiased for the negative
      binomial (Haldane 1945);
    - otherwise (some ``r = 1``, or capped runs): the maximum-likelihood mean ``a / (a + b)`` of a
      beta model of ``PU`` over the instances, ``PU_i ~ Beta(a, b)``, each record entering by its
      beta-negative-binomial probability ``C(K-1, r-1) B(a + r, b + K - r) / B(a, b)`` and a
      capped run by ``P(no pass in K) = B(a, b + K) / B(a, b)`` (censored, never a log 0).
      ``se`` from the observed information (delta method).

    Several rows of one instance at one size (e.g. two runs) are pooled: counts summed
    (``fixed_n`` only).

    Returns
    -------
    DataFrame with the group columns and ``params, n_instances, n_censored, pu, se, estimator``.
    """
    if design not in ("fixed_n", "until_pass"):
        raise ValueError(f"design must be 'fixed_n' or 'until_pass', got {design!r}")
    df, _ = _prepare(examples)
    keys = _group_cols(df)
    if design == "fixed_n":
        inst = df.groupby(keys + ["params", "example_id"], as_index=False)[["n_samples", "n_correct"]].sum()
        inst["p"] = inst["n_correct"] / inst["n_samples"]
        inst["v"] = inst["p"] * (1 - inst["p"]) / inst["n_samples"]
        inst["zero"] = inst["n_correct"] == 0
        g = inst.groupby(keys + ["params"], as_index=False).agg(
            n_instances=("p", "size"), n_censored=("zero", "sum"), pu=("p", "mean"), v=("v", "sum"))
        g["se"] = np.sqrt(g["v"]) / g["n_instances"]
        g["estimator"] = "mean of c/n"
        return g.drop(columns="v").sort_values(keys + ["params"]).reset_index(drop=True)
    rows = []
    for gk, g in df.groupby(keys + ["params"], sort=True):
        gk = gk if isinstance(gk, tuple) else (gk,)
        K = g["n_samples"].to_numpy(dtype=float)
        r = g["n_correct"].to_numpy(dtype=float)
        est = until_pass_task_mean(K, r)
        rows.append(dict(zip(keys + ["params"], gk), n_instances=len(g), n_censored=int((r == 0).sum()),
                         pu=est.estimate, se=est.se, estimator=est.estimator))
    return pd.DataFrame(rows).sort_values(keys + ["params"]).reset_index(drop=True)


class TaskMean(NamedTuple):
    """A task-level pass rate from sample-until-pass records (:func:`until_pass_task_mean`)."""

    estimate: float
    se: float
    estimator: str
    a: float
    b: float


def until_pass_task_mean(K, r) -> TaskMean:
    """The task-level mean pass rate of sample-until-pass records (see :func:`task_pass_rates`).

    Parameters
    ----------
    K : array_like
        Draws per instance (>= 1).
    r : array_like
        Passes per instance: the run stopped at its r-th pass (>= 1), or 0 for a run capped at K
        draws without a pass.

    Returns
    -------
    TaskMean
        ``estimator`` is ``'(r-1)/(K-1)'`` (every r >= 2) or ``'beta MLE'``; ``a, b`` the beta
        model's parameters (NaN for the first).

    Examples
    --------
    Instances with PU ~ Beta(0.5, 49.5) (mean 0.01), sampled until one pass: the mean of 1/K is
    about four times too high; the beta model is not.

    >>> rng = np.random.default_rng(0)
    >>> pu = rng.beta(0.5, 49.5, 4000)
    >>> K = 1 + rng.negative_binomial(1, pu)
    >>> round(float(np.mean(1 / K)) / 0.01, 1) > 3, abs(until_pass_task_mean(K, np.ones_like(K)).estimate / 0.01 - 1) < 0.15
    (True, True)
    """
    from scipy.special import betaln, gammaln

    K = np.asarray(K, dtype=float).ravel()
    r = np.asarray(r, dtype=float).ravel()
    if K.shape != r.shape or K.size == 0:
        raise ValueError(f"K and r must be non-empty and of one length; got {K.size} and {r.size}")
    if np.any(~np.isfinite(K)) or np.any(K < 1) or np.any(r < 0) or np.any(r > K):
        raise ValueError("need K >= 1 and 0 <= r <= K for every record")
    if np.all(r >= 2):
        v = (r - 1) / (K - 1)
        se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
        return TaskMean(float(v.mean()), se, "(r-1)/(K-1)", float("nan"), float("nan"))
    passed = r >= 1
    logc = np.where(passed, gammaln(K) - gammaln(r) - gammaln(K - r + 1), 0.0)

    def nll(theta):
        a, b = np.exp(theta)
        ll = np.where(passed, logc + betaln(a + r, b + K - r), betaln(a, b + K)) - betaln(a, b)
        return -float(ll.sum())

    # start from the method of moments on the crude r / K (a dispersed prior around its mean)
    m0 = float(np.clip(np.mean(np.where(passed, r / K, 0.5 / K)), 1e-9, 0.5))
    res = optimize.minimize(nll, x0=np.log([0.5, 0.5 / m0]), method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    a, b = np.exp(res.x)
    mean = a / (a + b)
    # delta-method se of a / (a + b) from the numerical Hessian of the negative log-likelihood in (log a, log b)
    h = 1e-4
    H = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            e_i, e_j = np.eye(2)[i] * h, np.eye(2)[j] * h
            H[i, j] = (nll(res.x + e_i + e_j) - nll(res.x + e_i - e_j) - nll(res.x - e_i + e_j)
                       + nll(res.x - e_i - e_j)) / (4 * h * h)
    grad = np.array([a * b, -a * b]) / (a + b) ** 2          # d mean / d(log a), d(log b)
    try:
        cov = np.linalg.inv(H)
        se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    except np.linalg.LinAlgError:
        se = float("nan")
    return TaskMean(float(mean), se, "beta MLE", float(a), float(b))


class InstanceLaw(NamedTuple):
    """Per-instance fit of ``log(-log PU) = log_c - alpha ln N``."""

    log_c: float
    alpha: float
    fitted: bool
    reason: str


def fit_instance_law(params, n_correct, n_samples, method: str = "binomial") -> InstanceLaw:
    """Fit one instance's law over its sizes.

    Parameters
    ----------
    params, n_correct, n_samples : array_like
        One entry per size.
    method : {"binomial", "ols"}
        ``binomial``: maximum likelihood of ``c ~ Binomial(n, exp(-exp(log_c - alpha ln N)))``
        (censored zeros enter through ``(1 - PU)^n``); ``ols``: least squares on
        ``log(-log(c/n))`` over sizes with ``0 < c < n`` (Hu et al.'s line; zeros excluded).

    Returns
    -------
    InstanceLaw
        ``fitted`` False (and NaN parameters) when fewer than 2 sizes have passes.
    """
    if method not in ("binomial", "ols"):
        raise ValueError(f"method must be 'binomial' or 'ols'; got {method!r}")
    N = np.asarray(params, dtype=float)
    c = np.asarray(n_correct, dtype=float)
    n = np.asarray(n_samples, dtype=float)
    if np.unique(N[c > 0]).size < 2:
        return InstanceLaw(np.nan, np.nan, False, "passes at fewer than 2 sizes")
    inner = (c > 0) & (c < n)
    if np.unique(N[inner]).size >= 2:
        f = LogLogFit().fit(N[inner], c[inner] / n[inner])
        start = (f.params_["log_c"], f.params_["alpha"])
    elif method == "ols":
        return InstanceLaw(np.nan, np.nan, False, "fewer than 2 sizes with 0 < c < n")
    else:
        start = (0.0, 0.0)
    if method == "ols":
        return InstanceLaw(start[0], start[1], True, "")
    u = np.log(N)
    u0 = float(np.mean(u))

    def nll(theta):
        eta = np.clip(theta[0] + theta[1] * (u - u0), -50, 50)
        h = np.exp(eta)                          # -log PU
        log1m = np.log(-np.expm1(-h))             # log(1 - PU)
        val = np.sum(c * h - (n - c) * log1m)
        with np.errstate(over="ignore"):     # h / expm1(h) -> 0 as h grows: the limit is right
            d_eta = c * h - (n - c) * h / np.expm1(h)
        return val, np.array([d_eta.sum(), (d_eta * (u - u0)).sum()])

    b0 = start[0] - start[1] * u0                 # log_c - alpha u0
    res = optimize.minimize(nll, np.array([b0, -start[1]]), jac=True, method="BFGS",
                            options={"gtol": 1e-9, "maxiter": 500})
    if not np.all(np.isfinite(res.x)):
        return InstanceLaw(np.nan, np.nan, False, "likelihood did not converge")
    alpha = -float(res.x[1])
    return InstanceLaw(float(res.x[0]) + alpha * u0, alpha, True, "")


def instance_fits(examples: pd.DataFrame, holdout: str = "largest", method: str = "binomial") -> pd.DataFrame:
    """Per instance: the law fitted on all sizes but the largest of its group, and its prediction there.

    Returns
    -------
    DataFrame with the group columns, ``example_id, log_c, alpha, fitted, reason, n_train_sizes,
    n_positive_sizes, params_target, pu_predicted, pu_actual`` (``pu_predicted`` is NaN when not fitted).
    """
    if holdout != "largest":
        raise ValueError(f"only holdout='largest' is implemented; got {holdout!r}")
    df, _ = _prepare(examples)
    keys = _group_cols(df)
    inst = df.groupby(keys + ["params", "example_id"], as_index=False)[["n_samples", "n_correct"]].sum()
    rows = []
    for gk, g in (inst.groupby(keys, sort=True) if keys else [((), inst)]):
        gk = gk if isinstance(gk, tuple) else (gk,)
        sizes = np.sort(g["params"].unique())
        if sizes.size < 3:
            continue
        target = sizes[-1]
        for ex, e in g.groupby("example_id", sort=True):
            tr = e[e["params"] < target]
            te = e[e["params"] == target]
            law = fit_instance_law(tr["params"], tr["n_correct"], tr["n_samples"], method=method)
            actual = float((te["n_correct"] / te["n_samples"]).iloc[0]) if len(te) else np.nan
            pred = float(pu_law(target, law.log_c, law.alpha)) if law.fitted else np.nan
            rows.append(dict(zip(keys, gk), example_id=ex, log_c=law.log_c, alpha=law.alpha, fitted=law.fitted,
                             reason=law.reason, n_train_sizes=int(tr["params"].nunique()),
                             n_positive_sizes=int(tr.loc[tr["n_correct"] > 0, "params"].nunique()),
                             params_target=float(target), pu_predicted=pred, pu_actual=actual))
    return pd.DataFrame(rows)


def passuntil_predictions(examples: pd.DataFrame, confidence: float = 0.95,
                          instance_method: str = "binomial", design: str = "fixed_n") -> pd.DataFrame:
    """Per task (and family): the task law fitted on all sizes but the largest, and its prediction.

    Parameters
    ----------
    examples : DataFrame
        ``model, params, example_id, n_samples, n_correct`` [``, task, family``].
    confidence : float
        Level of the prediction interval (task law) and of the curvature interval.
    instance_method : {"binomial", "ols"}
        See :func:`fit_instance_law`.
    design : {"fixed_n", "until_pass"}
        How the records were drawn: the task-level PU comes from :func:`task_pass_rates`.

    Returns
    -------
    DataFrame, one row per group with >= 3 sizes:

    ``n_sizes, params_target, n_instances, n_rows_skipped`` (rows without size or counts);
    task law (Hu et al. Eq. 4 on the mean PU, zeros included): ``log_c, alpha, log_c_se, alpha_se,
    n_train_points, pu_actual, pu_actual_se, pu_predicted, pu_lower, pu_upper, abs_error, rel_error``;
    instance level: ``pu_predicted_instance`` (mean of instance predictions, unfitted = 0),
    ``n_instances_fitted, rel_error_instance``; shape: ``curvature, curvature_se, curvature_class``
    of ``log(-log PU)`` over all sizes (:func:`emergence.predictability.fits.curvature_class`).
    """
    df, n_skipped = _prepare(examples)
    keys = _group_cols(df)
    tp = task_pass_rates(df, design=design)
    inst = instance_fits(df, method=instance_method)
    rows = []
    for gk, g in (tp.groupby(keys, sort=True) if keys else [((), tp)]):
        gk = gk if isinstance(gk, tuple) else (gk,)
        g = g.sort_values("params")
        if len(g) < 3:
            continue
        target = g.iloc[-1]
        train = g.iloc[:-1]
        ok = (train["pu"] > 0) & (train["pu"] < 1)
        row = dict(zip(keys, gk), n_sizes=len(g), params_target=float(target["params"]),
                   n_instances=int(target["n_instances"]), n_rows_skipped=n_skipped,
                   n_train_points=int(ok.sum()), pu_actual=float(target["pu"]), pu_actual_se=float(target["se"]))
        law = {"log_c": np.nan, "alpha": np.nan, "log_c_se": np.nan, "alpha_se": np.nan,
               "pu_predicted": np.nan, "pu_lower": np.nan, "pu_upper": np.nan}
        if ok.sum() >= 2:
            try:
                f = LogLogFit().fit(train.loc[ok, "params"], train.loc[ok, "pu"])
                lo, hi = f.prediction_interval([target["params"]], confidence)
                law = {"log_c": f.params_["log_c"], "alpha": f.params_["alpha"], "log_c_se": f.se_["log_c"],
                       "alpha_se": f.se_["alpha"], "pu_predicted": float(f.predict(target["params"])),
                       "pu_lower": float(lo[0]), "pu_upper": float(hi[0])}
            except (ValueError, FitError):
                pass
        row.update(law)
        row["abs_error"] = abs(row["pu_predicted"] - row["pu_actual"])
        row["rel_error"] = (row["pu_predicted"] - row["pu_actual"]) / row["pu_actual"] if row["pu_actual"] else np.nan
        sel = inst
        for k, v in zip(keys, gk):
            sel = sel[sel[k] == v]
        row["n_instances_fitted"] = int(sel["fitted"].sum()) if len(sel) else 0
        pi = float(sel["pu_predicted"].fillna(0.0).mean()) if len(sel) else np.nan
        row["pu_predicted_instance"] = pi
        row["rel_error_instance"] = (pi - row["pu_actual"]) / row["pu_actual"] if row["pu_actual"] else np.nan
        inside = (g["pu"] > 0) & (g["pu"] < 1)
        cv = curvature_class(g.loc[inside, "params"], g.loc[inside, "pu"], confidence)
        row.update(curvature=cv.q2, curvature_se=cv.se, curvature_class=cv.label)
        rows.append(row)
    return pd.DataFrame(rows)
