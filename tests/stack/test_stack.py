"""`make stack` end to end: the whole monitoring stack without Kubernetes, as a person would start
it. Every Prometheus target is up, every generated rule group is loaded, predictions work through
the S3-backed and the MLflow-backed servers, stopping the server delivers the critical alert to
the page webhook (this test is that webhook's receiver), and `make stack-down` leaves no process.
Real parts throughout: redis-server, SeaweedFS, mlflow server, Prometheus, Alertmanager."""

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".cache/stack"
PORTS = dict(
    line.split("=", 1) for line in (ROOT / "deploy/local/ports.env").read_text().splitlines() if line and not line.startswith("#")
)


def url(name, path=""):
    return f"http://127.0.0.1:{PORTS[name]}{path}"


def get(u):
    with urllib.request.urlopen(u, timeout=10) as r:
        return json.loads(r.read())


def post(u, body):
    req = urllib.request.Request(u, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


class Webhooks:
    """The page / team / digest receivers Alertmanager posts to."""

    def __init__(self, port):
        self.seen = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                seen.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, path, alertname, status, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p, body in list(self.seen):
                alerts = body.get("alerts", [])
                if p == path and any(a["labels"].get("alertname") == alertname and a["status"] == status for a in alerts):
                    return body
            time.sleep(1)
        raise AssertionError(f"no {status} {alertname} at {path} within {timeout} s; got {self.seen}")


def pids():
    return {f.stem: int(f.read_text()) for f in STATE.glob("*.pid")}


def running(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def stack():
    hooks = Webhooks(int(PORTS["WEBHOOK_PORT"]))
    env = dict(os.environ, SERVER_BIN=os.environ.get("SERVER_BIN", str(ROOT / "target/debug/inference-server")))
    subprocess.run(["./scripts/stack.sh", "down"], cwd=ROOT, check=True, capture_output=True)
    # A fresh stack, as on a new machine: Alertmanager's notification log from an earlier run
    # would (rightly) not page again for an alert it already paged for within the hour.
    shutil.rmtree(STATE, ignore_errors=True)
    up = subprocess.run(["./scripts/stack.sh", "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    started = pids()
    try:
        yield hooks, started
    finally:
        down = subprocess.run(["make", "stack-down"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        hooks.server.shutdown()
    deadline = time.time() + 5
    while any(running(pid) for pid in started.values()) and time.time() < deadline:
        time.sleep(0.1)
    left = [name for name, pid in started.items() if running(pid)]
    assert not left, f"still running after make stack-down: {left}"
    strays = subprocess.run(["pgrep", "-f", str(STATE)], capture_output=True, text=True).stdout.split()
    assert not strays, f"processes still using {STATE}: {strays}"


def test_the_stack_runs_end_to_end_and_stops_clean(stack):
    hooks, started = stack
    assert set(started) >= {"redis", "seaweedfs", "mlflow", "alertmanager", "prometheus", "inference", "inference-mlflow"}

    # Every target is up (the first scrapes may still be pending).
    deadline = time.time() + 60
    while True:
        targets = get(url("PROMETHEUS_PORT", "/api/v1/targets"))["data"]["activeTargets"]
        down = [(t["labels"]["job"], t["scrapeUrl"], t["health"]) for t in targets if t["health"] != "up"]
        if targets and not down:
            break
        assert time.time() < deadline, f"targets not up: {down}"
        time.sleep(1)
    assert {t["labels"]["job"] for t in targets} == {"inferwatch", "prometheus", "alertmanager", "seaweedfs"}

    # Every generated rule group is loaded.
    generated = yaml.safe_load((ROOT / "alerts/inferwatch-rules.yaml").read_text())["groups"]
    loaded = get(url("PROMETHEUS_PORT", "/api/v1/rules"))["data"]["groups"]
    assert sorted(g["name"] for g in loaded) == sorted(g["name"] for g in generated)
    assert sum(len(g["rules"]) for g in loaded) == sum(len(g["rules"]) for g in generated)

    # Predictions through the S3 store and through the MLflow registry.
    status, answer = post(url("INFERENCE_PORT", "/v1/models/sentiment/predict"), {"text": "I love this movie"})
    assert (status, answer["label"]) == (200, "positive")
    assert get(url("INFERENCE_PORT", "/v1/models/topic"))["source"].startswith("s3://models/builtin/")
    status, answer = post(url("INFERENCE_MLFLOW_PORT", "/v1/models/sentiment/predict"), {"text": "awful, boring"})
    assert (status, answer["label"]) == (200, "negative")
    assert get(url("INFERENCE_MLFLOW_PORT", "/v1/models/sentiment"))["source"].startswith("mlflow:models:/sentiment/")
    assert get(url("INFERENCE_PORT", "/storage/health"))["status"] == "ok"
    assert get(url("INFERENCE_MLFLOW_PORT", "/mlflow/health"))["status"] == "ok"

    # Stop a part: the server behind the S3 store. The critical alert reaches the page webhook
    # (InferwatchTargetDown, `for: 2m` as on Kubernetes, then Alertmanager's 10 s group wait).
    os.killpg(started["inference"], 15)
    body = hooks.wait_for("/page", "InferwatchTargetDown", "firing", timeout=240)
    alert = next(a for a in body["alerts"] if a["labels"]["alertname"] == "InferwatchTargetDown")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["instance"] == f"127.0.0.1:{PORTS['INFERENCE_PORT']}"
