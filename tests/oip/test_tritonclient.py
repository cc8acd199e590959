"""The Open Inference Protocol routes, driven by a client no one here wrote: NVIDIA's
`tritonclient` (HTTP), which speaks the KServe v2 protocol. It starts the real server binary."""

from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from oip_server import serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    with serving(ROOT / "models") as c:
        yield c


def test_server_is_live_and_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "inferwatch"


def test_model_metadata_and_readiness(client):
    meta = client.get_model_metadata("sentiment")
    assert meta["name"] == "sentiment"
    assert [i["name"] for i in meta["inputs"]] == ["text"]
    assert client.is_model_ready("topic")
    assert not client.is_model_ready("no-such-model")


def test_sentiment_infer_with_bytes_tensor(client):
    text = httpclient.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array(["I love this", "I hate this"], dtype=object), binary_data=False)
    outs = [httpclient.InferRequestedOutput(n, binary_data=False) for n in ("label", "probabilities")]
    result = client.infer("sentiment", [text], outputs=outs)
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
    assert labels == ["positive", "negative"]
    probs = result.as_numpy("probabilities")
    assert probs.shape == (2, 3)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_recsys_infer_with_int_and_bytes_ids(client):
    user = httpclient.InferInput("user_id", [2], "INT64")
    user.set_data_from_numpy(np.array([196, 186], dtype=np.int64), binary_data=False)
    item = httpclient.InferInput("item_id", [2], "BYTES")
    item.set_data_from_numpy(np.array(["242", "302"], dtype=object), binary_data=False)
    result = client.infer("recsys", [user, item], outputs=[httpclient.InferRequestedOutput("rating", binary_data=False)])
    ratings = result.as_numpy("rating")
    assert ratings.shape == (2,)
    assert ((ratings >= 1) & (ratings <= 5)).all()


def test_trend_infer_with_request_parameters(client):
    values = httpclient.InferInput("values", [1, 36], "FP64")
    series = 10 + 0.5 * np.arange(36) + np.sin(np.arange(36) * np.pi / 6)
    values.set_data_from_numpy(series.reshape(1, 36), binary_data=False)
    result = client.infer(
        "trend", [values], parameters={"horizon": 6}, outputs=[httpclient.InferRequestedOutput("forecast", binary_data=False)]
    )
    assert result.as_numpy("forecast").shape == (1, 6)


def test_bad_input_is_a_clear_client_error(client):
    text = httpclient.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([""], dtype=object), binary_data=False)
    with pytest.raises(InferenceServerException, match="must not be empty"):
        client.infer("sentiment", [text])


# The client's default path: binary tensor data in (`set_data_from_numpy` without
# `binary_data=False`) and binary outputs back (no outputs named, so the client asks for
# `binary_data_output`). This is what tritonclient users write.


def test_sentiment_and_topic_on_the_default_binary_path(client):
    for model, texts in (("sentiment", ["I love this", "I hate this"]), ("topic", ["the space shuttle launch to orbit"])):
        text = httpclient.InferInput("text", [len(texts)], "BYTES")
        text.set_data_from_numpy(np.array(texts, dtype=object))
        result = client.infer(model, [text])
        labels = [x.decode() for x in result.as_numpy("label")]
        probs = result.as_numpy("probabilities")
        assert probs.dtype == np.float32 and probs.shape[0] == len(texts)
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        assert result.as_numpy("confidence").shape == (len(texts),)
        if model == "sentiment":
            assert labels == ["positive", "negative"]
        else:
            assert labels == ["sci.space"]


def test_email_on_the_default_binary_path(client):
    subject = httpclient.InferInput("subject", [2], "BYTES")
    subject.set_data_from_numpy(np.array(["WIN MONEY NOW", "meeting notes"], dtype=object))
    body = httpclient.InferInput("body", [2], "BYTES")
    body.set_data_from_numpy(np.array(["Click here to claim your free prize", "see you at 10 tomorrow, agenda attached"], dtype=object))
    result = client.infer("email", [subject, body])
    assert [x.decode() for x in result.as_numpy("label")] == ["spam", "ham"]
    spam = result.as_numpy("spam_probability")
    assert spam[0] > 0.5 > spam[1]


def test_recsys_on_the_default_binary_path_with_int64_ids(client):
    user = httpclient.InferInput("user_id", [2], "INT64")
    user.set_data_from_numpy(np.array([196, 186], dtype=np.int64))
    item = httpclient.InferInput("item_id", [2], "INT64")
    item.set_data_from_numpy(np.array([242, 302], dtype=np.int64))
    result = client.infer("recsys", [user, item])
    ratings = result.as_numpy("rating")
    assert ratings.dtype == np.float32 and ratings.shape == (2,)
    assert ((ratings >= 1) & (ratings <= 5)).all()
    assert [x.decode() for x in result.as_numpy("cold_start")] == ["none", "none"]


def test_trend_on_the_default_binary_path_with_a_horizon_tensor(client):
    series = 10 + 0.5 * np.arange(36) + np.sin(np.arange(36) * np.pi / 6)
    values = httpclient.InferInput("values", [36], "FP64")
    values.set_data_from_numpy(series)
    horizon = httpclient.InferInput("horizon", [1], "INT64")
    horizon.set_data_from_numpy(np.array([6], dtype=np.int64))
    result = client.infer("trend", [values, horizon])
    assert result.as_numpy("forecast").shape == (1, 6)
    assert result.as_numpy("season_length").dtype == np.int64
    assert result.as_numpy("direction")[0].decode() == "up"


def test_requested_binary_outputs_mix_with_json_ones(client):
    text = httpclient.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array(["what a lovely day"], dtype=object))
    outs = [httpclient.InferRequestedOutput("label"), httpclient.InferRequestedOutput("confidence", binary_data=False)]
    result = client.infer("sentiment", [text], outputs=outs)
    assert result.as_numpy("label")[0].decode() == "positive"
    assert result.as_numpy("confidence").shape == (1,)
    assert result.get_output("probabilities") is None


def test_bad_binary_input_is_a_clear_client_error(client):
    text = httpclient.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([""], dtype=object))
    with pytest.raises(InferenceServerException, match="must not be empty"):
        client.infer("sentiment", [text])
