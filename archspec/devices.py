"""Accelerators archspec can estimate training time for: published peak dense FLOP/s per precision,
memory and memory bandwidth (sources in docs/training-estimates.md), and `cpu`, measured once on this
machine and cached.

Peaks are dense (no 2:4 sparsity). float32 matrix work on Ampere and later GPUs runs as TF32 in both
TensorFlow and JAX by default, so `float32` uses the TF32 tensor-core peak there; element-wise work is
memory-bound and is timed by bandwidth, whatever the precision.

>>> d = get_device("h100")
>>> d.peak_flops("mixed_bfloat16") / 1e12, d.memory_bytes / 1e9, d.bandwidth / 1e12
(989.4, 80.0, 3.35)
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

T = 1e12
KiB, MiB = 1024, 1024 ** 2


@dataclass(frozen=True)
class XlaGpu:
    """A GPU as XLA's compiler needs it to compile for one that is not there (its `gpu_device_info`: what
    picks kernels, tiles and fusions), from NVIDIA's architecture whitepapers and the CUDA programming guide's
    table of compute capabilities. Used by archspec.train.measure to get XLA:GPU's own memory plan of a
    training step on a machine without that GPU."""
    capability: tuple[int, int]     # CUDA compute capability
    sms: int                        # streaming multiprocessors
    fp32_per_sm: int                # FP32 cores per SM
    l2_bytes: int
    smem_per_sm: int                # shared memory per SM, and the most one block may opt in to
    smem_per_block: int
    threads_per_sm: int
    clock_ghz: float                # boost clock


HOPPER = dict(capability=(9, 0), fp32_per_sm=128, l2_bytes=50 * MiB, smem_per_sm=228 * KiB,
              smem_per_block=227 * KiB, threads_per_sm=2048)
AMPERE = dict(capability=(8, 0), sms=108, fp32_per_sm=64, l2_bytes=40 * MiB, smem_per_sm=164 * KiB,
              smem_per_block=163 * KiB, threads_per_sm=2048, clock_ghz=1.41)


@dataclass(frozen=True)
class Device:
    name: str
    title: str
    fp32: float                 # FLOP/s for float32 matrix work (TF32 where the framework uses it)
    bf16: float | None          # FLOP/s, mixed_bfloat16 (None: not supported)
    fp16: float | None          # FLOP/s, mixed_float16
    memory_bytes: float
    bandwidth: float            # bytes/s
    source: str = ""
    # what kernels reach, as fractions of the peaks above, per kernel family (Op.kernel_family: "matmul",
    # "depthwise", "elementwise"), and a fixed cost per layer and step (dispatch, small kernels); 1 and 0
    # where nothing was measured: the bare roofline
    efficiency: dict = field(default_factory=dict, hash=False)
    layer_overhead_s: float = 0.0
    calibration: str = ""       # where the efficiencies come from
    xla_gpu: XlaGpu | None = field(default=None, hash=False)    # a GPU as XLA compiles for it (None: the CPU)

    @property
    def memory_efficiency(self) -> float:
        return self.efficiency.get("memory", 1.0)

    def bare(self) -> "Device":
        """The same device without efficiencies or overheads: the plain roofline."""
        return replace(self, efficiency={}, layer_overhead_s=0.0, calibration="")

    @property
    def platform(self) -> str:
        """'cpu' or 'gpu': which XLA backend's buffer choices the memory estimate follows."""
        return "cpu" if self.name == "cpu" else "gpu"

    def peak_flops(self, precision: str) -> float:
        value = {"float32": self.fp32, "mixed_bfloat16": self.bf16, "mixed_float16": self.fp16}[precision]
        if value is None:
            raise ValueError(f"{self.title} has no {precision.removeprefix('mixed_')} arithmetic; "
                             "use --precision float32 or mixed_float16")
        return value


# What Keras's XLA kernels reach on a GPU, as fractions of the device's own peaks per kernel family, and a
# fixed cost per layer and step (launches, small kernels): fitted by bench/gpu_calibration.py to one H200's
# measured training steps (six bundled families, Keras 3.15 on JAX 0.11, mixed_bfloat16), and per device
# scaled by one factor to NVIDIA's published ResNet-50 training throughput (DeepLearningExamples, TF + XLA:
# A100 40GB, V100 16GB); the H100s take the H200's. tests/test_training_estimate.py refits them and checks.
GPU_EFFICIENCY = {"matmul": 0.35, "depthwise": 0.02, "elementwise": 1.0, "memory": 0.9}
GPU_LAYER_OVERHEAD_S = 80e-6
HOPPER_SAME, PUBLISHED = ", the same Hopper kernels", ", scaled ×{:g} to NVIDIA's published ResNet-50 steps"
GPU_SCALE = {"h100": (1.0, HOPPER_SAME), "h100-pcie": (1.0, HOPPER_SAME), "h200": (1.0, ""),
             "a100": (0.95, PUBLISHED), "a100-40gb": (0.95, PUBLISHED), "v100": (1.55, PUBLISHED)}
GPU_CALIBRATION = ("Keras/XLA kernel efficiencies from one H200's measured steps{}; bench/gpu_calibration.py, "
                   "docs/training-estimates.md")


def gpu_efficiency(scale: float) -> dict:
    """GPU_EFFICIENCY scaled by a device's factor, none above 1."""
    return {k: min(1.0, round(v * scale, 3)) for k, v in GPU_EFFICIENCY.items()}


def _gpu_calibrated(dev: Device) -> Device:
    if dev.name not in GPU_SCALE:
        return dev                      # nothing measured: the bare roofline
    scale, how = GPU_SCALE[dev.name]
    return replace(dev, efficiency=gpu_efficiency(scale), layer_overhead_s=GPU_LAYER_OVERHEAD_S,
                   calibration=GPU_CALIBRATION.format(how.format(scale)))


DEVICES: dict[str, Device] = {d.name: _gpu_calibrated(d) for d in (
    Device("h100", "NVIDIA H100 SXM5 80GB", 494.7 * T, 989.4 * T, 989.4 * T, 80e9, 3.35e12,
           "NVIDIA H100 Tensor Core GPU datasheet (SXM5): TF32 989 / BF16 1,979 / FP16 1,979 TFLOPS with sparsity "
           "(half dense), 80 GB HBM3, 3.35 TB/s", xla_gpu=XlaGpu(sms=132, clock_ghz=1.98, **HOPPER)),
    Device("h100-pcie", "NVIDIA H100 PCIe 80GB", 378.0 * T, 756.0 * T, 756.0 * T, 80e9, 2.0e12,
           "NVIDIA H100 datasheet (PCIe): TF32 756 / BF16 1,513 TFLOPS with sparsity, 80 GB HBM2e, 2.0 TB/s",
           xla_gpu=XlaGpu(sms=114, clock_ghz=1.755, **HOPPER)),
    Device("h200", "NVIDIA H200 SXM 141GB", 494.7 * T, 989.4 * T, 989.4 * T, 141e9, 4.8e12,
           "NVIDIA H200 Tensor Core GPU datasheet (SXM): TF32 989 / BF16 1,979 TFLOPS with sparsity, "
           "141 GB HBM3e, 4.8 TB/s", xla_gpu=XlaGpu(sms=132, clock_ghz=1.98, **HOPPER)),
    Device("a100", "NVIDIA A100 SXM4 80GB", 156.0 * T, 312.0 * T, 312.0 * T, 80e9, 2.039e12,
           "NVIDIA A100 Tensor Core GPU datasheet: TF32 156 / BF16 312 / FP16 312 TFLOPS dense, 80 GB HBM2e, 2,039 GB/s",
           xla_gpu=XlaGpu(**AMPERE)),
    Device("a100-40gb", "NVIDIA A100 SXM4 40GB", 156.0 * T, 312.0 * T, 312.0 * T, 40e9, 1.555e12,
           "NVIDIA A100 Tensor Core GPU datasheet: 40 GB HBM2, 1,555 GB/s", xla_gpu=XlaGpu(**AMPERE)),
    Device("l4", "NVIDIA L4 24GB", 60.0 * T, 121.0 * T, 121.0 * T, 24e9, 0.3e12,
           "NVIDIA L4 datasheet: TF32 120 / BF16 242 / FP16 242 TFLOPS with sparsity, 24 GB GDDR6, 300 GB/s",
           xla_gpu=XlaGpu((8, 9), 58, 128, 48 * MiB, 100 * KiB, 99 * KiB, 1536, 2.04)),
    Device("t4", "NVIDIA T4 16GB", 8.1 * T, None, 65.0 * T, 16e9, 0.32e12,
           "NVIDIA T4 datasheet: FP32 8.1 / mixed FP16 65 TFLOPS, no bfloat16, 16 GB GDDR6, 320 GB/s",
           xla_gpu=XlaGpu((7, 5), 40, 64, 4 * MiB, 64 * KiB, 64 * KiB, 1024, 1.59)),
    Device("v100", "NVIDIA V100 SXM2 32GB", 15.7 * T, None, 125.0 * T, 32e9, 0.9e12,
           "NVIDIA V100 datasheet (SXM2): FP32 15.7 / tensor FP16 125 TFLOPS, no bfloat16, 32 GB HBM2, 900 GB/s",
           xla_gpu=XlaGpu((7, 0), 80, 64, 6 * MiB, 96 * KiB, 96 * KiB, 2048, 1.53)),
)}


def device_names() -> list[str]:
    return [*DEVICES, "cpu"]


def get_device(name: str, cache_dir: str | os.PathLike | None = None) -> Device:
    key = name.lower()
    if key == "cpu":
        return cpu_device(cache_dir)
    if key not in DEVICES:
        import difflib

        close = difflib.get_close_matches(key, device_names(), 1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"unknown device '{name}'{hint}; devices: {', '.join(device_names())}")
    return DEVICES[key]


# ---- the CPU, measured ---------------------------------------------------------------------------
def _cache_file(cache_dir) -> Path:
    base = Path(cache_dir) if cache_dir else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archspec"
    return base / "cpu-device.json"


def _cpu_key() -> str:
    return f"{platform.machine()} {platform.processor() or platform.node()} {os.cpu_count()} cpus"


# What XLA:CPU's kernels reach on a CPU, as fractions of the measured peaks (numpy's matmul, a copy),
# and its fixed cost per layer and step: calibrated with bench/op_time_bench.py — each family's layer
# repeated R and 3R times in Keras's compiled JAX Adam step, the difference per layer against the bare
# roofline, the minimum of repeated steps (a shared 2-core x86-64 machine, jax 0.10.2; see
# docs/training-estimates.md for the measurements). Fractions of the peak, so they carry over to
# another CPU as far as its XLA kernels behave alike.
CPU_EFFICIENCY = {"matmul": 0.5, "depthwise": 0.7, "elementwise": 1.0, "memory": 0.4}
CPU_LAYER_OVERHEAD_S = 0.0
CPU_CALIBRATION = "XLA:CPU efficiencies (jax 0.10.2; bench/op_time_bench.py and whole families, docs/training-estimates.md)"


def _calibrated(dev: Device) -> Device:
    return replace(dev, efficiency=dict(CPU_EFFICIENCY), layer_overhead_s=CPU_LAYER_OVERHEAD_S,
                   calibration=CPU_CALIBRATION)


def cpu_device(cache_dir=None, remeasure: bool = False) -> Device:
    """This machine's CPU: float32 matrix FLOP/s (numpy's BLAS, all cores) and copy bandwidth, measured
    once (about a second) and cached in ~/.cache/archspec/cpu-device.json; with XLA:CPU's calibrated
    efficiencies (CPU_EFFICIENCY) applied."""
    path = _cache_file(cache_dir)
    if not remeasure:
        try:
            data = json.loads(path.read_text())
            if data.pop("key") == _cpu_key():
                return _calibrated(Device(**data))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    flops, bw = measure_cpu()
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    dev = Device("cpu", f"this CPU ({os.cpu_count()} cores, measured)", flops, flops, flops, float(total), bw,
                 "measured by archspec: numpy float32 matmul and array copy; bfloat16/float16 timed as float32")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": _cpu_key(), **asdict(dev)}))
        tmp.replace(path)
    except OSError:
        pass
    return _calibrated(dev)


def measure_cpu(seconds: float = 0.3) -> tuple[float, float]:
    """(float32 matmul FLOP/s, copy bandwidth in bytes/s), best of repeated runs."""
    import numpy as np

    n = 1024
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.copy()
    src = np.ones(96 * 2 ** 20 // 4, np.float32)        # 96 MiB, beyond the caches
    dst = src.copy()                                    # touched: no page faults in the timing
    return 2 * n ** 3 / _best(lambda: a @ b, seconds), 2 * src.nbytes / _best(lambda: np.copyto(dst, src), seconds)


def _best(fn, seconds: float, at_least: int = 3) -> float:
    fn()
    best, runs, end = float("inf"), 0, time.perf_counter() + seconds
    while runs < at_least or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        best, runs = min(best, time.perf_counter() - t), runs + 1
    return best

