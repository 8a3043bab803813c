"""The training-estimate options shared by report, diff and draw: --train, --batch, --optimizer,
--precision, --device (docs/training-estimates.md)."""
from __future__ import annotations

from .shared import UsageError, positive_int


def add_training_options(p, flag: bool = True) -> None:
    if flag:
        p.add_argument("--train", action="store_true",
                       help="add training costs: forward/backward FLOPs, kept activations, peak training memory "
                            "(and step time with --device)")
    p.add_argument("--batch", type=positive_int, default=None, metavar="N",
                   help="training batch size for --train / --device (default 32)")
    p.add_argument("--optimizer", default="adam",
                   help="optimizer whose slots count in training memory: adam (default), adamw, sgd, sgd_momentum, "
                        "rmsprop, adagrad, nadam, lion, …")
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"], default="float32",
                   help="compute precision of the training step (default float32)")
    p.add_argument("--device", metavar="NAME",
                   help="estimate step time on a device: h100, h100-pcie, h200, a100, a100-40gb, l4, t4, v100, "
                        "or cpu (this machine, measured once and cached); implies --train")


def training_estimate(spec, args):
    """The TrainingEstimate the options ask for, or None when none was asked for."""
    if not (getattr(args, "train", False) or args.device):
        return None
    from ..devices import get_device

    try:
        device = get_device(args.device) if args.device else None
        return spec.training_estimate(args.batch or 32, args.optimizer, args.precision, device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
