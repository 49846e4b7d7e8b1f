"""Predictability: scaling-law fits (fits/), held-out prediction, PassUntil (Hu et al. 2023)."""
