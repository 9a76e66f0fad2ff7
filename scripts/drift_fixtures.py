#!/usr/bin/env python3
"""Writes the drift-detector fixtures that Weir's detectors are tested against.

For seeded Bernoulli and Gaussian streams with known change points, records
where River's detectors fire: the 0-based index i at which `drift_detected`
is true right after `update(x[i])` (and `warning_detected` for DDM). Run it
once with River installed (benches/models.sh creates the venv):

    ~/.cache/weir/tools/baselines-venv/bin/python scripts/drift_fixtures.py [detector ...]

and commit tests/fixtures/drift/*.json. The Rust tests
(operators/tests/drift.rs) replay the same values and require the same
indices.
"""
import json
import pathlib
import random

import river
from river import drift

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "drift"


def bernoulli(seed, n, change_at, p0, p1):
    rng = random.Random(seed)
    return [int(rng.random() < (p0 if i < change_at else p1)) for i in range(n)]


def gaussian(seed, n, change_at, mu0, mu1, sigma):
    rng = random.Random(seed)
    return [rng.gauss(mu0 if i < change_at else mu1, sigma) for i in range(n)]


STREAMS = {
    "bernoulli_0.2_to_0.6_at_1000": bernoulli(1, 2000, 1000, 0.2, 0.6),
    "bernoulli_0.1_to_0.3_at_1500": bernoulli(2, 3000, 1500, 0.1, 0.3),
    "bernoulli_0.3_steady": bernoulli(3, 3000, 3000, 0.3, 0.3),
    "gaussian_0_to_3_at_1000": gaussian(4, 2000, 1000, 0.0, 3.0, 1.0),
    "gaussian_0_to_0.5_at_2000": gaussian(5, 4000, 2000, 0.0, 0.5, 1.0),
    "gaussian_steady": gaussian(6, 3000, 3000, 0.0, 0.0, 1.0),
}

DETECTORS = {
    "adwin": (drift.ADWIN, [{}, {"delta": 0.01}, {"delta": 0.002, "clock": 1, "grace_period": 5}]),
    "page_hinkley": (drift.PageHinkley, [{}, {"threshold": 10.0, "min_instances": 20}, {"mode": "up", "threshold": 20.0}]),
    "ddm": (drift.binary.DDM, [{}, {"warm_start": 50, "warning_threshold": 1.5, "drift_threshold": 2.5}]),
    # KSWIN draws with Python's random.Random(seed): River's default seed
    # (None) is not reproducible, so every case names one. The last case's
    # population (294 of 300) is large enough for CPython's set-based
    # sampling; the others use its pool.
    "kswin": (drift.KSWIN, [{"seed": 1}, {"seed": 7, "alpha": 0.01, "window_size": 60, "stat_size": 20},
                            {"seed": 3, "alpha": 0.01, "window_size": 300, "stat_size": 6}]),
}


def main(only=None):
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (cls, param_sets) in DETECTORS.items():
        if only and name not in only:
            continue
        cases = []
        for stream_name, values in STREAMS.items():
            if name == "ddm" and not stream_name.startswith("bernoulli"):
                continue  # DDM watches an error rate: 0/1 values
            for params in param_sets:
                detector = cls(**params)
                drifts, warnings = [], []
                for i, x in enumerate(values):
                    detector.update(x)
                    if detector.drift_detected:
                        drifts.append(i)
                    if getattr(detector, "warning_detected", False):
                        warnings.append(i)
                cases.append({"stream": stream_name, "params": params, "drifts": drifts, "warnings": warnings})
        used = {c["stream"] for c in cases}
        doc = {"detector": name, "river": river.__version__,
               "streams": {k: v for k, v in STREAMS.items() if k in used}, "cases": cases}
        (OUT / f"{name}.json").write_text(json.dumps(doc))
        print(name, [(c["stream"], c["params"], c["drifts"][:5]) for c in cases])


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])  # detector names, or none for all
