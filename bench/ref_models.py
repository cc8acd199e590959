"""The five built-in model packages served the Python way, for the reference servers of
`make bench`: the same files (model.onnx, tokenizer.json, encoders.json, model.json), the same
featurizers (the training code's, which the Rust server reproduces), onnxruntime with one
intra-op thread per process (the servers run one process per core).

Every model has `predict(items: list[dict]) -> list[dict]`: one ONNX run for the whole list."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "training"))
import trend as trend_lib  # noqa: E402  (training/trend.py: the trend featurizer and analysis)

MODELS = Path(os.environ.get("MODEL_DIR", ROOT / "models"))
PRIME = 1000003


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class TextModel:
    """sentiment, topic and email: hashed unigram + bigram ids into a linear ONNX model."""

    def __init__(self, name: str):
        root = MODELS / name
        self.meta = json.loads((root / "model.json").read_text())
        self.tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.sess = session(root / "model.onnx")
        f = self.meta["featurizer"]
        self.vocab, self.buckets, self.max_tokens = f["vocab_size"], f["bigram_buckets"], f["max_tokens"]
        self.labels = self.meta["labels"]

    def text(self, item: dict) -> str:
        return item["text"]

    def features(self, text: str) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False).ids[: self.max_tokens]
        feats = {t for t in ids if t}
        if self.buckets:
            feats.update(self.vocab + (a * PRIME + b) % self.buckets for a, b in zip(ids, ids[1:]) if a and b)
        return sorted(feats) or [0]

    def probabilities(self, items: list[dict]) -> np.ndarray:
        rows = [self.features(self.text(i)) for i in items]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        for k, r in enumerate(rows):
            ids[k, : len(r)] = r
        return self.sess.run(None, {"ids": ids})[0]

    def predict(self, items: list[dict]) -> list[dict]:
        out = []
        for probs in self.probabilities(items):
            best = int(probs.argmax())
            out.append({"label": self.labels[best], "confidence": float(probs[best]),
                        "probabilities": {l: float(p) for l, p in zip(self.labels, probs)}})
        return out


class EmailModel(TextModel):
    def __init__(self):
        super().__init__("email")
        self.spam = self.labels.index(self.meta["email"]["spam_label"])
        self.threshold = self.meta["email"]["threshold"]

    def text(self, item: dict) -> str:
        return f"{item.get('subject', '')}\n{item.get('body', '')}"

    def predict(self, items: list[dict]) -> list[dict]:
        return [{"spam": bool(p[self.spam] >= self.threshold), "spam_probability": float(p[self.spam])}
                for p in self.probabilities(items)]


class RecsysModel:
    """Matrix factorisation with biases; unknown users and items use row 0 (cold start)."""

    def __init__(self):
        root = MODELS / "recsys"
        self.meta = json.loads((root / "model.json").read_text())
        enc = json.loads((root / "encoders.json").read_text())
        self.users, self.items = enc["users"], enc["items"]
        self.item_ids = {v: k for k, v in self.items.items()}
        self.seen = {int(k): set(v) for k, v in enc["seen_items"].items()}
        self.sess = session(root / "model.onnx")
        lo, hi = self.meta["recsys"]["rating_range"]
        self.lo, self.hi = lo, hi
        self.all_items = np.arange(1, len(self.items) + 1, dtype=np.int64)

    def ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.clip(self.sess.run(None, {"user": users, "item": items})[0], self.lo, self.hi)

    def predict(self, items: list[dict]) -> list[dict]:
        u = np.array([self.users.get(str(i["user_id"]), 0) for i in items], dtype=np.int64)
        v = np.array([self.items.get(str(i["item_id"]), 0) for i in items], dtype=np.int64)
        out = []
        for uu, vv, r in zip(u, v, self.ratings(u, v)):
            cold = {(True, True): "known", (False, True): "unknown_user", (True, False): "unknown_item"}
            out.append({"rating": float(r), "cold_start": cold.get((bool(uu), bool(vv)), "both")})
        return out

    def recommend(self, user_id: str, k: int) -> dict:
        u = self.users.get(str(user_id), 0)
        scores = self.ratings(np.full(len(self.all_items), u, dtype=np.int64), self.all_items)
        seen = self.seen.get(u, set())
        order = np.lexsort((self.all_items, -scores))
        top = [int(self.all_items[j]) for j in order if int(self.all_items[j]) not in seen][:k]
        return {"user_id": str(user_id), "items": [{"item_id": self.item_ids[i], "score": float(scores[i - 1])}
                                                    for i in top]}


class TrendModel:
    """Season detection, Mann-Kendall trend, robust anomalies and the ONNX forecast combination
    (training/trend.py, which the Rust server reproduces)."""

    def __init__(self):
        self.sess = session(MODELS / "trend" / "model.onnx")

    def predict(self, items: list[dict]) -> list[dict]:
        out = []
        for item in items:
            y = np.asarray(item["values"], dtype=np.float64)
            horizon = int(item.get("horizon", 12))
            p = trend_lib.detect_season(y)
            if trend_lib.model_applies(len(y), p):
                rows, s = trend_lib.features(y, p, horizon)
                forecast = (self.sess.run(None, {"features": rows.astype(np.float32)})[0][:, 0] * s).tolist()
            else:
                forecast = trend_lib.trend_line(y, p, horizon)
            out.append({**trend_lib.analyse(y, p), "season_length": p, "forecast": forecast})
        return out


def load_all() -> dict:
    return {"sentiment": TextModel("sentiment"), "topic": TextModel("topic"), "email": EmailModel(),
            "recsys": RecsysModel(), "trend": TrendModel()}
