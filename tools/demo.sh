#!/usr/bin/env bash
# Sets everything up (tools/setup.sh: the project venv .venv/) and runs archspec on the bundled specs:
# the README's first example (Inception-v4's Inception-A block), then check all specs, report, draw and
# compile a few, and train the digits CNN, a small ViT and a tiny GPT (on archspec's own documentation). Files go to ./out/ and ./runs/ (both git-ignored); each
# command prints the full path it wrote. Each warning is printed once: `check` shows them all, the
# later commands on the same specs pass --no-warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export PATH="${ARCHSPEC_VENV:-$PWD/.venv}/bin:$PATH"     # the venv's archspec
set -x
archspec compile specs/inception_a.yaml
archspec draw specs/inception_a.yaml
archspec report specs/inception_a.yaml
archspec check specs/*.yaml || true          # the faithful seed-000 spec warns on purpose
archspec report specs/resnet50.yaml
archspec report specs/inception_v1_module.yaml --depth all
archspec draw specs/inception_resnet_cifar10.yaml --depth 1 --no-warnings
archspec draw specs/resnet50.yaml --depth 1 -o out/resnet50.png
archspec compile specs/mnist_cnn.yaml
archspec train specs/digits_cnn.yaml --out runs/digits_demo --restart     # scikit-learn's digits, ~30 s on 2 cores
archspec report specs/vit_b16.yaml --depth 1 --no-warnings                 # attention's MACs counted in full
# a small ViT on the same digits; seeded: over seeds its test accuracy spreads 0.93-0.97 around its 0.95
# target (8 seeds: 1 missed), seed 0 reaches 0.969 as the slow test holds it to
archspec train specs/digits_vit.yaml --out runs/digits_vit_demo --restart --seed 0
archspec report specs/tiny_gpt.yaml --train --batch 16 --no-warnings    # what one training step costs
archspec train specs/tiny_gpt.yaml --out runs/tiny_gpt_demo --restart    # byte-level GPT on docs/*.md: validation perplexity; ~85 s of CPU
archspec generate runs/tiny_gpt_demo --prompt "The run folder " --tokens 300 --temperature 0.8 --seed 0  # a sample
