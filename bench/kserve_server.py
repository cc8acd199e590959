"""KServe's own Python model server (`kserve.ModelServer` with `kserve.Model` subclasses): what
KServe users write for custom models, serving the five model packages (ref_models.py) on KServe's
v1 (`POST /v1/models/<name>:predict`, `{"instances": [...]}`) and v2 (Open Inference Protocol,
`POST /v2/models/<name>/infer`) routes. Recommendations are the model `recsys-recommend`
(instances `{"user_id", "k"}`): v1 has no second verb.

Run as `python kserve_server.py --http_port P --workers 2 --enable_grpc false
--enable_latency_logging false --log_config_file kserve_logging.json` (one worker per core; the
per-request latency and access logs off, as a tuned deployment would)."""

from __future__ import annotations

import uuid

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer

import ref_models


_LOADED: dict = {}


def loaded() -> dict:
    """The models of this process (KServe pickles the Model objects into each worker process,
    and onnxruntime sessions do not pickle: each worker loads its own on first use)."""
    if not _LOADED:
        _LOADED.update(ref_models.load_all())
    return _LOADED


class Served(Model):
    def __init__(self, name: str, key: str, recommend: bool = False):
        super().__init__(name)
        self.key = key
        self.recommend = recommend
        self.ready = True

    @property
    def model(self):
        return loaded()[self.key]

    def items(self, payload) -> list[dict]:
        if isinstance(payload, InferRequest):
            # v2: text models take a BYTES tensor called "text".
            texts = payload.inputs[0].data
            return [{"text": t.decode() if isinstance(t, bytes) else t} for t in texts]
        return payload["instances"]

    async def predict(self, payload, headers=None, response_headers=None):
        items = self.items(payload)
        if self.recommend:
            results = [self.model.recommend(i["user_id"], int(i.get("k", 10))) for i in items]
        else:
            results = self.model.predict(items)
        if isinstance(payload, InferRequest):
            labels = np.array([r["label"] for r in results], dtype=np.object_)
            confidence = np.array([r["confidence"] for r in results], dtype=np.float32)
            out_label = InferOutput(name="label", shape=[len(results)], datatype="BYTES")
            out_label.set_data_from_numpy(labels, binary_data=False)
            out_conf = InferOutput(name="confidence", shape=[len(results)], datatype="FP32")
            out_conf.set_data_from_numpy(confidence, binary_data=False)
            return InferResponse(model_name=self.name, infer_outputs=[out_label, out_conf],
                                 response_id=payload.id or str(uuid.uuid4()))
        return {"predictions": results}


if __name__ == "__main__":
    served = [Served(name, name) for name in ("sentiment", "topic", "email", "recsys", "trend")]
    served.append(Served("recsys-recommend", "recsys", recommend=True))
    ModelServer().start(served)
