"""The published package contract: every built-in `model.json` validates against
`docs/model-package.schema.json` (generated from the server's own types by `make generate`), and
the schema refuses what the server refuses by type: a missing required field, an unknown kind,
a tensor dimension that is neither a number nor a name."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs/model-package.schema.json").read_text())
PACKAGES = sorted(p for p in (ROOT / "models").glob("*/model.json"))


def validator():
    return jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("path", PACKAGES, ids=lambda p: p.parent.name)
def test_every_builtin_model_json_is_valid(path):
    errors = list(validator().iter_errors(json.loads(path.read_text())))
    assert not errors, [e.message for e in errors]


def test_there_are_five_builtin_packages():
    assert len(PACKAGES) == 5


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda m: m.pop("sha256"), "sha256"),
        (lambda m: m.pop("version"), "version"),
        (lambda m: m.update(kind="banana"), "banana"),
        (lambda m: m["inputs"][0].update(shape=[["batch"]]), "shape"),
        (lambda m: m["inputs"][0].pop("name"), "name"),
    ],
)
def test_a_broken_model_json_is_refused_naming_what_is_wrong(change, field):
    meta = copy.deepcopy(json.loads((ROOT / "models/sentiment/model.json").read_text()))
    change(meta)
    errors = list(validator().iter_errors(meta))
    assert errors, f"schema accepted a model.json without a valid {field}"
    assert any(field in e.message or field in "/".join(map(str, e.absolute_path)) for e in errors), [
        e.message for e in errors
    ]
