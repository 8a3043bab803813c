"""Fuzzing the loader and the whole check pipeline: random bytes, random YAML-ish text and mutated
valid specs. The only outcomes allowed are a Spec or a located SpecError — no other exception, no hang.

CI runs a short budget; a long run is `ARCHSPEC_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py -p no:cacheprovider`.
"""
import contextlib
import os
import random

from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.codes import ALL

N = int(os.environ.get("ARCHSPEC_FUZZ_EXAMPLES", "300"))
SEEDS = [p.read_text(encoding="utf-8") for p in sorted(SPECS.glob("*.yaml"))]
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)


def check(text, name="f.yaml"):
    try:
        spec = archspec.load_text(text, name)
        spec.analysis()
        spec.warnings
        spec.report("table", None)
    except archspec.SpecError as exc:
        assert exc.diagnostics, "a SpecError must carry diagnostics"
        for d in exc.diagnostics:
            assert d.code in ALL, d
            assert d.loc is not None and d.loc.file == name, d
            assert d.message


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data):
    try:
        text = archspec.lang.source.decode(data, "f.yaml")
    except archspec.SpecError:
        return
    check(text)


TOKENS = ["archspec: 1\n", "name: f\n", "inputs: {x: [8, 8, 3]}\n", "model:\n", "  - ", "conv2d", "dense",
          "residual", "branches", "paths", "body", ": ", "{", "}", "[", "]", ", ", "filters", "kernel", "$in.channels",
          "$i", "1", "0", "-1", "3", "1e9", "null", "true", "from", "name", "repeat", "when", "\n", "    ", "&a ", "*a",
          "!!python/object:os.system", "'", '"', "#", "blocks:\n", "  b:\n    body: [b: {}]\n", "include: [x.yaml]\n",
          "\t", "\ufeff", "$1/0", "$", "relu", "concat", "add", "outputs: [nope]\n", "activation: $act\n"]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup(tokens):
    check("".join(tokens))


@st.composite
def mutated_spec(draw):
    text = draw(st.sampled_from(SEEDS))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        k = rnd.randrange(len(lines))
        op = rnd.choice(["delete", "dup", "swap", "digit", "char", "indent"])
        if op == "delete":
            del lines[k]
        elif op == "dup":
            lines.insert(k, lines[k])
        elif op == "swap":
            j = rnd.randrange(len(lines))
            lines[k], lines[j] = lines[j], lines[k]
        elif op == "digit":
            lines[k] = "".join(rnd.choice("0123456789-") if c.isdigit() and rnd.random() < 0.5 else c for c in lines[k])
        elif op == "char":
            if lines[k]:
                p = rnd.randrange(len(lines[k]))
                lines[k] = lines[k][:p] + rnd.choice(":{}[],$-#'\" \tab0") + lines[k][p + 1:]
        else:
            lines[k] = "  " + lines[k] if rnd.random() < 0.5 else lines[k].lstrip()
    return "".join(lines)


@FUZZ
@given(mutated_spec())
def test_mutated_specs(text):
    with contextlib.chdir(SPECS):          # so the specs' includes (lib/...) resolve
        check(text, "m.yaml")
