"""FastAPI reference servers of `make bench`, serving the five model packages (ref_models.py).

- `app`: FastAPI as its documentation recommends for production: `async def` handlers with
  declared return types, run by uvicorn with uvloop and httptools, one worker per core. (FastAPI
  0.165 deprecates the ORJSON response class: with a declared return type Pydantic serializes
  straight to JSON bytes, which its docs call faster; measured here on sentiment, 6,300 against
  5,800 requests/s for `ORJSONResponse`, so the faster one is the reference.)
- `app_sync`: the original design the project replaced (plain `def` handlers run in the thread
  pool, the default JSON response, uvicorn's pure-Python loop and parser); kept as a second row.

Routes mirror the Rust server's v1 routes: POST /v1/models/{name}/predict with one item, or
{"inputs": [...]} for several; POST /v1/models/recsys/recommend; GET /health."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import ref_models

MODELS = ref_models.load_all()


class Recommend(BaseModel):
    user_id: str
    k: int = 10


def run(name: str, body: dict[str, Any]) -> dict:
    model = MODELS.get(name)
    if model is None:
        raise HTTPException(404, f"model '{name}' not found")
    items = body.get("inputs")
    if isinstance(items, list):
        if not items or len(items) > 256:
            raise HTTPException(422, "inputs must hold 1 to 256 items")
        return {"model": name, "predictions": model.predict(items)}
    try:
        return {"model": name, **model.predict([body])[0]}
    except (KeyError, TypeError, ValueError) as e:
        raise HTTPException(422, f"invalid input: {e}") from e


app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/models/{name}/predict")
async def predict(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return run(name, body)


@app.post("/v1/models/recsys/recommend")
async def recommend(body: Recommend) -> dict[str, Any]:
    return MODELS["recsys"].recommend(body.user_id, body.k)


app_sync = FastAPI()


@app_sync.get("/health")
def health_sync():
    return {"status": "ok"}


@app_sync.post("/v1/models/{name}/predict")
def predict_sync(name: str, body: dict[str, Any]):
    return run(name, body)


@app_sync.post("/v1/models/recsys/recommend")
def recommend_sync(body: Recommend):
    return MODELS["recsys"].recommend(body.user_id, body.k)
