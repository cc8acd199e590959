"""A team's transformer text classifier (tests/fixtures/transformer_package.py: a BERT-style
graph with its Hugging Face tokenizer) through `tritonclient` in its default mode (binary tensor
data): the server's probabilities equal onnxruntime's golden ones to 1e-4."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from oip_server import serving

ROOT = Path(__file__).resolve().parents[2]
NAME = "bert-sentiment"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    subprocess.run([sys.executable, str(ROOT / "tests/fixtures/transformer_package.py"), str(models / NAME)],
                   check=True, stdout=subprocess.DEVNULL)
    with serving(models) as client:
        yield client, json.loads((models / NAME / "golden.json").read_text())


def test_transformer_probabilities_equal_onnxruntimes_on_the_binary_path(served):
    client, golden = served
    texts = [c["input"]["text"] for c in golden["cases"]]
    want = np.array([c["probabilities"] for c in golden["cases"]], dtype=np.float64)
    text = httpclient.InferInput("text", [len(texts)], "BYTES")
    text.set_data_from_numpy(np.array(texts, dtype=object))
    result = client.infer(NAME, [text])
    probs = result.as_numpy("probabilities")
    assert probs.dtype == np.float32 and probs.shape == want.shape
    assert np.abs(probs - want).max() <= golden["tolerance"]
    labels = [x.decode() for x in result.as_numpy("label")]
    assert labels == [["negative", "neutral", "positive"][i] for i in want.argmax(axis=1)]


def test_transformer_metadata_names_its_version(served):
    client, _ = served
    meta = client.get_model_metadata(NAME)
    assert meta["versions"] == ["0.1.0"]
    assert [i["name"] for i in meta["inputs"]] == ["text"]
