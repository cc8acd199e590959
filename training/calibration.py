"""Calibration of the built-in classifiers on their held-out data: expected calibration error
(ECE, 15 equal-width bins of top-class confidence) and the reliability table, written into each
package's model.json `metrics` (`ece`, `calibration`).

Confidence-based performance estimation (the server's estimated accuracy while truth is
pending: the mean top-class probability) is only honest when the probabilities are calibrated;
the ECE says by how much the estimate can be off. Computed from the committed package itself
(tokenizer.json + model.onnx through onnxruntime) on exactly the held-out split training used,
so it describes the model that is served. `make models` runs it after training.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
from sklearn.model_selection import train_test_split
from tokenizers import Tokenizer

import data
import package
import text
from train_text import email_text

BINS = 15


def held_out(name: str) -> tuple[list[str], list[int], list[str]]:
    """(texts, label indices, labels) of the held-out split training used."""
    if name == "sentiment":
        texts, y = data.sentiment()
        _, te = train_test_split(np.arange(len(texts)), test_size=0.2, random_state=0, stratify=y)
        return [texts[i] for i in te], [y[i] for i in te], ["negative", "neutral", "positive"]
    if name == "topic":
        tr_x, tr_y = data.newsgroups("train")
        te_x, te_y = data.newsgroups("test")
        labels = sorted(set(tr_y))
        return te_x, [labels.index(l) for l in te_y], labels
    items, y = held_out_emails(with_labels=True)
    return [email_text(*item) for item in items], y, ["ham", "spam"]


def held_out_emails(with_labels: bool = False):
    """(subject, body) of the email held-out split (80/20 stratified, seed 0), and its labels
    when `with_labels`."""
    items, y = data.spam_assassin()
    _, te = train_test_split(np.arange(len(items)), test_size=0.2, random_state=0, stratify=y)
    held = [items[i] for i in te]
    return (held, [y[i] for i in te]) if with_labels else held


def probabilities(name: str, texts: list[str]) -> np.ndarray:
    root = package.MODELS / name
    meta = json.loads((root / "model.json").read_text())
    fz_settings = meta["featurizer"]
    fz = text.Featurizer(Tokenizer.from_file(str(root / "tokenizer.json")), fz_settings["max_tokens"],
                         fz_settings["bigram_buckets"])
    sess = ort.InferenceSession(str(root / "model.onnx"))
    ids = fz.ids(texts)
    rows = [sess.run(None, {"ids": text.pad(ids[i:i + 256])})[0] for i in range(0, len(ids), 256)]
    return np.concatenate(rows)


def ece(proba: np.ndarray, y: np.ndarray, bins: int = BINS) -> tuple[float, list[dict]]:
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total, table = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi)
        n = int(mask.sum())
        if n == 0:
            continue
        acc, mean_conf = float(correct[mask].mean()), float(conf[mask].mean())
        total += n / len(y) * abs(acc - mean_conf)
        table.append({"confidence_from": round(float(lo), 4), "confidence_to": round(float(hi), 4), "count": n,
                      "accuracy": round(acc, 4), "mean_confidence": round(mean_conf, 4)})
    return total, table


def main() -> None:
    for name in ("sentiment", "topic", "email"):
        texts, y, labels = held_out(name)
        proba = probabilities(name, texts)
        value, table = ece(proba, np.asarray(y))
        path = package.MODELS / name / "model.json"
        meta = json.loads(path.read_text())
        accuracy = float((proba.argmax(axis=1) == np.asarray(y)).mean())
        assert abs(accuracy - meta["metrics"]["accuracy"]) < 1e-3, (name, accuracy, meta["metrics"]["accuracy"])
        meta["metrics"]["ece"] = round(value, 4)
        meta["metrics"]["mean_confidence"] = round(float(proba.max(axis=1).mean()), 4)
        meta["metrics"]["calibration"] = {"bins": BINS, "method": "equal-width bins of top-class confidence",
                                          "table": table}
        package.write_json(path, meta)
        print(f"{name}: ECE {value:.4f}, mean confidence {meta['metrics']['mean_confidence']:.4f}, "
              f"accuracy {accuracy:.4f} on {len(y)} held-out examples")


if __name__ == "__main__":
    data.fetch()
    main()
