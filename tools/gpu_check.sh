#!/usr/bin/env bash
# A GPU check any machine can run offline in a few minutes: installs archspec from the wheel folder
# that `python tools/prepare_wheels.py` made beforehand (on a machine with PyPI) into a throw-away
# folder on PYTHONPATH beside the machine's own JAX (and NumPy, ml-dtypes), then trains the ResNet-50
# spec on synthetic data with bf16 + XLA for a fixed number of steps (bench/gpu_bench.py) and prints
# images/s per device, step time and MFU.
#
#   tools/gpu_check.sh [--wheels DIR] [--python PY] [--keep] [bench/gpu_bench.py options…]
#   tools/gpu_check.sh                                             # on a GPU: batch 256 per device, 50 steps × 3
#   tools/gpu_check.sh --batch-per-device 2 --steps 3 --warmup 1 --repeats 1   # the CPU smoke test
#
# Needs: python3 (3.10–3.13) with JAX installed; no network, no TensorFlow. Exit status: that of the
# benchmark, 2 if the set-up is missing something.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHEELS=$ROOT/wheels
PY=${PYTHON:-python3}
KEEP=0
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) WHEELS=$2; shift 2 ;;
        --python) PY=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --spec) [ $# -ge 2 ] || { echo "gpu_check: --spec needs a file" >&2; exit 2; }
                # the benchmark runs in a scratch folder: a relative path is the caller's
                case "$2" in /*) ARGS+=(--spec "$2") ;; *) ARGS+=(--spec "$PWD/$2") ;; esac; shift 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
fail() { echo "gpu_check: $*" >&2; exit 2; }
[ -f "$WHEELS/requirements.txt" ] || fail "no wheel folder at $WHEELS; run 'python tools/prepare_wheels.py' on a machine with PyPI first (then copy the folder here)"
"$PY" -c "import jax" 2>/dev/null || fail "$PY cannot import jax; this check runs archspec on the machine's own JAX"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/archspec-gpu-check.XXXXXX")
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
echo "gpu_check: installing archspec from $WHEELS into $WORK (offline)"
# A private folder on PYTHONPATH, not a venv: a venv made from a Python that is itself a venv would
# not see that venv's JAX. Our pinned packages come first on the path; the machine's JAX, NumPy and
# ml-dtypes stay as they are.
"$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" --target "$WORK/site" \
    -r "$WHEELS/requirements.txt" || fail "pip could not install from $WHEELS (does it hold wheels for $("$PY" -V 2>&1)?)"
export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
VPY=$PY
cd "$WORK"          # not the checkout: the installed archspec is the one that runs
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3
"$VPY" - <<'PY'
import archspec, jax, keras, pathlib
where = pathlib.Path(archspec.__file__).parent
print(f"gpu_check: archspec {archspec.__version__} from {where}; keras {keras.__version__}; jax {jax.__version__}: "
      f"{len(jax.devices())} × {jax.devices()[0].device_kind}")
PY
# On an accelerator, the estimate-vs-XLA table also holds the other bundled families and a token model, so
# that one run confirms or corrects docs/training-estimates.md and the device's efficiencies
# (archspec/devices.py); a --compare of the caller's replaces the list (`--compare` alone: none).
COMPARE=()
if [ "$("$VPY" -c 'import jax; print(jax.default_backend())')" != cpu ]; then
    COMPARE=(--compare specs/mobilenet_v2.yaml:256 specs/efficientnet_b0.yaml:128 specs/densenet121.yaml:128
             specs/convnext_tiny.yaml:128 specs/vit_b16.yaml:128 specs/gpt2_small.yaml:8
             specs/bert_base.yaml:16:length=512 specs/whisper_encoder.yaml:16)
fi
exec "$VPY" "$ROOT/bench/gpu_bench.py" --spec "$ROOT/specs/resnet50.yaml" --backend jax ${COMPARE[@]+"${COMPARE[@]}"} \
    ${ARGS[@]+"${ARGS[@]}"}
