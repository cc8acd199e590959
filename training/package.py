"""Write a model package: model.onnx, model.json (with the sha256 of model.onnx), side files and
golden.json (raw inputs with the outputs the Python side computes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "models"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")


def finish(name: str, meta: dict, golden: list[dict]) -> Path:
    """Complete model.json with the checksum and file sizes, and write golden.json."""
    root = MODELS / name
    onnx_path = root / "model.onnx"
    meta["sha256"] = sha256(onnx_path)
    write_json(root / "model.json", meta)
    write_json(root / "golden.json", {"model": name, "tolerance": 1e-4, "cases": golden})
    return root


def rounded(values, digits: int = 7):
    return [round(float(v), digits) for v in values]
