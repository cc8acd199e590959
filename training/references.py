"""Drift references: the distribution of every watched input and prediction feature on each
built-in model's held-out data, written into model.json `reference_distribution.features`.

The server counts live traffic into the same bins (inference-server/src/telemetry/drift.rs) and
Prometheus compares the two by Population Stability Index (docs/drift.md). The features, their
bins and how each value is computed are a contract with the server:

- numeric feature: `edges` e_0 < ... < e_{k-1}; a value v falls into the first bin i with
  v <= e_i, or into the last bin (> e_{k-1}); `shares` has k + 1 entries.
- categorical feature: `categories`; `shares` has one entry per category.

Computed from the committed package itself (tokenizer.json, encoders.json, model.onnx through
onnxruntime) on exactly the held-out split training used, like calibration.py, so it describes the
model that is served. Deterministic: `make models` rewrites the same numbers.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

import calibration
import data
import package
import train_recsys
import train_trend
import trend

TOKEN_EDGES = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
UNKNOWN_EDGES = [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75]
CONFIDENCE_EDGES = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
SUBJECT_EDGES = [0, 10, 20, 30, 45, 60, 90, 150]
BODY_EDGES = [100, 300, 1000, 3000, 10000, 30000, 100000]
RATING_EDGES = [1.5, 2, 2.5, 3, 3.5, 4, 4.5]
POINTS_EDGES = [24, 36, 48, 60, 96, 144, 240, 480]
VOLATILITY_EDGES = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
APE_EDGES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]
DIGITS = 6


def numeric(name: str, side: str, description: str, edges: list, values) -> dict:
    """A numeric feature: shares of v <= e_0, e_0 < v <= e_1, ..., v > e_last."""
    values = np.asarray(values, dtype=np.float64)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return {"name": name, "side": side, "description": description, "edges": edges,
            "shares": package.rounded(counts / len(values), DIGITS), "count": int(len(values))}


def categorical(name: str, side: str, description: str, categories: list[str], values: list[int]) -> dict:
    counts = np.bincount(np.asarray(values), minlength=len(categories))
    return {"name": name, "side": side, "description": description, "categories": categories,
            "shares": package.rounded(counts / len(values), DIGITS), "count": int(len(values))}


def token_counts(tok: Tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens per text (before truncation) and the share of them outside the vocabulary
    ([UNK], id 0; 0 for a text without tokens)."""
    encs = tok.encode_batch(texts, add_special_tokens=False)
    n = np.array([len(e.ids) for e in encs], dtype=np.float64)
    unk = np.array([sum(1 for t in e.ids if t == 0) for e in encs], dtype=np.float64)
    return n, np.divide(unk, n, out=np.zeros_like(unk), where=n > 0)


def text_features(name: str) -> list[dict]:
    texts, _, labels = calibration.held_out(name)
    tok = Tokenizer.from_file(str(package.MODELS / name / "tokenizer.json"))
    n, unk = token_counts(tok, texts)
    proba = calibration.probabilities(name, texts)
    features = [
        numeric("input_tokens", "input", "tokens per text before truncation", TOKEN_EDGES, n),
        numeric("unknown_token_share", "input", "share of the text's tokens outside the vocabulary",
                UNKNOWN_EDGES, unk),
    ]
    if name == "email":
        items = calibration.held_out_emails()
        features += [
            numeric("subject_chars", "input", "characters of the subject", SUBJECT_EDGES, [len(s) for s, _ in items]),
            numeric("body_chars", "input", "characters of the body", BODY_EDGES, [len(b) for _, b in items]),
        ]
    features += [
        categorical("predicted_label", "prediction", "the predicted label", labels, list(proba.argmax(axis=1))),
        numeric("confidence", "prediction", "probability of the predicted label", CONFIDENCE_EDGES,
                proba.max(axis=1)),
    ]
    return features


def recsys_features() -> list[dict]:
    root = package.MODELS / "recsys"
    enc = json.loads((root / "encoders.json").read_text())
    _, test = train_recsys.split(data.movielens())
    users = np.array([enc["users"].get(u, 0) for u, _, _ in test])
    items = np.array([enc["items"].get(i, 0) for _, i, _ in test])
    sess = ort.InferenceSession(str(root / "model.onnx"))
    rating = sess.run(None, {"user": users, "item": items})[0]
    known = ["known", "unknown"]
    return [
        categorical("user", "input", "whether the user id is in the encoders", known, list((users == 0).astype(int))),
        categorical("item", "input", "whether the item id is in the encoders", known, list((items == 0).astype(int))),
        numeric("predicted_rating", "prediction", "predicted rating before clamping to the rating range",
                RATING_EDGES, rating),
    ]


def volatility(y: np.ndarray) -> float:
    """Scale-free volatility: population standard deviation of the first differences over the
    mean absolute level (0 for a constant-zero series)."""
    level = float(np.mean(np.abs(y)))
    return float(np.std(np.diff(y))) / level if level > 0 else 0.0


def trend_features() -> list[dict]:
    co2, air = np.asarray(data.co2_monthly()), np.asarray(data.airline())
    fc = train_trend.Forecaster(str(package.MODELS / "trend" / "model.onnx"))
    windows = trend.reference_windows([(co2, 60), (air, 24)])
    points, vol, ape = [len(w) for w in windows], [volatility(w) for w in windows], []
    for y, tail in ((co2, 60), (air, 24)):
        tr, te = y[:-tail], y[-tail:]
        pred, _, _ = fc(tr, len(te))
        ape += list(np.abs(np.asarray(pred) - te) / np.abs(te))
    return [
        numeric("series_points", "input", "points per series", POINTS_EDGES, points),
        numeric("volatility", "input", "std of the first differences over the mean absolute level",
                VOLATILITY_EDGES, vol),
        numeric("forecast_ape", "prediction", "absolute percentage error of each forecast point, when truth arrives",
                APE_EDGES, ape),
    ]


def main() -> None:
    for name, features in (("sentiment", text_features), ("topic", text_features), ("email", text_features),
                           ("recsys", lambda _: recsys_features()), ("trend", lambda _: trend_features())):
        path = package.MODELS / name / "model.json"
        meta = json.loads(path.read_text())
        feats = features(name)
        for f in feats:
            assert math.isclose(sum(f["shares"]), 1.0, abs_tol=1e-4), (name, f["name"])
        meta["reference_distribution"]["features"] = feats
        package.write_json(path, meta)
        print(f"{name}: " + ", ".join(f"{f['name']} ({len(f['shares'])} bins, {f['count']} values)" for f in feats))


if __name__ == "__main__":
    data.fetch()
    main()
