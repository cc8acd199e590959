"""Register built-in model packages in an MLflow registry.

For each package: one run under the experiment `inferwatch-builtin` logs the package files
(golden.json left out) as the run's `model` artifacts (into the server's S3 artifact store), a
model version is created from them, and the alias (default `champion`) points at it. Prints one
JSON line per registered version.

    python register_models.py --tracking-uri http://127.0.0.1:5000 --models-dir models sentiment topic
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


def register(client: MlflowClient, models_dir: Path, name: str, alias: str) -> dict:
    package = models_dir / name
    meta = json.loads((package / "model.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "model"
        shutil.copytree(package, staged, ignore=shutil.ignore_patterns("golden.json"))
        with mlflow.start_run(run_name=f"builtin-{name}") as run:
            mlflow.log_params({"kind": meta.get("kind"), "package_version": meta.get("version")})
            mlflow.log_artifacts(str(staged), artifact_path="model")
    try:
        client.create_registered_model(name)
    except MlflowException as e:
        if "RESOURCE_ALREADY_EXISTS" not in str(e):
            raise
    source = f"{run.info.artifact_uri}/model"
    version = client.create_model_version(name, source=source, run_id=run.info.run_id)
    client.set_registered_model_alias(name, alias, version.version)
    return {"name": name, "version": version.version, "run_id": run.info.run_id, "source": source, "alias": alias}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--models-dir", type=Path, required=True)
    p.add_argument("--alias", default="champion")
    p.add_argument("names", nargs="+")
    args = p.parse_args()
    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment("inferwatch-builtin")
    client = MlflowClient()
    for name in args.names:
        print(json.dumps(register(client, args.models_dir, name, args.alias)), flush=True)


if __name__ == "__main__":
    main()
