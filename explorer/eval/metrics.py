"""Latent-space metrics on numpy arrays (no model here).

``z`` is (N, D) (posterior means), ``attrs`` maps an attribute name to (N,).
Definitions follow AR-VAE's evaluation (Pati & Lerch 2020):

* interpretability (Adel et al. 2018): for each attribute, the latent dim with the
  highest mutual information with it; the R² of a linear fit of the attribute on
  that dim;
* MIG (Chen et al. 2018): the gap between the two highest MIs of an attribute with
  the (binned) latent dims, over the attribute's entropy;
* SAP (Kumar et al. 2018): the gap between the two highest R² of linear fits of
  the attribute on single dims;
* spearman: the rank correlation of each regularised dim with its attribute.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.feature_selection import mutual_info_regression
from sklearn.metrics import mutual_info_score


def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """Dims whose posterior mean varies across the data (Cov_x E[z] > threshold)."""
    return int((np.var(mu, axis=0) > threshold).sum())


def _clean(z, a):
    ok = np.isfinite(a)
    return z[ok], a[ok]


def _r2_single(x: np.ndarray, y: np.ndarray) -> float:
    """R² of the least-squares line y ~ x."""
    if np.std(x) < 1e-12 or np.std(y) < 1e-12:
        return 0.0
    r = np.corrcoef(x, y)[0, 1]
    return float(r * r)


def interpretability(z: np.ndarray, attrs: dict, *, seed: int = 0, max_rows: int = 5000) -> dict:
    """{attr: {"dim": d, "r2": score}, "mean": mean score}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, a in attrs.items():
        zz, aa = _clean(np.asarray(z), np.asarray(a, dtype=float))
        if len(aa) > max_rows:
            idx = rng.choice(len(aa), max_rows, replace=False)
            zz, aa = zz[idx], aa[idx]
        if len(aa) < 10 or np.std(aa) < 1e-12:
            out[name] = {"dim": -1, "r2": 0.0}
            continue
        mi = mutual_info_regression(zz, aa, random_state=seed)
        d = int(np.argmax(mi))
        out[name] = {"dim": d, "r2": round(_r2_single(zz[:, d], aa), 4)}
    out["mean"] = round(float(np.mean([v["r2"] for v in out.values()])), 4) if attrs else 0.0
    return out


def _discretize(x: np.ndarray, bins: int) -> np.ndarray:
    edges = np.histogram_bin_edges(x, bins=bins)
    return np.digitize(x, edges[1:-1])


def mig(z: np.ndarray, attrs: dict, *, bins: int = 20) -> dict:
    """{attr: gap, "mean": mean gap}; MI of binned dims and binned attribute."""
    zb = np.stack([_discretize(z[:, j], bins) for j in range(z.shape[1])], 1)
    out = {}
    for name, a in attrs.items():
        a = np.asarray(a, dtype=float)
        ok = np.isfinite(a)
        ab = _discretize(a[ok], bins)
        h = mutual_info_score(ab, ab)
        if h <= 0 or z.shape[1] < 2:
            out[name] = 0.0
            continue
        mis = np.sort([mutual_info_score(zb[ok, j], ab) for j in range(z.shape[1])])[::-1]
        out[name] = round(float((mis[0] - mis[1]) / h), 4)
    out["mean"] = round(float(np.mean([v for v in out.values()])), 4) if attrs else 0.0
    return out


def sap(z: np.ndarray, attrs: dict) -> dict:
    """{attr: gap, "mean": mean gap} of single-dim linear R²."""
    out = {}
    for name, a in attrs.items():
        zz, aa = _clean(np.asarray(z), np.asarray(a, dtype=float))
        scores = np.sort([_r2_single(zz[:, j], aa) for j in range(zz.shape[1])])[::-1]
        out[name] = round(float(scores[0] - scores[1]) if len(scores) > 1 else float(scores[0]), 4)
    out["mean"] = round(float(np.mean([v for v in out.values()])), 4) if attrs else 0.0
    return out


def spearman(z: np.ndarray, attrs: dict, dims: dict) -> dict:
    """{attr: rho of z[:, dims[attr]] with the attribute, "mean": mean rho}."""
    out = {}
    for name, d in dims.items():
        if name not in attrs:
            continue
        zz, aa = _clean(np.asarray(z), np.asarray(attrs[name], dtype=float))
        rho = spearmanr(zz[:, d], aa).statistic
        out[name] = round(float(0.0 if np.isnan(rho) else rho), 4)
    out["mean"] = round(float(np.mean(list(out.values()))), 4) if out else 0.0
    return out
