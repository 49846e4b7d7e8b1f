"""Scaling-law fits: one base (:class:`ScalingFit`) and one small module per form.

=====================  ==========================================  =============================
name                   form                                        for
=====================  ==========================================  =============================
``loglog``             log(-log y) = log_c - alpha ln N            proportions in (0, 1) (Hu et al. 2023)
``power_law``          y = a N^-b                                  loss-like, y > 0 (Kaplan et al. 2020)
``power_law_offset``   y = a N^-b + c                              loss-like with a floor
``sigmoid``            y = a / (1 + exp(-w (ln N - x0))) + b       any bounded metric (Ruan et al. 2024)
``linear``             y = a + b ln N                              every metric (baseline)
``loglog_quadratic``   log(-log y) quadratic in ln N               curvature class (Hu et al. 2023, Sec. 5)
=====================  ==========================================  =============================
"""
from emergence.predictability.fits.base import FitError, ScalingFit
from emergence.predictability.fits.linear import LinearLogFit
from emergence.predictability.fits.loglog import LogLogFit, loglog_transform
from emergence.predictability.fits.powerlaw import PowerLawFit, PowerLawOffsetFit
from emergence.predictability.fits.quadratic import CURVATURE_LABELS, Curvature, LogLogQuadraticFit, curvature_class
from emergence.predictability.fits.sigmoid import SigmoidFit

FORMS: dict[str, type[ScalingFit]] = {cls.name: cls for cls in (
    LogLogFit, PowerLawFit, PowerLawOffsetFit, SigmoidFit, LinearLogFit, LogLogQuadraticFit)}

__all__ = ["ScalingFit", "FitError", "FORMS", "LogLogFit", "PowerLawFit", "PowerLawOffsetFit", "SigmoidFit",
           "LinearLogFit", "LogLogQuadraticFit", "Curvature", "curvature_class", "CURVATURE_LABELS",
           "loglog_transform"]
