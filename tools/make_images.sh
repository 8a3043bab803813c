#!/usr/bin/env bash
# Regenerates the diagrams in docs/images/ that the README and docs/draw.md show:
#
#   tools/make_images.sh
#
# Needs Graphviz's `dot` and the project venv (tools/setup.sh installs both). The output is deterministic: running it
# again on the same specs with the same Graphviz gives the same files, so `git diff` shows only
# real changes. Spec warnings are kept quiet unless a drawing fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-${ARCHSPEC_VENV:-$PWD/.venv}/bin/python}     # tools/setup.sh makes it
OUT=docs/images
mkdir -p "$OUT"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

draw() {  # draw SPEC OUTPUT [OPTIONS...]
  local spec=$1 out=$2
  shift 2
  if ! $PY -m archspec draw "specs/$spec.yaml" -o "$OUT/$out" "$@" 2>"$log"; then
    cat "$log" >&2
    exit 1
  fi
  echo "wrote $OUT/$out ($(wc -c <"$OUT/$out") bytes)"
}

# the README's first example: Inception-v4's Inception-A block (automatic depth: every layer, readable at page width)
draw inception_a inception_a.svg
draw inception_a inception_a.png --dpi 96
# the default picture (automatic depth): every top-level block opened, the blocks they call as boxes
draw inception_resnet_cifar10 inception_resnet_cifar10.svg
draw inception_resnet_cifar10 inception_resnet_cifar10.png --dpi 96
# an overview shaded by MACs, for docs/draw.md
draw inception_resnet_cifar10 inception_resnet_cifar10_macs.svg --depth 1 --color-by macs
draw inception_resnet_cifar10 inception_resnet_cifar10_macs.png --depth 1 --color-by macs --dpi 96
