"""Biased matrix factorisation on MovieLens-100K, exported as Gather/Mul/ReduceSum/Add/Clip.

rating(u, i) = clip(mu + b_u + b_i + p_u . q_i, 1, 5). Row 0 of every table is the cold-start
row (zero factors, zero bias), so an unknown user falls back to mu + b_i, an unknown item to
mu + b_u, and both to mu: the fallbacks live in the weights, not in special code paths.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import data
import package

VERSION = "1.0.0"
RANK = 48
EPOCHS = 400
REG = 0.06
REG_BIAS = 0.01
LR = 0.01


def split(rows, seed=0):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    cut = int(0.8 * len(rows))
    return [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]


def fit(u, i, r, n_users, n_items, seed=0):
    """Full-batch Adam on squared error + L2; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    mu = float(r.mean())
    params = {
        "P": rng.normal(0, 0.05, (n_users, RANK)), "Q": rng.normal(0, 0.05, (n_items, RANK)),
        "bu": np.zeros(n_users), "bi": np.zeros(n_items),
    }
    for k in ("P", "Q", "bu", "bi"):
        params[k][0] = 0.0
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in params.items()}
    n = len(r)
    for step in range(1, EPOCHS + 1):
        P, Q, bu, bi = params["P"], params["Q"], params["bu"], params["bi"]
        pred = mu + bu[u] + bi[i] + np.einsum("ij,ij->i", P[u], Q[i])
        err = (pred - r) / n
        grads = {k: np.zeros_like(x) for k, x in params.items()}
        np.add.at(grads["P"], u, err[:, None] * Q[i])
        np.add.at(grads["Q"], i, err[:, None] * P[u])
        np.add.at(grads["bu"], u, err)
        np.add.at(grads["bi"], i, err)
        cu = np.bincount(u, minlength=n_users) / n
        ci = np.bincount(i, minlength=n_items) / n
        grads["P"] += REG * cu[:, None] * P
        grads["Q"] += REG * ci[:, None] * Q
        grads["bu"] += REG_BIAS * cu * bu
        grads["bi"] += REG_BIAS * ci * bi
        for k in params:
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            mh, vh = m[k] / (1 - 0.9**step), v[k] / (1 - 0.999**step)
            params[k] -= LR * mh / (np.sqrt(vh) + 1e-12)
            params[k][0] = 0.0
    return mu, params


def predict(mu, params, u, i):
    p = mu + params["bu"][u] + params["bi"][i] + np.einsum("ij,ij->i", params["P"][u], params["Q"][i])
    return np.clip(p, 1.0, 5.0)


def export(path, mu, params):
    user = helper.make_tensor_value_info("user", TensorProto.INT64, ["batch"])
    item = helper.make_tensor_value_info("item", TensorProto.INT64, ["batch"])
    out = helper.make_tensor_value_info("rating", TensorProto.FLOAT, ["batch"])
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    inits = [
        numpy_helper.from_array(f32(params["P"]), "P"), numpy_helper.from_array(f32(params["Q"]), "Q"),
        numpy_helper.from_array(f32(params["bu"]), "bu"), numpy_helper.from_array(f32(params["bi"]), "bi"),
        numpy_helper.from_array(f32([mu]), "mu"), numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(f32(1.0), "lo"), numpy_helper.from_array(f32(5.0), "hi"),
    ]
    nodes = [
        helper.make_node("Gather", ["P", "user"], ["pu"], axis=0),
        helper.make_node("Gather", ["Q", "item"], ["qi"], axis=0),
        helper.make_node("Mul", ["pu", "qi"], ["pq"]),
        helper.make_node("ReduceSum", ["pq", "axis1"], ["dot"], keepdims=0),
        helper.make_node("Gather", ["bu", "user"], ["b_u"], axis=0),
        helper.make_node("Gather", ["bi", "item"], ["b_i"], axis=0),
        helper.make_node("Add", ["dot", "b_u"], ["s1"]),
        helper.make_node("Add", ["s1", "b_i"], ["s2"]),
        helper.make_node("Add", ["s2", "mu"], ["raw"]),
        helper.make_node("Clip", ["raw", "lo", "hi"], ["rating"]),
    ]
    graph = helper.make_graph(nodes, "recsys", [user, item], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="inferwatch-training")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    data.fetch()
    rows = data.movielens()
    train, test = split(rows)
    users = {u: k + 1 for k, u in enumerate(sorted({r[0] for r in train}, key=int))}
    items = {i: k + 1 for k, i in enumerate(sorted({r[1] for r in train}, key=int))}
    enc = lambda rs: (  # noqa: E731
        np.array([users.get(r[0], 0) for r in rs]), np.array([items.get(r[1], 0) for r in rs]),
        np.array([r[2] for r in rs]))
    u, i, r = enc(train)
    mu, params = fit(u, i, r, len(users) + 1, len(items) + 1)
    tu, ti, tr = enc(test)
    pred = predict(mu, params, tu, ti)
    rmse = float(np.sqrt(np.mean((pred - tr) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((mu - tr) ** 2)))
    cold = {"unknown_user": int(((tu == 0) & (ti != 0)).sum()), "unknown_item": int(((tu != 0) & (ti == 0)).sum()),
            "both": int(((tu == 0) & (ti == 0)).sum())}
    print(f"recsys: RMSE {rmse:.4f} (global mean {mean_rmse:.4f}); cold-start rows in test {cold}")

    root = package.MODELS / "recsys"
    root.mkdir(parents=True, exist_ok=True)
    export(str(root / "model.onnx"), mu, params)
    seen: dict[str, list[int]] = {}
    for ru, ri, _ in train:
        seen.setdefault(ru, []).append(items[ri])
    encoders = {
        "unknown_index": 0,
        "users": users,
        "items": items,
        "seen_items": {k: sorted(v) for k, v in seen.items()},
    }
    (root / "encoders.json").write_text(json.dumps(encoders, separators=(",", ":")) + "\n")
    hist = np.histogram(pred, bins=[1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5.0001])[0] / len(pred)
    meta = {
        "kind": "recsys", "name": "recsys", "version": VERSION, "format": "inferwatch-model/v1",
        "inputs": [{"name": "user", "dtype": "int64", "shape": ["batch"]},
                   {"name": "item", "dtype": "int64", "shape": ["batch"]}],
        "outputs": [{"name": "rating", "dtype": "float32", "shape": ["batch"]}],
        "labels": [],
        "featurizer": {"type": "id_encoders", "encoders": "encoders.json", "unknown_index": 0},
        "recsys": {
            "rating_range": [1.0, 5.0], "global_mean": round(mu, 6), "rank": RANK,
            "cold_start": {
                "known": "mu + b_user + b_item + p_user . q_item",
                "unknown_user": "mu + b_item (row 0 of the user tables is zero)",
                "unknown_item": "mu + b_user (row 0 of the item tables is zero)",
                "both": "mu (global mean)",
            },
            "top_k": "score every known item for the user, drop the user's already-rated items "
                     "(encoders.json seen_items), return the k highest; ties by lower item index",
        },
        "training_data": {"source": data.SOURCES["recsys"],
                          "split": "random 80/20 of ratings, numpy default_rng(0) permutation"},
        "metrics": {"held_out_examples": len(test), "rmse": round(rmse, 4),
                    "baseline": {"global_mean_rmse": round(mean_rmse, 4), "user_item_bias_rmse_data_md": 0.958},
                    "cold_start_rows_in_held_out": cold,
                    "hyperparameters": {"rank": RANK, "epochs": EPOCHS, "reg": REG, "reg_bias": REG_BIAS, "lr": LR}},
        "reference_distribution": {"rating_histogram": {
            "bounds": [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5], "frequencies": package.rounded(hist, 4)}},
    }
    sess = ort.InferenceSession(str(root / "model.onnx"))
    cases = [(a, b) for a, b, _ in test[:50]] + [("999999", "242"), ("196", "999999"), ("nobody", "nothing")]
    golden = []
    for cu, ci in cases:
        x = sess.run(None, {"user": np.array([users.get(cu, 0)]), "item": np.array([items.get(ci, 0)])})[0][0]
        golden.append({"input": {"user_id": cu, "item_id": ci}, "rating": round(float(x), 6)})
    # top-k for a few users, computed the way model.json says
    all_items = np.arange(1, len(items) + 1)
    inv = {v: k for k, v in items.items()}
    for cu in ["196", "1", "405"]:
        scores = sess.run(None, {"user": np.full(len(all_items), users[cu]), "item": all_items})[0]
        banned = set(encoders["seen_items"].get(cu, []))
        order = sorted((k for k in range(len(all_items)) if all_items[k] not in banned), key=lambda k: (-scores[k], k))
        golden.append({"input": {"user_id": cu, "k": 10},
                       "top_k": [{"item_id": inv[int(all_items[k])], "rating": round(float(scores[k]), 6)} for k in order[:10]]})
    package.finish("recsys", meta, golden)


if __name__ == "__main__":
    main()
