"""The trend model's featurizer and analysis: the reference the Rust server reproduces
(inference-server/src/featurize/trend.rs and postprocess). Pure numpy/math, no training here."""

from __future__ import annotations

import math

import numpy as np

CANDIDATE_SEASONS = [4, 7, 12, 24, 52]
MIN_POINTS = 3          # fewer is a 422
MAX_HORIZON = 120
ACF_THRESHOLD = 0.3
P_VALUE = 0.05
ANOMALY_Z = 3.5
N_FEATURES = 5
FEATURES = ["naive", "seasonal_naive", "seasonal_naive_with_drift", "linear_trend", "seasonal_mean"]


def detect_season(y: np.ndarray) -> int:
    """Season length with the largest autocorrelation of the first differences among the
    candidates that fit three times into the series; 1 when none exceeds ACF_THRESHOLD."""
    d = np.diff(y)
    best, best_acf = 1, ACF_THRESHOLD
    m = d.mean() if len(d) else 0.0
    c = d - m
    denom = float(np.dot(c, c))
    if denom <= 0:
        return 1
    for p in CANDIDATE_SEASONS:
        if len(y) < 3 * p:
            continue
        acf = float(np.dot(c[p:], c[:-p])) / denom
        if acf > best_acf:
            best, best_acf = p, acf
    return best


def model_applies(n: int, p: int) -> bool:
    """The trained combination needs a season (its drift feature compares the last two seasons;
    with p = 1 that is the last single difference, pure noise) and two whole seasons of it."""
    return p >= 2 and n >= 2 * p


LEVEL_WINDOW = 12


def trend_line(y: np.ndarray, p: int, horizon: int) -> list[float]:
    """The forecast when the model does not apply, consistent with the trend analysis: the OLS
    line continued when the Mann-Kendall trend is significant, else flat at the mean of the last
    max(p, 12) values (or all of them)."""
    slope, intercept = ols_slope(y)
    _, pv = mann_kendall(y)
    n = len(y)
    if pv < P_VALUE:
        return [float(intercept + slope * (n - 1 + h)) for h in range(1, horizon + 1)]
    level = float(np.mean(y[-min(n, max(p, LEVEL_WINDOW)):]))
    return [level] * horizon


def scale(y: np.ndarray, p: int) -> float:
    q = min(len(y), max(p, 4))
    s = float(np.mean(np.abs(y[-q:])))
    return s if s > 1e-9 else 1.0


def features(y: np.ndarray, p: int, horizon: int) -> tuple[np.ndarray, float]:
    """[horizon, 5] float64 feature rows (scaled by `scale`) and the scale."""
    n = len(y)
    s = scale(y, p)
    z = y / s
    last_season = z[n - p:]
    d = (last_season.mean() - z[n - 2 * p:n - p].mean()) / p
    window = min(n, max(2 * p, 8))
    t = np.arange(window, dtype=np.float64)
    tm = t.mean()
    zw = z[n - window:]
    slope = float(np.dot(t - tm, zw - zw.mean()) / np.dot(t - tm, t - tm))
    intercept = float(zw.mean() - slope * tm)
    rows = np.empty((horizon, N_FEATURES))
    for h in range(1, horizon + 1):
        sn = z[n - p + (h - 1) % p]
        rows[h - 1] = [
            z[n - 1],
            sn,
            sn + p * d * ((h - 1) // p + 1),
            intercept + slope * (window - 1 + h),
            last_season.mean(),
        ]
    return rows, s


def ols_slope(y: np.ndarray) -> tuple[float, float]:
    t = np.arange(len(y), dtype=np.float64)
    tm = t.mean()
    slope = float(np.dot(t - tm, y - y.mean()) / np.dot(t - tm, t - tm))
    return slope, float(y.mean() - slope * tm)


def mann_kendall(y: np.ndarray) -> tuple[float, float]:
    """(z, two-sided p-value) of the Mann-Kendall trend test, no tie correction."""
    n = len(y)
    s = 0.0
    for i in range(n - 1):
        s += float(np.sign(y[i + 1:] - y[i]).sum())
    var = n * (n - 1) * (2 * n + 5) / 18.0
    if s > 0:
        z = (s - 1) / math.sqrt(var)
    elif s < 0:
        z = (s + 1) / math.sqrt(var)
    else:
        z = 0.0
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def analyse(y: np.ndarray, p: int) -> dict:
    slope, intercept = ols_slope(y)
    z, pv = mann_kendall(y)
    direction = "flat"
    if pv < P_VALUE:
        direction = "up" if slope > 0 else "down"
    t = np.arange(len(y), dtype=np.float64)
    resid = y - (intercept + slope * t)
    fitted = intercept + slope * t
    if p > 1:
        phase_mean = np.array([resid[k::p].mean() for k in range(p)])
        fitted = fitted + phase_mean[np.arange(len(y)) % p]
    r = y - fitted
    med = float(np.median(r))
    mad = float(np.median(np.abs(r - med)))
    anomalies = []
    if mad > 1e-12:
        for k in range(len(y)):
            score = 0.6745 * (r[k] - med) / mad
            if abs(score) > ANOMALY_Z:
                anomalies.append({"index": k, "value": float(y[k]), "expected": float(fitted[k] + med),
                                  "score": float(score)})
    return {"slope": slope, "mann_kendall_z": z, "p_value": pv, "direction": direction, "anomalies": anomalies}


# Drift references (training/references.py) and the drift test (tests/quality) take trend
# requests from the held-out tails: each month of a tail as the last point, with this many
# points of history and with the whole series.
REFERENCE_WINDOWS = (36, 60, 120)


def reference_windows(tails: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """The trend reference population for (series, held-out tail length) pairs."""
    out = []
    for y, tail in tails:
        for end in range(len(y) - tail + 1, len(y) + 1):
            for window in (*REFERENCE_WINDOWS, end):
                out.append(y[max(0, end - window):end])
    return out
