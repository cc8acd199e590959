"""compose.yaml is checked by a real Compose implementation: `docker-compose config` (Debian's
docker-compose 1.29, which parses and validates the file against the Compose specification
without a Docker engine), with the example environment file. Every file it mounts exists, and
the generated provisioning files it mounts are the ones `make generate` writes."""

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def config():
    out = subprocess.run(
        ["docker-compose", "--project-directory", str(ROOT), "--env-file", str(ROOT / ".env.example"),
         "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_file_is_valid_and_every_mounted_file_exists():
    assert shutil.which("docker-compose"), "make deps installs docker-compose"
    c = config()
    services = c["services"]
    for name in ["inference", "inference-mlflow", "redis", "redis-exporter", "minio", "mlflow", "prometheus", "alertmanager", "grafana",
                 "loki", "vector", "webhook"]:
        assert name in services, name
    for name, s in services.items():
        assert ":" in s.get("image", "x:local") and not s.get("image", "").endswith(":latest"), f"{name}: pin the image tag"
        for v in s.get("volumes", []):
            source = v["source"] if isinstance(v, dict) else v.split(":")[0]
            if source.startswith("/") and not source.startswith("/var/run"):
                assert Path(source).exists(), f"{name} mounts missing {source}"
    for name in ["inference", "redis", "minio", "mlflow", "prometheus", "alertmanager", "grafana", "loki"]:
        assert "healthcheck" in services[name], f"{name} has a health check"


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    out = subprocess.run(
        ["docker-compose", "--project-directory", str(ROOT), "--env-file", str(empty), "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode != 0 and "MINIO_ROOT_PASSWORD" in out.stderr, out.stderr
