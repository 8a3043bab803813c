"""The training columns of `archspec report --train [--device NAME]`: forward and backward FLOPs,
activations kept for the backward pass, and on a device the roofline time per row; then the totals:
weights, gradients, optimizer slots, kept activations, peak training memory, step time and images/s (tokens/s for token ids)."""
from __future__ import annotations

from .text import header_lines, human, human_bytes, row_head

TRAIN_FIELDS = ["train_fwd_flops", "train_bwd_flops", "kept_bytes", "bytes_moved", "time_s", "bound"]


def add_training(table: list[dict], head: dict, est) -> None:
    """Adds the training fields to each row (a layer's or a scope's totals) and to the summary."""
    for r in table:
        c = (est.scopes if r["scope"] else est.nodes)[r["name"]]
        r.update(train_fwd_flops=c.fwd_flops, train_bwd_flops=c.bwd_flops, kept_bytes=c.kept_bytes,
                 bytes_moved=c.bytes_moved, time_s=c.time_s, bound=c.bound or None)
    head["training"] = est.to_json()


def seconds(t: float) -> str:
    for div, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if t >= div:
            return f"{t / div:.3g} {unit}"
    return f"{t * 1e9:.3g} ns" if t else "0"


def footer_lines(est) -> list[str]:
    t = est.total
    prec = {"float32": "float32", "mixed_bfloat16": "bfloat16 activations", "mixed_float16": "float16 activations"}
    out = [
        f"training step, batch {est.batch_size}, {est.optimizer}, {est.precision}: "
        f"{human(t.fwd_flops)}FLOPs forward + {human(t.bwd_flops)}FLOPs backward = {human(t.flops)}FLOPs",
        f"memory: weights {human_bytes(est.weights_bytes)} + gradients {human_bytes(est.grads_bytes)} + "
        f"{est.optimizer} slots {human_bytes(est.optimizer_bytes)} + batch {human_bytes(est.batch_bytes)}; "
        f"activations kept for backward {human_bytes(est.kept_bytes)} ({prec[est.precision]}"
        + (f"; {human_bytes(est.kept_float32_bytes)} of it float32)" if est.kept_float32_bytes else ")"),
        f"peak training memory ≈ {human_bytes(est.peak_bytes)} "
        + (f"({est.peak_phase}, at {est.peak_at})" if est.peak_at else f"({est.peak_phase})"),
    ]
    d = est.device
    if d is not None:
        fits = "fits" if est.fits else "does NOT fit"
        rate = (f"{est.tokens_per_s:,.0f} tokens/s ({est.images_per_s:,.1f} sequences of {est.tokens_per_example})"
                if est.tokens_per_example else f"{est.images_per_s:,.0f} images/s")
        out += [
            f"on {d.title} ({human(d.peak_flops(est.precision))}FLOP/s {est.precision}, "
            f"{human(d.bandwidth)}B/s, {d.memory_bytes / 1e9:.0f} GB): step ≈ {seconds(est.step_time_s)} "
            f"({'roofline × measured efficiencies' if d.efficiency else 'roofline'}, incl. optimizer update "
            f"{seconds(est.optimizer_time_s)}) → ≈ {rate}; batch {est.batch_size} {fits} in memory",
        ]
        if est.largest_batch is not None:
            bf16 = (f" ({est.largest_batch_bf16:,} with --precision mixed_bfloat16)"
                    if est.largest_batch_bf16 is not None else "")
            out.append(f"the largest batch that fits on {d.name} is {est.largest_batch:,}{bf16}" if est.largest_batch
                       else f"not even batch 1 fits on {d.name}" + bf16.replace(" (", "; ").replace(")", ""))
    return out


COLS = ["layer / block", "type", "output", "params", "fwd FLOPs", "bwd FLOPs", "kept"]
DEVICE_COLS = ["time", "bound"]


def _cells(r, device: bool) -> list[str]:
    cells = [*row_head(r), f"{r['params']:,}", human(r["train_fwd_flops"]), human(r["train_bwd_flops"]),
             human_bytes(r["kept_bytes"]) if r["kept_bytes"] else "-"]
    if device:
        cells += [seconds(r["time_s"]), r["bound"] or ""]
    return cells


def text_report(head: dict, table: list[dict], est) -> str:
    device = est.device is not None
    cols = COLS + (DEVICE_COLS if device else [])
    cells = [_cells(r, device) for r in table]
    widths = [max(len(c[i]) for c in cells + [cols]) for i in range(len(cols))]
    right = {3, 4, 5, 6, 7}

    def line(c):
        return "  ".join(x.rjust(w) if i in right else x.ljust(w) for i, (x, w) in enumerate(zip(c, widths))).rstrip()

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    title = header_lines(head)[0].replace(f"batch {head['batch_size']}, {head['dtype']}",
                                           f"training batch {est.batch_size}, {est.precision}")
    conv = ("backward FLOPs = 2× the forward multiply-accumulate FLOPs (input and weight gradients; 1× for layers "
            "reading the model input) + 1× element-wise work; kept = activations held for the backward pass"
            + ("; time = roofline max(FLOPs / peak, bytes / bandwidth)" if device else ""))
    out = [title, conv, "", line(cols), rule] + [line(c) for c in cells] + [rule] + footer_lines(est)
    return "\n".join(out) + "\n"
