"""Held-out predictability of every series (Hu et al. 2023, Sec. 4; Ruan et al. 2024, Sec. 4).

For each series with at least 4 scales: fit a scaling form on all scales but the largest,
predict the largest, and report the error -- the test both papers use to ask whether a
metric is predictable from smaller models.  Then summarise per metric and per metric class:
is the continuous metric the more predictable one on these data?

Input (kept generic so any table of series points can be passed): a long frame with columns

    series_id, x, y, metric, higher_is_better, proportion
    [, random_baseline, metric_class]

``x`` > 0 is the scale (parameters, or tokens / FLOPs), ``y`` the metric in its own units
(proportions as fractions in [0, 1]).  Repeated ``x`` within a series (seeds, duplicates) are
averaged first.

Forms offered (chosen from the metric, never from the held-out point)
    ``linear``       ``y = a + b ln N`` for every series (the like-for-like baseline).
    proportions (``proportion`` True), on the oriented value ``v = y`` (or ``1 - y`` when lower
    is better):
    ``loglog``       ``log(-log v) = log_c - alpha ln N`` (Hu et al. 2023, Eq. 4), when every
                     training ``v`` is inside (0, 1) -- a 0 or 1 is censored at the resolution.
    ``sigmoid``      ``v = (1 - b) expit(w (ln N - x0)) + b`` with floor ``b`` = the random
                     baseline (0 when unknown) and ceiling 1 fixed, as Ruan et al. (2024) do.
    other metrics:
    ``power_law``    ``y = a N^-b`` for loss-like series (lower is better, all ``y > 0``); for a
                     higher-is-better metric with all ``y < 0`` (log-likelihood) on ``-y``.
    ``power_law_offset``  ``+ c``, with at least 4 training scales.
    ``sigmoid``      with free floor and ceiling (4 parameters), higher-is-better metrics with
                     at least 5 training scales.

    Every form needs at least one residual degree of freedom (``n_train > k``); a fit whose
    optimiser stops at its evaluation limit is reported as ``fit_failed``, not used.  The
    *preferred* form of a series, declared a priori: ``loglog`` for proportions (else
    ``sigmoid``), ``power_law`` for loss-like metrics, else ``linear``.

Errors: ``error = predicted - actual``, ``abs_error``, ``rel_error = abs_error / |actual|``
(NaN at 0), ``scaled_error = abs_error / (max - min of the training y)`` (unit-free, comparable
across metrics), ``covered``: the actual value lies inside the prediction interval.

Curvature (proportions): :func:`emergence.predictability.fits.curvature_class` of ``log(-log v)`` over all
scales of the series (those with ``v`` in (0, 1), at least 4).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergence.predictability.fits import FitError, LinearLogFit, LogLogFit, PowerLawFit, PowerLawOffsetFit, SigmoidFit, curvature_class
from emergence.analysis.metrics import metric_class as _metric_class

__all__ = ["held_out_predictions", "predictability", "Predictability", "POINT_COLUMNS", "PREDICTION_COLUMNS"]

POINT_COLUMNS = ("series_id", "x", "y", "metric", "higher_is_better", "proportion")

PREDICTION_COLUMNS = [
    "series_id", "metric", "metric_class", "higher_is_better", "proportion", "n_scales", "form", "preferred",
    "status", "params", "x_target", "y_actual", "y_predicted", "lower", "upper", "covered", "error", "abs_error",
    "rel_error", "scaled_error", "curvature", "curvature_se", "curvature_class",
]


def _candidates(prop: bool, hib: bool, y_train: np.ndarray, baseline: float | None):
    """The forms that fit this metric: (name, unfitted form, map y -> fitted values, inverse map)."""
    ident = (lambda v: v, lambda v: v)
    out = [("linear", LinearLogFit(), *ident)]
    if prop:
        fwd = (lambda v: v) if hib else (lambda v: 1 - v)
        out.append(("loglog", LogLogFit(), fwd, fwd))
        b = 0.0 if baseline is None or not np.isfinite(baseline) else float(fwd(baseline))
        out.append(("sigmoid", SigmoidFit(fixed={"a": 1 - b, "b": b}), fwd, fwd))
    else:
        neg = (lambda v: -v, lambda v: -v)
        if not hib and np.all(y_train > 0):
            out.append(("power_law", PowerLawFit(), *ident))
            out.append(("power_law_offset", PowerLawOffsetFit(), *ident))
        elif hib and np.all(y_train < 0):
            out.append(("power_law", PowerLawFit(), *neg))
            out.append(("power_law_offset", PowerLawOffsetFit(), *neg))
        if hib:
            out.append(("sigmoid", SigmoidFit(), *ident))
    return out


def _preferred(prop: bool, forms_ok: list[str]) -> str:
    order = ["loglog", "sigmoid"] if prop else ["power_law"]
    for f in order + ["linear"]:
        if f in forms_ok:
            return f
    return "linear"


def held_out_predictions(points: pd.DataFrame, forms: list[str] | None = None, confidence: float = 0.95,
                         min_scales: int = 4, key: str | list[str] = "series_id") -> pd.DataFrame:
    """Fit on all but the largest scale of each series, predict the largest, report the error.

    Parameters
    ----------
    points : DataFrame
        Columns ``series_id, x, y, metric, higher_is_better, proportion`` (optionally
        ``random_baseline``, ``metric_class``); one row per (series, scale) point.
    forms : list of str, optional
        Restrict to these form names (default: every form that fits the metric).
    confidence : float
        Level of the prediction interval and of the curvature interval.
    min_scales : int
        Series with fewer distinct scales get one row with ``status='too_few_scales'``.
    key : str or list of str
        Column(s) identifying a series (default ``series_id``); e.g. the analysis core's
        ``SERIES_KEY + ["series_model", "scale_axis"]`` for :func:`emergence.analysis.series.build_series_points`
        output.  With a list, those columns replace ``series_id`` in the result.

    Returns
    -------
    DataFrame with :data:`PREDICTION_COLUMNS` (``series_id`` replaced by the ``key`` columns):
    one row per (series, applicable form);
    ``status`` is ``ok``, ``too_few_scales``, ``not_applicable: ...`` or ``fit_failed: ...``;
    ``params`` is a JSON object of the fitted parameters.

    References
    ----------
    Hu, S. et al. (2023). PassUntil, Sec. 4 (fit small models, predict the 2.4B model).
    Ruan, Y. et al. (2024). Observational Scaling Laws, Sec. 4 (held-out models above a cutoff).
    """
    keys = [key] if isinstance(key, str) else list(key)
    missing = [c for c in keys + list(POINT_COLUMNS[1:]) if c not in points.columns]
    if missing:
        raise ValueError(f"points lack column(s) {missing}; got {list(points.columns)}")
    if min_scales < 3:
        raise ValueError(f"min_scales must be >= 3 (2 to fit, 1 to predict); got {min_scales}")
    df = points.copy()
    df["x"] = pd.to_numeric(df["x"], errors="coerce").astype(float)
    df["y"] = pd.to_numeric(df["y"], errors="coerce").astype(float)
    # a row without x is a point without a scale (e.g. a series' placeholder): not a scale, not an error
    bad = df["x"].notna() & ~(np.isfinite(df["x"]) & np.isfinite(df["y"]) & (df["x"] > 0))
    if bad.any():
        r = df[bad].iloc[0]
        raise ValueError(f"every point needs a finite x > 0 and a finite y; got x={r['x']!r}, y={r['y']!r} "
                         f"in series {tuple(r[k] for k in keys)!r}")
    rows = []
    for sid, s in df.groupby(keys, sort=True, dropna=False):
        first = s.iloc[0]
        s = s[s["x"].notna()]
        metric = first["metric"]
        mclass = first["metric_class"] if "metric_class" in s.columns and pd.notna(first["metric_class"]) \
            else _metric_class(metric)
        hib, prop = bool(first["higher_is_better"]), bool(first["proportion"])
        baseline = float(first["random_baseline"]) if "random_baseline" in s.columns \
            and pd.notna(first["random_baseline"]) else None
        pts = s.groupby("x", as_index=False)["y"].mean().sort_values("x")
        x, y = pts["x"].to_numpy(), pts["y"].to_numpy()
        base = {**dict(zip(keys, sid)), "metric": metric, "metric_class": mclass, "higher_is_better": hib,
                "proportion": prop, "n_scales": int(x.size)}
        if x.size < min_scales:
            rows.append({**base, "form": None, "preferred": False, "status": "too_few_scales"})
            continue
        xt, yt, xa, ya = x[:-1], y[:-1], float(x[-1]), float(y[-1])
        # curvature of log(-log v) over all scales (proportions only)
        cv = None
        if prop:
            v = y if hib else 1 - y
            inside = (v > 0) & (v < 1)
            cv = curvature_class(x[inside], v[inside], confidence)
        span = float(np.ptp(yt))
        cands = _candidates(prop, hib, yt, baseline)
        results = []
        for name, fit, fwd, inv in cands:
            if forms is not None and name not in forms:
                continue
            row = {**base, "form": name, "x_target": xa, "y_actual": ya}
            if cv is not None:
                row.update(curvature=cv.q2, curvature_se=cv.se, curvature_class=cv.label)
            k = len(fit.free)
            if xt.size <= k:
                row["status"] = f"not_applicable: {k} parameters need more than {xt.size} training scales"
                results.append(row)
                continue
            try:
                fit.fit(xt, fwd(yt))
                pred = float(inv(fit.predict(xa)))
                lo, hi = fit.prediction_interval([xa], confidence)
                lo, hi = sorted((float(inv(lo[0])), float(inv(hi[0]))))
            except ValueError as e:
                row["status"] = f"not_applicable: {str(e)[:160]}"
                results.append(row)
                continue
            except FitError as e:
                row["status"] = f"fit_failed: {str(e)[:160]}"
                results.append(row)
                continue
            if not fit.converged_ or not np.isfinite(pred):
                row["status"] = "fit_failed: " + ("did not converge" if not fit.converged_ else "non-finite prediction")
                results.append(row)
                continue
            err = pred - ya
            row.update(status="ok", params=json.dumps({p: round(v, 10) for p, v in fit.params_.items()}),
                       y_predicted=pred, lower=lo, upper=hi,
                       covered=bool(lo <= ya <= hi) if np.isfinite(lo) and np.isfinite(hi) else None,
                       error=err, abs_error=abs(err), rel_error=abs(err) / abs(ya) if ya != 0 else np.nan,
                       scaled_error=abs(err) / span if span > 0 else np.nan)
            results.append(row)
        ok_forms = [r["form"] for r in results if r.get("status") == "ok"]
        pref = _preferred(prop, ok_forms)
        for r in results:
            r["preferred"] = r["form"] == pref and r.get("status") == "ok"
        rows.extend(results)
    cols = keys + [c for c in PREDICTION_COLUMNS[1:] if c not in keys]
    out = pd.DataFrame(rows)
    for c in cols:
        if c not in out.columns:
            out[c] = None
    return out[cols]


@dataclass(frozen=True)
class Predictability:
    """Result of :func:`predictability`: one frame per metric and one per metric class."""

    by_metric: pd.DataFrame
    by_class: pd.DataFrame


def _summ(g: pd.DataFrame) -> pd.Series:
    cov = g["covered"].dropna()
    return pd.Series({
        "n_series": int(g["_sid"].nunique()),
        "median_abs_error": float(g["abs_error"].median()),
        "median_rel_error": float(g["rel_error"].median()),
        "median_scaled_error": float(g["scaled_error"].median()),
        "coverage": float(cov.astype(bool).mean()) if len(cov) else np.nan,
    })


def predictability(predictions: pd.DataFrame, form: str = "preferred",
                   key: str | list[str] = "series_id") -> Predictability:
    """How predictable each metric (and metric class) is: median held-out errors.

    Parameters
    ----------
    predictions : DataFrame
        Output of :func:`held_out_predictions`.
    form : str
        ``"preferred"`` (each series' a-priori form), ``"all"`` (one row per metric and form),
        or one form name (e.g. ``"linear"`` for a like-for-like comparison).
    key : str or list of str
        The series key given to :func:`held_out_predictions`.

    Returns
    -------
    Predictability
        ``by_metric`` and ``by_class``: ``n_series, median_abs_error, median_rel_error,
        median_scaled_error, coverage`` (share of prediction intervals containing the actual
        value), plus ``form`` where ``form="all"``.  Absolute errors are in each metric's own
        units: compare metrics by the relative or scaled error.

    References
    ----------
    Hu et al. (2023), Sec. 4; Schaeffer et al. (2023), Sec. 4: continuous metrics are the
    predictable readings of the same outputs.
    """
    keys = [key] if isinstance(key, str) else list(key)
    ok = predictions[predictions["status"] == "ok"]
    if form == "preferred":
        ok, extra = ok[ok["preferred"].astype(bool)], []
    elif form == "all":
        extra = ["form"]
    else:
        ok, extra = ok[ok["form"] == form], []
    ok = ok.assign(_sid=ok.groupby(keys, dropna=False, sort=False).ngroup() if len(ok) else 0)
    cols = ["n_series", "median_abs_error", "median_rel_error", "median_scaled_error", "coverage"]

    def by(group):
        if ok.empty:
            return pd.DataFrame(columns=group + cols)
        out = ok.groupby(group, sort=True)[["_sid", "abs_error", "rel_error", "scaled_error", "covered"]] \
            .apply(_summ).reset_index()
        out["n_series"] = out["n_series"].astype(int)
        return out

    return Predictability(by(["metric", "metric_class"] + extra), by(["metric_class"] + extra))
