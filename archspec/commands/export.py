"""archspec export RUN|MODEL.keras --format saved_model|onnx|tflite: the trained model for inference,
through Keras's own model.export, checked in its own runtime against Keras (see docs/train.md)."""
from __future__ import annotations

import sys
from pathlib import Path

from .shared import EXIT_OK, UsageError, backend_option, open_or_usage, quiet_tensorflow, rescale_arg, use_backend, verbose_option

SUFFIX = {"saved_model": "", "onnx": ".onnx", "tflite": ".tflite", "keras": ".keras", "h5": ".h5"}


def configure(p):
    p.add_argument("target", metavar="RUN|MODEL.keras", help="a run folder written by `archspec train`, or a .keras file")
    p.add_argument("--format", required=True, choices=["saved_model", "onnx", "tflite", "keras", "h5"],
                   help="TensorFlow SavedModel folder, ONNX, TFLite (LiteRT), or Keras's own formats")
    p.add_argument("-o", "--output", metavar="PATH", help="default: RUN/<spec name>.onnx, .tflite, or "
                                                         "RUN/saved_model/")
    p.add_argument("--model", choices=["best", "last"], help="which model of a run (default: the one its test "
                                                              "metrics were measured with)")
    p.add_argument("--raw", action="store_true", help="the bare network, without the run's rescale/flatten in front")
    p.add_argument("--rescale", type=rescale_arg, help="put this rescaling in front (a bare .keras model)")
    backend_option(p)
    verbose_option(p)


def run(args) -> int:
    quiet_tensorflow(args.verbose)      # before TensorFlow loads: no start-up chatter
    use_backend(args)
    from ..errors import Diagnostic, Loc, SpecError
    from ..train.export import ExportError, check_supported, describe, export_run_model

    try:
        check_supported(args.format)
    except ExportError as exc:
        raise SpecError([Diagnostic("export-unsupported", str(exc), Loc(args.target))]) from None
    target = open_or_usage(args.target, args.model, args.rescale)
    name = target.spec.name if target.spec is not None else target.model_path.stem
    out = Path(args.output) if args.output else (
        target.default_out / ("saved_model" if args.format == "saved_model" else name + SUFFIX[args.format]))
    if out.resolve() == target.model_path.resolve():
        raise UsageError(f"-o {out} would overwrite the model it exports")
    if args.output and args.format != "saved_model" and out.suffix.lower() != SUFFIX[args.format]:
        raise UsageError(f"-o {out}: a {args.format} file ends with {SUFFIX[args.format]}")
    try:
        done = export_run_model(target.model, out, target.settings, target.meta.get("sample_shape"),
                                target.spec.to_keras if target.spec is not None else None, args.raw, args.format)
    except ExportError as exc:
        raise SpecError([Diagnostic("export-unsupported", str(exc), Loc(str(target.model_path)))]) from None
    sys.stdout.write(describe(done))
    return EXIT_OK

