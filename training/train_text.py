"""Train sentiment, topic and email classifiers and write their packages."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from sklearn.model_selection import train_test_split

import data
import package
import text

VERSION = "1.0.0"


def _write(name, kind, labels, fz, weights, idf2, bias, metrics, reference, source, split,
           golden_inputs, golden_texts, extra=None):
    root = package.MODELS / name
    root.mkdir(parents=True, exist_ok=True)
    fz.tok.save(str(root / "tokenizer.json"))
    text.export_onnx(str(root / "model.onnx"), weights, idf2, bias, name)
    sess = ort.InferenceSession(str(root / "model.onnx"))
    feats = fz.ids(golden_texts)
    golden = []
    for raw, f in zip(golden_inputs, feats):
        probs = sess.run(None, {"ids": np.asarray([f], dtype=np.int64)})[0][0]
        golden.append({"input": raw, "features": f, "probabilities": package.rounded(probs)})
    meta = {
        "kind": kind,
        "name": name,
        "version": VERSION,
        "format": "inferwatch-model/v1",
        "inputs": [{"name": "ids", "dtype": "int64", "shape": ["batch", "features"],
                    "description": "sorted unique feature ids from the featurizer, 0-padded"}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": ["batch", len(labels)]}],
        "labels": labels,
        "featurizer": fz.settings(),
        "training_data": {"source": source, "split": split},
        "metrics": metrics,
        "reference_distribution": {"predicted_label_frequencies": dict(zip(labels, package.rounded(reference, 4)))},
    }
    if extra:
        meta.update(extra)
    package.finish(name, meta, golden)
    return metrics


def sentiment():
    texts, y = data.sentiment()
    idx = np.arange(len(texts))
    tr, te = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    labels = ["negative", "neutral", "positive"]
    fz, w, idf2, b, metrics, proba, ref = text.train(
        [texts[i] for i in tr], [y[i] for i in tr], [texts[i] for i in te], [y[i] for i in te], labels,
        min_frequency=1, vocab_size=60000, max_tokens=512, bigram_buckets=1 << 17,
        c_grid=[0.5, 1.0, 2.0], lexicon=data.vader_lexicon(),
        # neutral is 18% of the sentences and was recalled 0.34 of the time unweighted; the
        # weighting is chosen on the validation split by macro-F1 (never on the held-out set)
        class_weights=[None, {0: 1.0, 1: 1.3, 2: 1.0}, {0: 1.0, 1: 1.6, 2: 1.0}, {0: 1.0, 1: 2.0, 2: 1.0}])
    metrics["baseline"] = {"tfidf_1_2gram_linearsvc_accuracy": 0.675, "tfidf_1_2gram_linearsvc_macro_f1": 0.615}
    gold = [texts[i] for i in te[:60]] + ["", "!!!", "zzzzqqqq unknownword", "not good at all", "I love it :)"]
    return _write("sentiment", "sentiment", labels, fz, w, idf2, b, metrics, ref, data.SOURCES["sentiment"],
                  "80/20 stratified by label, random_state=0 (sklearn train_test_split)",
                  [{"text": t} for t in gold], gold)


def topic():
    tr_x, tr_y = data.newsgroups("train")
    te_x, te_y = data.newsgroups("test")
    labels = sorted(set(tr_y))
    enc = {l: i for i, l in enumerate(labels)}
    fz, w, idf2, b, metrics, proba, ref = text.train(
        tr_x, [enc[l] for l in tr_y], te_x, [enc[l] for l in te_y], labels,
        min_frequency=2, vocab_size=60000, max_tokens=4096, bigram_buckets=0,
        c_grid=[0.3, 1.0, 3.0], classifier="svm")
    metrics["baseline"] = {"tfidf_linearsvc_accuracy": 0.857}
    gold = te_x[:60:1] + ["space shuttle launch orbit nasa", "", "the"]
    return _write("topic", "topic", labels, fz, w, idf2, b, metrics, ref, data.SOURCES["topic"],
                  "official 20 Newsgroups train/test split", [{"text": t} for t in gold], gold)


def email_text(subject: str, body: str) -> str:
    """How the server joins the two fields before featurizing (see model.json featurizer.join)."""
    return subject + "\n" + body


def email():
    items, y = data.spam_assassin()
    idx = np.arange(len(items))
    tr, te = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    joined = [email_text(s, b) for s, b in items]
    labels = ["ham", "spam"]
    fz, w, idf2, b, metrics, proba, ref = text.train(
        [joined[i] for i in tr], [y[i] for i in tr], [joined[i] for i in te], [y[i] for i in te], labels,
        min_frequency=2, vocab_size=60000, max_tokens=4096, bigram_buckets=1 << 16,
        c_grid=[10.0, 30.0, 100.0])
    metrics["baseline"] = {"tfidf_linearsvc_accuracy": 0.988}
    gold_items = [items[i] for i in te[:60]] + [("WIN MONEY NOW", "click here to claim your free prize"), ("", "")]
    gold_inputs = [{"subject": s, "body": bd[:4000]} for s, bd in gold_items]
    gold_texts = [email_text(g["subject"], g["body"]) for g in gold_inputs]
    settings = {"email": {"join": "subject + \"\\n\" + body", "spam_label": "spam", "threshold": 0.5}}
    return _write("email", "email", labels, fz, w, idf2, b, metrics, ref, data.SOURCES["email"],
                  "subject + decoded text body, all other headers dropped; exact duplicate bodies removed; "
                  "then 80/20 stratified, random_state=0", gold_inputs, gold_texts, settings)


if __name__ == "__main__":
    import sys

    data.fetch()
    for fn in sys.argv[1:] or ["sentiment", "topic", "email"]:
        print(fn, globals()[fn]())
