#!/usr/bin/env python3
"""Online-learning baselines for Weir's model benchmark: River and Vowpal Wabbit.

Each baseline runs a prequential (test-then-train) loop over the same rows:
predict the probability of the label, count (p > 0.5) == label, then learn the
row. Only that loop is timed (time.perf_counter); reading and parsing the
JSON-lines file, and building VW's example strings, happen before the clock
starts. One JSON object per baseline goes to stdout, e.g.

  {"baseline": "river", "version": "0.26.1", "rows": 20000, "seconds": 0.41,
   "rows_per_s": 48780, "accuracy": 0.851}

notes (skipped lines, settings) go to stderr.

Baselines:
  river  preprocessing.StandardScaler() | linear_model.LogisticRegression(),
         River defaults (SGD, lr 0.01).
  vw     vowpalwabbit.Workspace("--loss_function logistic --link logistic
         --quiet"), VW defaults otherwise (adaptive, normalized, invariant
         updates, lr 0.5, 18-bit hashing, bias feature); features in one
         namespace "f" as "name:value", labels 1 / -1; --link logistic makes
         predict() return a probability. Each example string is built before
         timing and parsed once inside the loop (ws.parse), as a streaming VW
         user would.

This script installs nothing. benches/models.sh provides the pinned packages
in a virtual environment outside the repository and runs the script with that
environment's python:

  python3 -m venv ~/.cache/weir/tools/baselines-venv
  ~/.cache/weir/tools/baselines-venv/bin/pip install --only-binary=:all: \
      river==0.26.1 vowpalwabbit==9.11.9
  ~/.cache/weir/tools/baselines-venv/bin/python benches/models_baselines.py \
      --input bench-data/traffic-1000000.json --limit 200000

(vowpalwabbit 9.11.0 was never published on PyPI; 9.11.9 is the 9.11 release
with a CPython 3.11 manylinux wheel. Both packages install from wheels in about
15 s on a 2-core machine; river pulls numpy, scipy and narwhals.)

Usage:
  models_baselines.py --input FILE [--features speed,volume,occupancy]
                      [--label congested] [--limit N] [--only river|vw|all]

Lines that are not JSON objects, lack a feature or the label, have a
non-numeric or non-finite feature, or a label that is not a JSON boolean are
skipped and counted (reported on stderr). Exit status 1 if a requested
baseline could not be imported.
"""
import argparse
import json
import math
import sys
import time
from importlib.metadata import PackageNotFoundError, version


def note(msg):
    print(msg, file=sys.stderr)


def load(path, features, label, limit):
    """Read up to `limit` valid rows as (list of feature dicts, list of bools, skipped)."""
    xs, ys, skipped = [], [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if limit is not None and len(xs) >= limit:
                break
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                y = obj[label]
                if not isinstance(y, bool):
                    raise ValueError("label is not a boolean")
                x = {}
                for name in features:
                    v = obj[name]
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        raise ValueError("feature is not a number")
                    v = float(v)
                    if not math.isfinite(v):
                        raise ValueError("feature is not finite")
                    x[name] = v
            except (ValueError, KeyError, TypeError, IndexError, OverflowError, RecursionError):
                # JSONDecodeError is a ValueError; a non-object line raises
                # TypeError/KeyError/IndexError on obj[label]; a huge integer
                # OverflowError in float(); deeply nested JSON RecursionError.
                skipped += 1
                continue
            xs.append(x)
            ys.append(y)
    return xs, ys, skipped


def pkg_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def run_river(xs, ys):
    from river import linear_model, preprocessing

    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    correct = 0
    t = time.perf_counter()
    for x, y in zip(xs, ys):
        p = model.predict_proba_one(x).get(True, 0.0)
        correct += (p > 0.5) == y
        model.learn_one(x, y)
    return time.perf_counter() - t, correct, pkg_version("river")


def run_vw(xs, ys):
    import vowpalwabbit

    # repr() keeps full precision; VW's parser reads exponents too.
    exs = [
        ("1" if y else "-1") + " |f " + " ".join(f"{k}:{v!r}" for k, v in x.items())
        for x, y in zip(xs, ys)
    ]
    ws = vowpalwabbit.Workspace("--loss_function logistic --link logistic --quiet")
    correct = 0
    try:
        t = time.perf_counter()
        for line, y in zip(exs, ys):
            # Parse once and reuse the example: passing the string to both
            # predict() and learn() would parse it twice (~30% slower).
            ex = ws.parse(line)
            p = ws.predict(ex)  # predict() does not learn, even on a labelled example
            correct += (p > 0.5) == y
            ws.learn(ex)
            ws.finish_example(ex)
        seconds = time.perf_counter() - t
    finally:
        ws.finish()
    return seconds, correct, pkg_version("vowpalwabbit")


BASELINES = {"river": run_river, "vw": run_vw}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="JSON-lines file")
    ap.add_argument("--features", default="speed,volume,occupancy", help="comma list")
    ap.add_argument("--label", default="congested", help="boolean label field")
    ap.add_argument("--limit", type=int, default=None, help="rows to use (default all)")
    ap.add_argument("--only", choices=["river", "vw", "all"], default="all")
    args = ap.parse_args()

    features = [f.strip() for f in args.features.split(",") if f.strip()]
    if not features:
        ap.error("--features is empty")
    bad = [f for f in features if any(c in f for c in " \t|:")]
    if bad:
        ap.error(f"feature names must not contain space, tab, '|' or ':' (VW syntax): {bad}")

    xs, ys, skipped = load(args.input, features, args.label, args.limit)
    note(f"{len(xs)} rows from {args.input}, {skipped} malformed lines skipped")
    if not xs:
        note("no usable rows")
        return 1

    status = 0
    for name in (["river", "vw"] if args.only == "all" else [args.only]):
        try:
            seconds, correct, ver = BASELINES[name](xs, ys)
        except ImportError as e:
            note(f"{name}: not available ({e}); see the install notes at the top of this script")
            status = 1
            continue
        print(json.dumps({
            "baseline": name,
            "version": ver,
            "rows": len(xs),
            "seconds": round(seconds, 4),
            "rows_per_s": round(len(xs) / seconds) if seconds > 0 else None,
            "accuracy": round(correct / len(xs), 4),
        }), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
