"""archspec inspect RUN_DIR: look inside a trained run — its summary and layers, the first
convolution's kernels (--kernels) and nearest neighbours in a hidden layer's embedding (--neighbours N
--layer NAME), as in seed notebook 001."""
from __future__ import annotations

from pathlib import Path

from .shared import EXIT_OK, UsageError, backend_option, positive_int, quiet_tensorflow, shown, use_backend, verbose_option


def configure(p):
    p.add_argument("run", metavar="RUN_DIR", help="a run folder written by `archspec train`")
    p.add_argument("--kernels", action="store_true",
                   help="draw the first convolution's kernels (or --layer's) as an image grid: RUN_DIR/kernels.png")
    p.add_argument("--neighbours", "--neighbors", type=positive_int, metavar="N",
                   help="the N nearest neighbours of --sample in the embedding of --layer: RUN_DIR/neighbours.png")
    p.add_argument("--layer", metavar="NAME", help="a layer's Keras name or spec scope path (`archspec inspect RUN_DIR` "
                                                   "lists them)")
    p.add_argument("--sample", type=int, default=0, help="index of the query image in --split (default 0)")
    p.add_argument("--split", choices=["test", "validation", "train"], default="test",
                   help="which part of the run's data --sample and the neighbours come from (default test)")
    p.add_argument("--limit", type=positive_int, default=1000, help="search among the first N images of the split")
    p.add_argument("--model", choices=["best", "last"], default="best", help="which saved model (default best)")
    p.add_argument("-o", "--output", help="image file to write (default: in RUN_DIR)")
    backend_option(p)
    verbose_option(p)


def run(args) -> int:
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise UsageError(f"{args.run} is not a folder")
    if args.neighbours and not args.layer:
        raise UsageError("--neighbours needs --layer NAME: the hidden layer whose output is the embedding")
    if args.kernels and args.neighbours and args.output:
        raise UsageError("-o names one image; ask for --kernels or --neighbours, not both")
    use_backend(args)
    quiet_tensorflow(args.verbose)
    from ..train.inspection import InspectError, kernel_grid, layer_table, load_run, neighbours

    try:
        if args.neighbours:
            out = Path(args.output) if args.output else run_dir / "neighbours.png"
            found = neighbours(run_dir, args.layer, args.neighbours, args.sample, args.split, args.limit, out,
                               args.model)
            s = found["sample"]
            print(f"{found['layer']} ({found['dimensions']} values): nearest {len(found['neighbours'])} of "
                  f"{args.split} image #{s['index']} (label {s['label']}) among {found['searched']}:")
            for nb in found["neighbours"]:
                print(f"  #{nb['index']:<6} label {nb['label']:<10} distance {nb['distance']:.4g}")
            print(f"{found['same_label']} of {len(found['neighbours'])} share its label; drawn in {shown(out)}")
        if args.kernels:
            out = Path(args.output) if args.output else run_dir / "kernels.png"
            _, _, model = load_run(run_dir, args.model)
            name = kernel_grid(model, out, args.layer)
            print(f"kernels of {name}: {shown(out)}")
        if not (args.kernels or args.neighbours):
            run, _, model = load_run(run_dir, args.model)
            if run.summary.exists():
                print(run.summary.read_text(encoding="utf-8"), end="")
            print("layers (name, class, output shape):")
            rows = layer_table(model)
            w = max(len(r[0]) for r in rows)
            for name, cls, shape in rows:
                print(f"  {name:<{w}}  {cls:<20} {shape}")
    except InspectError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK
