"""Every generated dashboard against Grafana's own schema types (grafana-foundation-sdk, the
Python models generated from Grafana's CUE schemas).

The SDK's `from_json` decodes leniently, so strictness is added here: the dashboard is decoded
into the typed models (wrong shapes raise), re-encoded, and every key and value of the
original must survive the round trip. A key the schema does not know is dropped by the
decoder, so it fails the test."""

import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "dashboards").glob("*.json"))
plugins.register_default_plugins()


def missing(original, decoded, path="$"):
    """Paths present in `original` but absent or different in `decoded`."""
    out = []
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [f"{path}: expected an object, schema gave {type(decoded).__name__}"]
        for k, v in original.items():
            if k not in decoded:
                out.append(f"{path}.{k}: not in Grafana's schema")
            else:
                out += missing(v, decoded[k], f"{path}.{k}")
    elif isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [f"{path}: list changed in the round trip"]
        for i, (a, b) in enumerate(zip(original, decoded)):
            out += missing(a, b, f"{path}[{i}]")
    elif original != decoded and not (isinstance(original, (int, float)) and isinstance(decoded, (int, float)) and float(original) == float(decoded)):
        out.append(f"{path}: {original!r} became {decoded!r}")
    return out


def test_every_shipped_dashboard_is_checked():
    names = {p.stem for p in FILES}
    kinds = {f"inferwatch-model-{k}" for k in ("sentiment", "topic", "email", "recsys", "trend", "tabular")}
    assert names == kinds | {"inferwatch-executive", "inferwatch-technical", "inferwatch-capacity"}, names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_dashboard_round_trips_through_grafana_schema_types(path):
    original = json.loads(path.read_text())
    decoded = json.loads(json.dumps(Dashboard.from_json(original), cls=JSONEncoder))
    problems = missing(original, decoded)
    assert not problems, "\n".join(problems)
