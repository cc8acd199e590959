"""Reference server: how the original FastAPI design serves the same model packages
(FastAPI + uvicorn + onnxruntime + the same Hugging Face tokenizer and featurizer).
Text models only (sentiment, topic, email) — what the benchmark compares."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from tokenizers import Tokenizer

MODELS = Path(os.environ.get("MODEL_DIR", Path(__file__).resolve().parent.parent / "models"))
PRIME = 1000003


class TextModel:
    def __init__(self, root: Path):
        self.meta = json.loads((root / "model.json").read_text())
        self.tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.sess = ort.InferenceSession(str(root / "model.onnx"), opts)
        f = self.meta["featurizer"]
        self.vocab, self.buckets, self.max_tokens = f["vocab_size"], f["bigram_buckets"], f["max_tokens"]

    def features(self, text: str) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False).ids[: self.max_tokens]
        feats = {t for t in ids if t}
        if self.buckets:
            feats.update(self.vocab + (a * PRIME + b) % self.buckets for a, b in zip(ids, ids[1:]) if a and b)
        return sorted(feats) or [0]

    def predict(self, text: str) -> dict:
        ids = np.asarray([self.features(text)], dtype=np.int64)
        probs = self.sess.run(None, {"ids": ids})[0][0]
        best = int(probs.argmax())
        labels = self.meta["labels"]
        return {"label": labels[best], "confidence": float(probs[best]),
                "probabilities": {l: float(p) for l, p in zip(labels, probs)}}


app = FastAPI()
models = {k: TextModel(MODELS / k) for k in ("sentiment", "topic", "email")}


class TextIn(BaseModel):
    text: str


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/v1/models/{name}/predict")
def predict(name: str, body: TextIn):
    if name not in models:
        raise HTTPException(404, f"model '{name}' not found")
    if not body.text.strip():
        raise HTTPException(422, "text must not be empty")
    return {"model": name, **models[name].predict(body.text)}
