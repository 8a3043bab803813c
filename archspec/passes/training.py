"""Training costs from the spec alone: forward and backward FLOPs, the activations kept for the
backward pass, peak training memory by a liveness walk over the graph, and — on a named device — a
roofline estimate of each layer's time and of the whole step. Conventions: docs/training-estimates.md.

Memory model of one training step (what a compiled step holds, e.g. XLA's buffer assignment):
* persistent: the float32 weights, one float32 gradient per trainable weight, the optimizer's slots
  (Adam: 2 per trainable weight), the input batch (float32) and labels (no gradient for weights an op
  holds only for a layer that borrows them when none does: `Op.lent_params`);
* forward: every layer's output is live from the layer until its last consumer has run — or until the
  backward step of a layer whose gradient reads it (`Op.backward_keeps`), whichever is later;
* backward, in reverse order: the gradient of a layer's output is live from the backward step of its
  last consumer until the layer's own backward step, which creates the gradients of its inputs; a step's
  temporaries (`Op.backward_scratch`: XLA:CPU's dense filter gradient of a grouped convolution, XLA:GPU's
  select-and-scatter buffer of a max pool) count while it runs; weight gradients accumulate from their
  layer's step (`Op.early_gradient`: from the start of the backward pass; a shared layer's,
  `Op.weights_from`, from the first of its users' steps).
* the loss: on XLA:CPU its temporaries, `LOSS_TEMPORARIES` float32 tensors of each output's size, from the end
  of the forward pass through the output layer's backward step.
Activations and their gradients take the compute precision's bytes (2 under mixed precision), weights,
gradients and slots 4; under a mixed policy what each op's backward keeps takes the dtype the op states
(`Op.mixed_float32`: XLA:CPU's float32 convolutions and matmuls, Keras's float32 normalizations), a tensor
kept in two dtypes counted twice.

>>> from archspec import api
>>> spec = api.load_text('''
... archspec: 1
... name: tiny
... inputs: {x: [8, 8, 3]}
... model:
...   - conv2d: {filters: 4, kernel: 3, activation: relu}
...   - flatten: {}
...   - dense: {units: 10}
... ''')
>>> est = estimate_training(spec.graph, batch_size=2)

The conv reads the model input, so its backward computes only the weight gradient: 1× its 3,888 MACs
(2 FLOPs each) plus the bias; the dense layer computes both gradients: 2× its 1,440 MACs.

>>> est.nodes["conv2d"].fwd_flops == est.nodes["conv2d"].bwd_flops == 2 * (2 * 3888 + 144)
True
>>> est.nodes["dense"].fwd_flops, est.nodes["dense"].bwd_flops
(5780, 11540)
>>> spec.analysis().total.params, est.weights_bytes, est.grads_bytes, est.optimizer_bytes    # Adam: 2 slots
(1562, 6248, 6248, 12496)
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import SEP, Graph
from ..ops import REGISTRY
from ..ops.shapes import size
from .analyze import Cost

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
ACT_BYTES = {"float32": 4, "mixed_bfloat16": 2, "mixed_float16": 2}
# float32 slots per trainable weight, as keras.optimizers keeps them (defaults)
OPTIMIZER_SLOTS = {"sgd": 0, "sgd_momentum": 1, "adam": 2, "adamw": 2, "nadam": 2, "adamax": 2, "rmsprop": 1,
                   "adagrad": 1, "adadelta": 2, "lion": 1, "ftrl": 2}
LABEL_BYTES = 4                     # an int32 class index per example
# The loss's temporaries: Keras's sparse categorical cross-entropy of an output (as probabilities) holds 7 float32
# tensors of the output's size beside its gradient from the end of the forward pass through the output layer's
# backward step — the output divided by its sum, clipped (a min and 4 selects: the clip and its gradient's
# masks), and a second gradient buffer (the loss's `mul` and `reduce_sum`) — in XLA:CPU's buffer assignment of
# GPT-2's, BERT's and Llama's steps (8 per output tensor at the peak where the model counted 1). Negligible for
# a classifier's (1000,) output; for a sequence model's (T, hidden) outputs ~5% of the step. XLA:CPU's only: a
# GPU's were not traced.
LOSS_TEMPORARIES = 7


@dataclass(frozen=True)
class LayerWork:
    """A layer's roofline on a device before its efficiencies: seconds of each kernel family's executed FLOPs at
    the device's peak, seconds of its bytes at the device's bandwidth, and whether it pays the per-layer
    overhead (a view does not). `time` applies a device's efficiencies (Device.efficiency) and overhead;
    bench/gpu_calibration.py fits those against the same parts."""
    compute_s: dict
    memory_s: float
    overhead: bool

    def time(self, efficiency: dict, overhead_s: float) -> tuple[float, str]:
        """(seconds, "compute" or "memory": the bound) with these efficiencies and this per-layer overhead."""
        ct = sum(s / efficiency.get(fam, 1.0) for fam, s in self.compute_s.items())
        mt = self.memory_s / efficiency.get("memory", 1.0)
        return max(ct, mt) + (overhead_s if self.overhead else 0.0), "compute" if ct >= mt else "memory"


@dataclass
class LayerTrain:
    fwd_flops: int = 0
    bwd_flops: int = 0
    kept_bytes: int = 0             # activations this layer keeps alive for the backward pass (per batch)
    bytes_moved: int = 0            # forward + backward memory traffic of the step (per batch)
    time_s: float = 0.0             # roofline time on the device (0 without one)
    bound: str = ""                 # "compute" or "memory"
    work: LayerWork | None = None   # the parts of time_s (a layer's, on a device; None for blocks and totals)

    def add(self, o: "LayerTrain") -> None:
        self.fwd_flops += o.fwd_flops
        self.bwd_flops += o.bwd_flops
        self.kept_bytes += o.kept_bytes
        self.bytes_moved += o.bytes_moved
        self.time_s += o.time_s

    @property
    def flops(self) -> int:
        return self.fwd_flops + self.bwd_flops


@dataclass
class TrainingEstimate:
    batch_size: int
    optimizer: str
    precision: str
    nodes: dict[str, LayerTrain]
    scopes: dict[str, LayerTrain]
    total: LayerTrain
    weights_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    batch_bytes: int
    kept_bytes: int                 # activations kept for the backward pass at the end of forward
    peak_bytes: int                 # peak training memory (persistent + live activations and gradients)
    peak_phase: str                 # "forward", "backward" or "update"
    peak_at: str | None
    device: object | None = None
    optimizer_time_s: float = 0.0
    # when the batch does not fit the device: the largest that does, in this precision and, where this
    # is float32 and the device has bfloat16, under mixed_bfloat16 (0: not even one example)
    largest_batch: int | None = None
    largest_batch_bf16: int | None = None
    tokens_per_example: int = 0     # a spec whose input is token ids: its length (throughput in tokens too)
    kept_float32_bytes: int = 0     # under a mixed policy: the part of kept_bytes stored in float32 (Op.mixed_float32)

    @property
    def step_time_s(self) -> float:
        return self.total.time_s + self.optimizer_time_s

    @property
    def images_per_s(self) -> float:
        """Examples per second: images, or sequences of `tokens_per_example` tokens."""
        return self.batch_size / self.step_time_s if self.step_time_s else 0.0

    @property
    def tokens_per_s(self) -> float | None:
        return self.images_per_s * self.tokens_per_example if self.tokens_per_example else None

    @property
    def fits(self) -> bool | None:
        return None if self.device is None else self.peak_bytes <= self.device.memory_bytes

    def to_json(self) -> dict:
        d = self.device
        out = {"batch_size": self.batch_size, "optimizer": self.optimizer, "precision": self.precision,
               "forward_flops": self.total.fwd_flops, "backward_flops": self.total.bwd_flops,
               "train_flops": self.total.flops,
               "weights_bytes": self.weights_bytes, "gradients_bytes": self.grads_bytes,
               "optimizer_bytes": self.optimizer_bytes, "batch_bytes": self.batch_bytes,
               "kept_activation_bytes": self.kept_bytes, "kept_float32_bytes": self.kept_float32_bytes,
               "peak_bytes": self.peak_bytes,
               "peak_phase": self.peak_phase, "peak_at": self.peak_at}
        if d is not None:
            out.update(device=d.name, device_title=d.title, device_memory_bytes=d.memory_bytes,
                       fits=self.fits, largest_batch=self.largest_batch, largest_batch_bf16=self.largest_batch_bf16,
                       step_time_s=self.step_time_s, images_per_s=self.images_per_s,
                       **({"tokens_per_s": self.tokens_per_s} if self.tokens_per_example else {}),
                       optimizer_time_s=self.optimizer_time_s,
                       peak_flops=d.peak_flops(self.precision), bandwidth=d.bandwidth)
        return out


def optimizer_slots(optimizer: str) -> int:
    key = optimizer.lower()
    if key not in OPTIMIZER_SLOTS:
        raise ValueError(f"unknown optimizer '{optimizer}'; known: {', '.join(OPTIMIZER_SLOTS)}")
    return OPTIMIZER_SLOTS[key]


def estimate_training(graph: Graph, batch_size: int = 32, optimizer: str = "adam", precision: str = "float32",
                      device=None, platform: str | None = None) -> TrainingEstimate:
    """The estimate of one training step; `platform` ('cpu' or 'gpu': whose XLA buffer choices to follow)
    defaults to the device's, and to the CPU's without one (where the model is measured)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; known: {', '.join(PRECISIONS)}")
    slots = optimizer_slots(optimizer)
    # whose buffer choices to follow: a GPU's, or XLA:CPU's (no device: the CPU, where it is measured)
    platform = platform or (device.platform if device is not None else "cpu")
    e, B = ACT_BYTES[precision], batch_size
    peak_flops = device.peak_flops(precision) if device is not None else None
    order = list(graph.nodes)
    index = {nid: k for k, nid in enumerate(order)}
    nodes: dict[str, LayerTrain] = {}
    scopes = {p: LayerTrain() for p in graph.scopes}
    total = LayerTrain()
    trainable = non_trainable = 0
    grad_of = {}                    # node -> trainable parameter bytes of its gradient
    keep_until: dict[str, int] = {}  # tensor -> smallest index of a layer whose backward reads it
    hard: set[str] = set()          # tensors a non-element-wise backward (conv, matmul, pooling) reads
    stored: dict = {}               # tensor -> what keeping it keeps (_stored)
    needs_grad = _needs_input_grad(graph)
    # layers that borrow another's weights (Op.weights_from): weights held only for one (Op.lent_params) and
    # borrowed by none get no gradient buffer
    lenders = {n.inputs[w] for n in graph if (w := REGISTRY[n.op].weights_from) is not None and w < len(n.inputs)}
    unused = 0                      # bytes of gradients that are never allocated (Op.lent_params)
    internal: dict[str, int] = {}   # node -> bytes (the batch's) it keeps inside (pre-activations) until its backward
    mixed = e < 4                   # a mixed policy: what is kept takes the dtype each op states (Op.mixed_float32)
    dtypes: dict[str, set[int]] = {}  # kept tensor -> the bytes per element of the copies kept of it
    wide_inside = 0                 # bytes of what ops keep inside in float32 (under a mixed policy)
    scratch: dict[str, int] = {}    # node -> bytes its backward step holds while it runs (Op.backward_scratch)
    shared: dict = {}               # key -> its first layer, of buffers made once per model (Op.shared_workspace)
    for n in graph:
        op = REGISTRY[n.op]
        if REGISTRY[n.op].source:
            nodes[n.id] = LayerTrain()
            continue
        ins = [graph[i].shape for i in n.inputs]
        out = n.shape
        t, nt = op.params(n.attrs, ins, out)
        trainable, non_trainable = trainable + t, non_trainable + nt
        lent = 0 if n.id in lenders else op.lent_params(n.attrs, ins, out)
        grad_of[n.id] = (t - lent) * 4
        unused += lent * 4
        k_in, k_out, extra = op.backward_keeps(n.attrs, ins, out)
        extra += op.workspace(n.attrs, ins, out, platform) + op.batch_workspace(n.attrs, ins, out, platform, B)
        # under a mixed policy, the part of it stored in float32 (Op.mixed_float32); a copy kept because of
        # the producer (Op.kept_after) is the producer's 16-bit output
        f32 = op.mixed_float32(n.attrs, ins, out, platform, extra) if mixed else None
        wide = min(f32.inside, extra) if f32 else 0        # elements of it kept inside in float32
        inside = wide * 4 + (extra - wide) * e
        wide_inside += wide * 4 * B
        if n.inputs:
            first = graph[n.inputs[0]]
            after = op.kept_after(n.attrs, REGISTRY[first.op], first.attrs, out, platform)
            extra, inside = extra + after, inside + after * e
        if extra:
            internal[n.id] = inside * B
        key, common = op.shared_workspace(n.attrs, ins, out, platform)
        if common and key not in shared:        # the first layer with this key: where the buffer would start
            shared[key] = n.id
        elif common and shared[key] is not None:
            # a second reader: XLA materializes the buffer (one reader fuses it), alive from the first layer's
            # forward to its backward step
            wide_shared = f32 is not None and f32.inside > 0
            internal[shared[key]] = internal.get(shared[key], 0) + common * B * (4 if wide_shared else e)
            wide_inside += common * 4 * B if wide_shared else 0
            shared[key] = None
        per_example, fixed = op.backward_scratch(n.attrs, ins, out, platform)
        if per_example or fixed:
            scratch[n.id] = (per_example * B + fixed) * (4 if f32 and f32.scratch else e)
        # an element-wise backward names the tensors it reads (_recomputed decides which are stored);
        # a kernel's (conv, matmul) reads the pieces of a view (concat, reshape), not the view
        reads = (list(n.inputs) if k_in else []) + ([n.id] if k_out else [])
        if op.fused_backward:       # ... unless the view fuses into its readers (Op.fused_into_readers)
            kept = [k for t in reads if not REGISTRY[graph[t].op].source
                    for k in (_stored(graph, [t], stored) if REGISTRY[graph[t].op].fused_into_readers(platform) else [t])]
        else:
            kept = _stored(graph, reads, stored)
        for tensor in kept:
            keep_until[tensor] = min(keep_until.get(tensor, index[n.id]), index[n.id])
            wide = f32 is None or (f32.output if tensor == n.id else f32.inputs)
            dtypes.setdefault(tensor, set()).add(4 if wide else e)
        if not op.fused_backward:
            hard.update(kept)
        in_elems = sum(size(s) for s in ins)
        out_elems = size(out)
        param_bytes = (t + nt) * e
        fwd_bytes = (in_elems + out_elems + extra) * B * e + param_bytes
        bwd_bytes = (out_elems + sum(size(graph[x].shape) for x in set(kept)) + extra + in_elems) * B * e \
            + param_bytes + t * 4
        c = LayerTrain(op.flops(n.attrs, ins, out) * B,
                       op.backward_flops(n.attrs, ins, out, needs_grad[n.id]) * B,
                       0, fwd_bytes + bwd_bytes)
        if device is not None:
            _time_layer(c, op, n.attrs, ins, out, device, platform, peak_flops, B, needs_grad[n.id])
        nodes[n.id] = c
    early = _gradients_in_backward_order(graph, index, grad_of, platform)
    keep_until = _recomputed(graph, keep_until, hard, platform if mixed else None)
    # kept bytes are charged to the layer that produced the tensor: one copy per dtype kept of it (under a
    # mixed policy a float32 one for a kernel on XLA:CPU, a 16-bit one for an activation's backward)
    stored_bytes = {t: size(graph[t].shape) * B * (sum(dtypes[t]) if mixed else e) for t in keep_until}
    for tensor, nbytes in stored_bytes.items():
        nodes[tensor].kept_bytes = nbytes
    for nid, nbytes in internal.items():
        nodes[nid].kept_bytes += nbytes
    _roll_up(graph, nodes, scopes, total)

    weights = (trainable + non_trainable) * 4
    grads = trainable * 4 - unused
    opt = slots * trainable * 4
    batch = sum(size(graph[i].shape) for i in graph.inputs) * B * 4 + LABEL_BYTES * B * max(1, len(graph.outputs))
    persistent = weights + opt + batch
    kept_total, (peak_live, phase, at) = _liveness(graph, order, index, keep_until, internal, grad_of, needs_grad,
                                                  B * e, scratch, early, stored_bytes,
                                                  {o: size(graph[o].shape) * B * 4 * LOSS_TEMPORARIES
                                                   for o in graph.outputs.values()} if platform == "cpu" else None)
    peak = persistent + peak_live
    update = persistent + grads
    if update > peak:
        peak, phase, at = update, "update", None
    est = TrainingEstimate(B, optimizer.lower(), precision, nodes, scopes, total, weights, grads, opt, batch,
                           kept_total, peak, phase, at, device)
    if mixed:
        est.kept_float32_bytes = wide_inside + sum(size(graph[t].shape) * B * 4 for t in stored_bytes if 4 in dtypes[t])
    if graph.token_input is not None:
        est.tokens_per_example = graph.token_input.shape[0]
    if device is not None:
        _on_device(est, graph, trainable * 4 * (3 + 2 * slots), platform)
    return est


def _time_layer(c: LayerTrain, op, attrs, ins, out, device, platform: str, peak_flops: float, batch: int,
                needs_grad) -> None:
    """A layer's step time on `device`: its executed work per kernel family at that family's efficiency, or its
    bytes at the memory efficiency, whichever is longer (the bound), plus the per-layer overhead of a kernel."""
    work = op.executed_flops(attrs, ins, out, platform, needs_grad)
    c.work = LayerWork({fam: f * batch / peak_flops for fam, f in work.items()}, c.bytes_moved / device.bandwidth,
                       not op.view)
    c.time_s, c.bound = c.work.time(device.efficiency, device.layer_overhead_s)


def _gradients_in_backward_order(graph: Graph, index: dict, grad_of: dict, platform: str) -> int:
    """Moves each weight gradient to the step where it starts: a shared layer (tied_logits) starts the gradient
    of the weights it borrows at its own backward step, so the owner's gradient is charged to the latest of
    the owner and its sharers (the first to run backward). Returns the bytes of gradients allocated before
    the backward pass starts (Op.early_gradient), which leave `grad_of`."""
    latest: dict[str, str] = {}
    for n in graph:
        w = REGISTRY[n.op].weights_from
        if w is not None and w < len(n.inputs):
            owner = n.inputs[w]
            if index[n.id] > index[latest.get(owner, owner)]:
                latest[owner] = n.id
    for owner, user in latest.items():
        grad_of[user] = grad_of.get(user, 0) + grad_of.pop(owner, 0)
    return sum(grad_of.pop(n.id, 0) for n in graph if not REGISTRY[n.op].source and REGISTRY[n.op].early_gradient(platform))


def _roll_up(graph: Graph, nodes: dict, scopes: dict, total: LayerTrain) -> None:
    """Adds every layer's figures to the total and to each enclosing block scope."""
    for nid, c in nodes.items():
        total.add(c)
        scope = graph[nid].scope
        while scope:
            scopes[scope].add(c)
            scope = scope.rsplit(SEP, 1)[0] if SEP in scope else ""


def _on_device(est: TrainingEstimate, graph: Graph, update_bytes: int, platform: str) -> None:
    """The optimizer update's time (it reads weights, gradients and slots and writes weights and slots:
    memory-bound), and where the batch does not fit, the largest that does (and under mixed_bfloat16)."""
    d = est.device
    est.optimizer_time_s = update_bytes / (d.bandwidth * d.memory_efficiency)
    if not est.fits:
        est.largest_batch = largest_batch(graph, d.memory_bytes, est.optimizer, est.precision, below=est.batch_size,
                                          platform=platform)
        if est.precision == "float32" and d.bf16 is not None:
            est.largest_batch_bf16 = largest_batch(graph, d.memory_bytes, est.optimizer, "mixed_bfloat16",
                                                   platform=platform)


def largest_batch(graph: Graph, memory_bytes: float, optimizer: str = "adam", precision: str = "float32",
                  below: int | None = None, platform: str = "cpu") -> int:
    """The largest batch whose estimated peak training memory fits in `memory_bytes` (0 if not even one
    example does). The peak is a maximum of terms linear in the batch, so it grows with the batch and a
    bisection over the estimate itself finds the answer exactly (about 2·log2(batch) estimates).

    >>> from archspec import api
    >>> g = api.load("specs/resnet50.yaml").graph
    >>> b = largest_batch(g, 16e9)
    >>> estimate_training(g, b).peak_bytes <= 16e9 < estimate_training(g, b + 1).peak_bytes
    True
    """
    def fits(b: int) -> bool:
        return estimate_training(graph, b, optimizer, precision, platform=platform).peak_bytes <= memory_bytes

    lo, hi = 0, below                   # fits(lo); not fits(hi) when hi is known
    if hi is None:
        hi = 1
        while fits(hi):
            lo, hi = hi, hi * 2
            if hi > 1 << 40:            # a model with (almost) no activations
                return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _stored(graph: Graph, tensors, memo: dict) -> list[str]:
    """The tensors really kept when a backward step reads `tensors`: the inputs of a view (concat,
    reshape) instead of its output, through chains of views; never the model inputs (the batch is
    persistent). `memo` (one per graph) holds each tensor's answer: a chain of 10,000 views is walked
    once, without recursion, not once per layer."""
    out = []
    for t in tensors:
        r = memo.get(t)
        if r is None:
            stack = [t]
            while stack:
                x = stack[-1]
                if x in memo:
                    stack.pop()
                    continue
                n = graph[x]
                op = REGISTRY[n.op]
                if op.source:
                    memo[x] = ()
                elif not op.view:
                    memo[x] = (x,)
                else:
                    missing = [i for i in n.inputs if i not in memo]
                    if missing:
                        stack += missing
                        continue
                    memo[x] = tuple(dict.fromkeys(k for i in n.inputs for k in memo[i]))
                stack.pop()
            r = memo[t]
        out += r
    return out


def _recomputed(graph: Graph, keep_until: dict[str, int], hard: set[str], mixed_on: str | None = None) -> dict[str, int]:
    """`keep_until` without the tensors XLA recomputes instead of storing: the output of a cheap
    element-wise op (`Op.recomputes`: batch norm, a sum, relu) that only element-wise backward steps read,
    when every input it is computed from is stored or itself recomputable — conv → batch norm → relu
    stores the conv's output and the relu's, and relu's backward recomputes the batch norm in its fusion.
    The tensors a recomputed one is made from live until its earliest reader's backward (the copies already
    stored of them serve). `mixed_on`: the platform, under a mixed policy (`Op.recomputes_mixed`)."""
    stored: dict[str, int] = {}
    made_from: dict[str, set[str] | None] = {}      # tensor -> the stored tensors it is recomputed from
    for n in graph:
        op = REGISTRY[n.op]
        if op.source:
            made_from[n.id] = set()
            continue
        cheap = op.view or (op.recomputes(n.attrs) if mixed_on is None else op.recomputes_mixed(n.attrs, mixed_on))
        parts = [made_from.get(i) for i in n.inputs]
        recomputable = cheap and all(p is not None for p in parts)
        if n.id in keep_until and (n.id in hard or not recomputable):
            stored[n.id] = keep_until[n.id]
            made_from[n.id] = {n.id}
        elif recomputable:
            made_from[n.id] = set().union(*parts)
            if n.id in keep_until:                  # recomputed at its readers' backward: its sources stay
                for t in made_from[n.id]:
                    stored[t] = min(stored[t], keep_until[n.id])
        else:
            made_from[n.id] = None                  # neither stored nor recomputable
    return stored


def _needs_input_grad(graph: Graph) -> dict[str, bool]:
    """Whether a layer's backward must compute the gradient w.r.t. its inputs: only when some input
    depends on trainable weights (the layers reading the model input directly need none)."""
    has_weights: dict[str, bool] = {}
    out = {}
    for n in graph:
        upstream = any(has_weights[i] for i in n.inputs)
        out[n.id] = upstream
        own = False
        if not REGISTRY[n.op].source:
            op = REGISTRY[n.op]
            own = op.params(n.attrs, [graph[i].shape for i in n.inputs], n.shape)[0] > 0
        has_weights[n.id] = upstream or own
    return out


def _liveness(graph, order, index, keep_until, internal, grad_of, needs_grad, bpe, scratch, early=0, stored=None,
              loss=None):
    """Walk the forward then the backward pass; returns (bytes kept at the end of forward,
    (peak live bytes of activations, activation gradients, weight gradients and a step's scratch, phase,
    node)). `internal`: node → bytes it keeps inside; `scratch`: node → bytes its backward step
    holds while it runs; `early`: weight-gradient bytes allocated before the backward pass; `stored`: kept
    tensor → its bytes as kept (default: `bpe` per element)."""
    last_use = {}
    for n in graph:
        for i in n.inputs:
            last_use[i] = max(last_use.get(i, -1), index[n.id])
    for o in graph.outputs.values():
        last_use[o] = len(order)
    nbytes = {nid: size(graph[nid].shape) * bpe for nid in order}
    kept_bytes = {nid: (stored or {}).get(nid, nbytes[nid]) for nid in keep_until}
    # forward: inputs are persistent (batch); a tensor ends at its last forward use unless kept
    live = 0
    peak, phase, at = 0, "forward", None
    frees: dict[int, int] = {}
    for k, nid in enumerate(order):
        if REGISTRY[graph[nid].op].source:
            continue
        live += kept_bytes.get(nid, nbytes[nid]) + internal.get(nid, 0)
        if live > peak:
            peak, at = live, nid
        if nid not in keep_until:
            end = last_use.get(nid, k)
            frees[end] = frees.get(end, 0) + nbytes[nid]
        live -= frees.pop(k, 0)
    live -= sum(frees.values())                   # model outputs: consumed by the loss
    kept_end = live
    # backward: gradient of the loss w.r.t. each output first
    grads_live = {o: nbytes[o] for o in graph.outputs.values()}
    live += sum(grads_live.values())
    loss = dict(loss or {})         # output -> the loss's temporaries, freed after its layer's backward step
    live += sum(loss.values())
    release: dict[int, list[str]] = {}
    for tensor, k in keep_until.items():
        release.setdefault(k, []).append(tensor)
    wgrads = early                 # weight gradients allocated before the backward pass (Op.early_gradient)
    for k in range(len(order) - 1, -1, -1):
        nid = order[k]
        n = graph[nid]
        if REGISTRY[n.op].source:
            continue
        g = grads_live.pop(nid, 0)
        for i in n.inputs if needs_grad[nid] else ():
            if not REGISTRY[graph[i].op].source and i not in grads_live:
                grads_live[i] = nbytes[i]
                live += nbytes[i]
        wgrads += grad_of.get(nid, 0)
        if live + wgrads + scratch.get(nid, 0) > peak:
            peak, phase, at = live + wgrads + scratch.get(nid, 0), "backward", nid
        live -= g + internal.get(nid, 0) + loss.pop(nid, 0)
        for tensor in release.get(k, ()):
            live -= kept_bytes[tensor]
    return kept_end, (peak, phase, at)


class TrainCost(Cost):
    """An inference Cost with the training figures diagrams colour by (draw --color-by time|train_memory)."""

    __slots__ = ("time_s", "kept_bytes")
    _fields = Cost._fields + __slots__

    def __init__(self, trainable: int = 0, non_trainable: int = 0, macs: int = 0, flops: int = 0, elements: int = 0,
                 layers: int = 0, time_s: float = 0.0, kept_bytes: int = 0):
        super().__init__(trainable, non_trainable, macs, flops, elements, layers)
        self.time_s, self.kept_bytes = time_s, kept_bytes

    def add(self, other) -> None:
        super().add(other)
        self.time_s += getattr(other, "time_s", 0.0)
        self.kept_bytes += getattr(other, "kept_bytes", 0)


def with_training(analysis, est: TrainingEstimate):
    """A copy of `analysis` whose costs also carry `est`'s per-layer time and kept activations."""
    def merged(c: Cost, t: LayerTrain) -> TrainCost:
        return TrainCost(c.trainable, c.non_trainable, c.macs, c.flops, c.elements, c.layers, t.time_s, t.kept_bytes)

    return analysis._replace(nodes={k: merged(c, est.nodes[k]) for k, c in analysis.nodes.items()},
                             scopes={k: merged(c, est.scopes[k]) for k, c in analysis.scopes.items()},
                             total=merged(analysis.total, est.total))
