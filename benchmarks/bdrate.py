"""Bjøntegaard delta rate: the average bitrate difference between two RD curves at equal quality.

Piecewise-cubic (monotone, PCHIP) interpolation of log-rate as a function of quality, integrated
over the quality interval both curves cover (the JVET/CTC variant of Bjøntegaard's 2001 method).
"""
from __future__ import annotations

import math

import numpy as np


def _curve(rate, quality):
    r, q = np.asarray(rate, float), np.asarray(quality, float)
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    order = np.argsort(q)
    q, lr = q[order], np.log(r[order])
    keep = np.concatenate([[True], np.diff(q) > 1e-9])  # PCHIP needs strictly increasing x
    return q[keep], lr[keep]


def bd_rate(rate_anchor, q_anchor, rate_test, q_test) -> float:
    """Percent rate change of ``test`` relative to ``anchor`` (negative: test needs fewer bits).
    NaN when the curves do not overlap in quality or have fewer than 2 points."""
    from scipy.interpolate import PchipInterpolator

    qa, la = _curve(rate_anchor, q_anchor)
    qt, lt = _curve(rate_test, q_test)
    if len(qa) < 2 or len(qt) < 2:
        return math.nan
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if hi <= lo:
        return math.nan
    ia = PchipInterpolator(qa, la).integrate(lo, hi)
    it = PchipInterpolator(qt, lt).integrate(lo, hi)
    return float((math.exp((it - ia) / (hi - lo)) - 1) * 100)
