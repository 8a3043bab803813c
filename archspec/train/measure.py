"""What a compiled training step really uses, to keep archspec's estimates (passes/training.py) honest:
JAX's own memory analysis of the jitted step (weights, optimizer slots and batch in; XLA's temporary
buffers for activations, gradients and workspace) and the measured time of the step.

Needs Keras on the JAX backend (`KERAS_BACKEND=jax` before Keras is imported). The step is Keras's
documented stateless JAX training step (model.stateless_call + optimizer.stateless_apply) jitted with
the state donated, as Keras's own JAX trainer does. Used by tests/test_training_estimate.py and
bench/train_estimate_bench.py.

`measure_step(..., target="h200")` compiles the step for a GPU that is not there — JAX's deviceless
ahead-of-time compile, with XLA:GPU's compiler from jax's CUDA plugin (`pip install "jax[cuda12]"`, about
3 GB; no GPU or driver needed) and the device's description (archspec.devices.XlaGpu) — and returns
XLA:GPU's memory plan of it (nothing runs). On one H200 the plan equalled the memory analysis of the step
compiled on the GPU itself (docs/training-estimates.md).
"""
from __future__ import annotations

import time


def load_case(case: str, root=None):
    """`SPEC:BATCH` or `SPEC:BATCH:NAME=VALUE,...` (the spec's params overridden, as `--set` does) →
    (spec, batch). The token models are held at a few layers and a short sequence this way:
    'specs/gpt2_small.yaml:4:num_layers=2,length=256'."""
    from pathlib import Path

    from ..api import load

    parts = case.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise ValueError(f"'{case}': expected SPEC:BATCH or SPEC:BATCH:NAME=VALUE,...")
    overrides = {}
    for item in (parts[2].split(",") if len(parts) == 3 else ()):
        name, _, value = item.partition("=")
        overrides[name] = int(value) if value.lstrip("-").isdigit() else value
    path = Path(root, parts[0]) if root else parts[0]
    return load(path, overrides or None), int(parts[1])


def _build(spec, batch_size: int, optimizer: str, precision: str):
    """(jitted step, state, x, y): Keras's stateless JAX training step of `spec`, its donated state and a batch."""
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError("measure_step needs KERAS_BACKEND=jax (set before Keras is imported)")
    import jax
    import jax.numpy as jnp
    import numpy as np

    keras.mixed_precision.set_dtype_policy(precision)
    try:
        model = spec.to_keras()
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    opt = keras.optimizers.get(optimizer)
    opt.build(model.trainable_variables)
    loss_obj = keras.losses.SparseCategoricalCrossentropy()

    def loss_fn(tv, ntv, x, y):
        pred, ntv = model.stateless_call(tv, ntv, x, training=True)
        return sum(loss_obj(t, p) for t, p in zip(y, keras.tree.flatten(pred))), ntv   # every output trains

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(tv, ntv, ov, x, y):
        (loss, ntv), grads = grad_fn(tv, ntv, x, y)
        tv, ov = opt.stateless_apply(ov, grads, tv)
        return loss, tv, ntv, ov

    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in opt.variables])
    rng = np.random.default_rng(0)

    def example(t):             # images and features at random; token ids and masks all ones (a valid id)
        shape = (batch_size, *t.shape[1:])
        if "int" in str(t.dtype):
            return jnp.ones(shape, dtype=jnp.int32)
        if "bool" in str(t.dtype):
            return jnp.ones(shape, dtype=bool)
        return jnp.asarray(rng.standard_normal(shape, dtype=np.float32))

    x = keras.tree.map_structure(example, model.input)       # as the model takes them (one, a list, a dict)
    # per output: one class index per example, or per step of a sequence output (batch, steps, classes)
    y = [jnp.asarray(rng.integers(0, int(o.shape[-1]), (batch_size, *o.shape[1:-1]), dtype=np.int32))
         for o in keras.tree.flatten(model.output)]
    return jax.jit(step, donate_argnums=(0, 1, 2)), state, x, y


class NoGpuCompiler(RuntimeError):
    """Compiling for a GPU without one needs jax's CUDA plugin."""


def gpu_target_config(device) -> str:
    """XLA's GpuTargetConfig (text proto) for `device` (an archspec Device with `xla_gpu`)."""
    g = device.xla_gpu
    if g is None:
        from ..devices import DEVICES

        raise ValueError(f"{device.name} is not a GPU to compile for; GPUs: "
                         + ", ".join(d.name for d in DEVICES.values() if d.xla_gpu is not None))
    major, minor = g.capability
    return f"""gpu_device_info {{
  threads_per_block_limit: 1024
  threads_per_warp: 32
  shared_memory_per_block: 49152
  shared_memory_per_core: {g.smem_per_sm}
  threads_per_core_limit: {g.threads_per_sm}
  core_count: {g.sms}
  fpus_per_core: {g.fp32_per_sm}
  block_dim_limit_x: 2147483647
  block_dim_limit_y: 65535
  block_dim_limit_z: 65535
  memory_bandwidth: {int(device.bandwidth)}
  l2_cache_size: {g.l2_bytes}
  clock_rate_ghz: {g.clock_ghz}
  device_memory_size: {int(device.memory_bytes)}
  shared_memory_per_block_optin: {g.smem_per_block}
  cuda_compute_capability {{ major: {major} minor: {minor} }}
  registers_per_core_limit: 65536
  registers_per_block_limit: 65536
}}
platform_name: "CUDA"
device_description_str: "{device.title}"
"""


def gpu_sharding(device):
    """A sharding on one compile-only device of `device`'s kind: arrays placed on it are compiled for it."""
    import importlib.metadata
    import importlib.util

    config = gpu_target_config(device)
    try:
        plugin = importlib.util.find_spec("jax_plugins.xla_cuda12")
    except ModuleNotFoundError:         # no jax_plugins package at all
        plugin = None
    if plugin is None:
        try:
            pin = "==" + importlib.metadata.version("jax")      # the plugin's version must be jax's
        except importlib.metadata.PackageNotFoundError:
            pin = ""
        raise NoGpuCompiler(f"compiling for {device.name} without one needs jax's CUDA plugin: "
                            f'pip install "jax[cuda12]{pin}" (about 3 GB; no GPU needed)')
    import jax
    from jax.experimental import topologies

    topology = topologies.get_topology_desc(platform="cuda", target_config=config, topology="1x1x1")
    mesh = topologies.make_mesh(topo=topology, mesh_shape=(1,), axis_names=("x",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def compiled_step(spec, batch_size: int = 32, optimizer: str = "adam", precision: str = "float32"):
    """A function running one compiled training step of `spec` (the state carried from call to call) and
    waiting for it: what bench/op_time_bench.py times."""
    step, state, x, y = _build(spec, batch_size, optimizer, precision)
    compiled = step.lower(*state, x, y).compile()
    holder = list(state)

    def run():
        loss, *holder[:3] = compiled(*holder, x, y)
        loss.block_until_ready()

    return run


def measure_step(spec, batch_size: int = 32, optimizer: str = "adam", precision: str = "float32",
                 steps: int = 0, warmup: int = 2, target=None) -> dict:
    """Compile one training step of `spec` at `batch_size` and return XLA's memory analysis (bytes) and,
    with `steps` > 0, the median wall time of that many steps (seconds) and the minimum (`step_min_s`:
    on a shared machine interference only adds time). `target` (a GPU's name or Device): compile for that
    GPU without one and return its memory plan only (NoGpuCompiler without jax's CUDA plugin)."""
    if target is not None and steps:
        raise ValueError("a step compiled for a GPU that is not there cannot run: steps must be 0")
    device = None
    if target is not None:
        from ..devices import get_device

        device = get_device(target) if isinstance(target, str) else target
        sharding = gpu_sharding(device)
    step, state, x, y = _build(spec, batch_size, optimizer, precision)
    import jax

    args = (*state, x, y)
    if device is not None:      # placed on the compile-only GPU: only shapes and dtypes
        args = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), args)
    t0 = time.perf_counter()
    compiled = step.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    m = compiled.memory_analysis()
    out = {"argument_bytes": m.argument_size_in_bytes, "output_bytes": m.output_size_in_bytes,
           "alias_bytes": m.alias_size_in_bytes, "temp_bytes": m.temp_size_in_bytes,
           "total_bytes": m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
           - m.alias_size_in_bytes, "compile_s": compile_s, "step_s": None, "step_min_s": None,
           "step_cpu_s": None}
    out["backend"] = f"gpu ({device.name}, compiled without one)" if device is not None else jax.default_backend()
    if steps > 0:
        tv, ntv, ov = state
        times, cpu = [], []
        for k in range(warmup + steps):
            t, c = time.perf_counter(), time.process_time()
            loss, tv, ntv, ov = compiled(tv, ntv, ov, x, y)
            loss.block_until_ready()
            if k >= warmup:
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
        out["step_s"] = sorted(times)[len(times) // 2]
        out["step_min_s"] = min(times)
        out["step_cpu_s"] = min(cpu)        # CPU time of all the step's threads: what load does not inflate much
    return out


def idle_step_s(step_cpu_s: float) -> float:
    """The wall time a step whose threads used `step_cpu_s` of CPU would take on this machine when idle, for
    a shared machine where the wall clock measures the other processes: CPU time over the cores (XLA:CPU
    runs a step's kernels on all of them, as numpy's matmul does for the cached peak). It reads long by
    what sharing the caches and cores costs (about 1.0–1.4× here) and short where a step keeps fewer cores
    busy than there are."""
    import os

    return step_cpu_s / (os.cpu_count() or 1)
