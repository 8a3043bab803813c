"""Import every keras.applications model, verify the round trip, and print the table of docs/import.md.

    python tools/time_import.py [NAME ...] [--json results.json]

For each model (default input size, 1000-class top, weights=None): Keras layers and parameters, the
spec's line count factored and with --no-blocks, its blocks, the import time (reading, structuring,
factoring, writing; the model build excluded), and the round trip: parameters of the compiled spec and
the largest output difference with the weights copied across (see archspec.importer.verify). Models the
language cannot express get their first problem as the reason.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


KWARGS = {"MobileNetV3Small": {"input_shape": (224, 224, 3)}, "MobileNetV3Large": {"input_shape": (224, 224, 3)}}


def measure(name: str) -> dict:
    import keras

    from archspec.importer import UnsupportedModel, import_keras
    from archspec.importer.verify import roundtrip

    keras.backend.clear_session()
    gc.collect()
    model = getattr(keras.applications, name)(weights=None, **KWARGS.get(name, {}))
    row = {"model": name, "layers": len(model.operations) - len(model.inputs), "params": model.count_params()}
    try:
        t = time.perf_counter()
        result = import_keras(model, source=f"keras.applications.{name}")
        row["import_s"] = time.perf_counter() - t
    except UnsupportedModel as exc:
        classes = sorted({p.split("(")[1].split(")")[0] for p in exc.problems if "(" in p})
        row.update(ok=False, problems=len(exc.problems), classes=classes, reason=exc.problems[0])
        return row
    flat = import_keras(model, factor=False)
    row.update(lines=result.text.count("\n"), flat_lines=flat.text.count("\n"), blocks=result.stats["blocks"],
               residual=result.stats["residual"], branches=result.stats["branches"], wired=result.stats["wired"])
    t = time.perf_counter()
    report = roundtrip(model, result.text, kg=result.graph)
    row.update(verify_s=time.perf_counter() - t, params_spec=report.params_compiled, diff=report.max_abs_diff,
               diff_features=report.max_abs_diff_features, ok=report.exact)
    return row


def table(rows) -> str:
    out = ["| model | Keras layers | params | spec lines | --no-blocks | blocks | import | round trip |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if "lines" not in r:
            continue
        trip = (f"params equal, max \\|Δ\\| {r['diff']:.0e} (features {r['diff_features']:.0e})"
                if r["ok"] else "**differs**")
        out.append(f"| {r['model']} | {r['layers']} | {r['params']:,} | {r['lines']} | {r['flat_lines']} | "
                   f"{r['blocks']} | {r['import_s']:.2f} s | {trip} |")
    bad = [r for r in rows if "lines" not in r]
    if bad:
        out += ["", "| model | cannot be expressed | problems |", "| --- | --- | ---: |"]
        for r in bad:
            out.append(f"| {r['model']} | {r['reason']} | {r['problems']} |")
    return "\n".join(out)


def main():
    import keras

    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*")
    p.add_argument("--json")
    args = p.parse_args()
    names = args.names or [n for n in dir(keras.applications) if n[0].isupper()]
    rows = []
    for name in names:
        row = measure(name)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    print(table(rows))


if __name__ == "__main__":
    main()
