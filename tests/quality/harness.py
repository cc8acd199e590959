"""What the quality tests share: the real server binary and a real Prometheus loaded with the
shipped rules (alerts/inferwatch-rules.yaml; the only change a test may make is a shorter `for:`
on the alerts it watches), and a small JSON-over-HTTP client."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def wait(what, fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = fn()
            if value is not None:
                return value
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def query(prom, expr):
    r = get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert r["status"] == "success", r
    return r["data"]["result"]


@contextlib.contextmanager
def servers_and_prometheus(jobs, server_args, fast_alerts, prefix):
    """Start one server per job name (each with `server_args`) and a Prometheus scraping them
    every second with the shipped rules, `fast_alerts` having `for: 5s`. Yields ({job: base URL},
    Prometheus URL) once every server is ready; stops everything after."""
    server_bin = os.environ.get("SERVER_BIN", str(ROOT / "target/debug/inference-server"))
    prometheus = shutil.which("prometheus")
    if not Path(server_bin).exists() or prometheus is None:
        pytest.fail(f"needs the server binary ({server_bin}) and prometheus (make deps installs it)")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    ports = {job: free_port() for job in jobs}
    procs = [subprocess.Popen([server_bin, "--host", "127.0.0.1", "--port", str(p), "--model-dir", str(ROOT / "models"),
                               "--log", "warn", *server_args]) for p in ports.values()]
    rules = yaml.safe_load((ROOT / "alerts/inferwatch-rules.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in fast_alerts:
                rule["for"] = "5s"
    (work / "rules.yaml").write_text(yaml.safe_dump(rules))
    (work / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}"]}]}
                           for job, p in ports.items()],
    }))
    pp = free_port()
    procs.append(subprocess.Popen(
        [prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{pp}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    bases = {job: f"http://127.0.0.1:{p}" for job, p in ports.items()}
    try:
        for base in bases.values():
            wait("a server to be ready", lambda base=base: get(f"{base}/ready") or None, timeout=120)
        yield bases, f"http://127.0.0.1:{pp}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
