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
    """The round-trip table of docs/import.md (and the models that cannot be expressed, by class)."""
    out = ["| model | Keras layers | params | spec lines | blocks | `--no-blocks` | residual / branches / wired "
           "| import | verify | max \\|Δ\\| outputs, features |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
    for r in sorted((r for r in rows if "lines" in r), key=lambda r: r["model"]):
        same = "" if r["ok"] and r["params_spec"] == r["params"] else " **differs**"
        out.append(f"| {r['model']} | {r['layers']} | {r['params']:,} | {r['lines']} | {r['blocks']} | "
                   f"{r['flat_lines']} | {r['residual']} / {r['branches']} / {r['wired']} | {r['import_s']:.2f} s | "
                   f"{r['verify_s']:.1f} s | {r['diff']:g}, {r['diff_features']:g}{same} |")
    bad = [r for r in rows if "lines" not in r]
    if bad:
        out += ["", "| model | layers it cannot express | problems |", "| --- | --- | ---: |"]
        for r in sorted(bad, key=lambda r: r["model"]):
            classes = ", ".join(c.rsplit(".", 1)[-1] for c in r["classes"])
            out.append(f"| {r['model']} | {classes} | {r['problems']} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*")
    p.add_argument("--json", help="write the measurements to this file as they come")
    p.add_argument("--table", metavar="JSON", help="print the table of earlier measurements, measure nothing")
    args = p.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table(json.load(f)))
        return
    import keras

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
