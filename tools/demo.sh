#!/usr/bin/env bash
# Sets everything up and runs archspec on the bundled specs: check all of them, report and draw
# a few, compile one to a .keras file, train the digits CNN. Outputs go to ./out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export PATH="${ARCHSPEC_VENV:-$PWD/.venv}/bin:$PATH"     # the venv's archspec
mkdir -p out
set -x
archspec check specs/*.yaml || true        # the faithful seed-000 spec warns on purpose
archspec check specs/inception_resnet_cifar10.yaml || true
archspec report specs/resnet50.yaml
archspec report specs/inception_v1_module.yaml --depth all
archspec draw specs/inception_resnet_cifar10.yaml --depth 1 -o out/inception_resnet_cifar10.svg
archspec draw specs/resnet50.yaml --depth 1 -o out/resnet50.png
archspec compile specs/mnist_cnn.yaml -o out/mnist_cnn.keras
archspec train specs/digits_cnn.yaml --out out/digits_run     # scikit-learn's digits, ~30 s on 2 cores
