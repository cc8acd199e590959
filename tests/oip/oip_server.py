"""The real server binary for the OIP client tests, started on a free loopback port."""

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

import tritonclient.http as httpclient

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serving(model_dir):
    """The server over `model_dir`, and a tritonclient once it is ready; stopped cleanly after."""
    binary = os.environ.get("SERVER_BIN", str(ROOT / "target/debug/inference-server"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--model-dir", str(model_dir), "--log", "warn"]
    )
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    deadline = time.time() + 30
    while True:
        try:
            if client.is_server_ready():
                break
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        assert time.time() < deadline, "server never became ready"
        time.sleep(0.1)
    yield client
    proc.terminate()
    assert proc.wait(timeout=10) == 0
