"""A differential test against Keras: random small networks over every op, archspec's answer (output shape
and parameter count, or a refusal) compared with the same network built directly in Keras 3.

Each case is one op (sometimes followed by a second one, or by `branches:` of two identity paths merged
with `add`) with attributes drawn around the op's own examples: every attribute of the op gets values
of its type (enums, small integers, pairs, booleans, floats, lists), the input shapes vary around the
example's. archspec checks the spec text (`archspec.load_text`, as `check` does); Keras builds the same
layers (the op's `build_keras`, i.e. the layer class and arguments `compile` uses) on `keras.Input`s.

Outcomes: both build → the output shape and `count_params()` must agree; one refuses, the other
builds → a disagreement, which must be listed below as deliberate (and explained in
docs/conventions.md) or as pending (PENDING, empty now); an exception other than a located SpecError from archspec is an
internal error, always a failure.

Seeded and bounded in time: the `keras` group runs a few hundred cases (ARCHSPEC_DIFF_CASES), the
`slow` group thousands (ARCHSPEC_DIFF_SLOW_CASES); ARCHSPEC_DIFF_SEED picks another sequence.
"""
import os
import random
import time

import pytest

import archspec
from archspec import ops
from archspec.editor.analysis import op_schema
from archspec.ops.base import ACTIVATIONS, ARCHSPEC_ACTIVATIONS, REFUSED_ACTIVATIONS

USER_OPS = sorted(k for k, v in ops.REGISTRY.items() if not v.internal)
SEED = int(os.environ.get("ARCHSPEC_DIFF_SEED", "25"))
SKIP_FIELDS = {"name", "from", "repeat", "when"}

# Disagreements archspec keeps on purpose (docs/conventions.md, "Where archspec and Keras differ"):
# why -> (who refuses, predicate(entries, archspec's error codes)); entries are the case's (op, attributes).
DELIBERATE = {
    "dense on a feature map without per_position":
        ("archspec refuses", lambda es, codes: codes == ["shape-rank"] and any(
            op == "dense" and not a.get("per_position") for op, a in es)),
    "an axis that names the batch axis (concat joins samples, layer_norm normalizes across them)":
        ("archspec refuses", lambda es, codes: codes == ["shape-rank"] and any(
            isinstance(a.get("axis"), int) and (a["axis"] == 0 or a["axis"] < -1) for op, a in es)),
    "an attention padding mask that is not one flag per key token (Keras broadcasts whatever it is given)":
        ("archspec refuses", lambda es, codes: codes == ["shape-mismatch"] and any(
            op == "attention" and a.get("padding_mask") for op, a in es)),
    "token_embedding of anything but a sequence of token ids (Keras's Embedding casts any tensor to integers)":
        ("archspec refuses", lambda es, codes: codes == ["shape-rank"] and any(op == "token_embedding" for op, _ in es)),
    "padding_mask of anything but a sequence of token ids (keras.ops.not_equal compares any tensor with the pad id)":
        ("archspec refuses", lambda es, codes: codes == ["shape-rank"] and any(op == "padding_mask" for op, _ in es)),
    "a mask (padding_mask's output) fed to an op that reads none (Keras computes with the booleans as numbers)":
        ("archspec refuses", lambda es, codes: codes == ["input-dtype"] and any(op == "padding_mask" for op, _ in es)),
    "resize with both crop_to_aspect_ratio and pad_to_aspect_ratio (Keras applies one and ignores the other)":
        ("archspec refuses", lambda es, codes: codes == ["schema"] and any(
            op == "resize" and a.get("crop_to_aspect_ratio") and a.get("pad_to_aspect_ratio") for op, a in es)),
    "resize of a tensor that is no image (Keras's Resizing takes a rank-2 batch for one unbatched image)":
        ("archspec refuses", lambda es, codes: codes == ["shape-rank"] and any(op == "resize" for op, _ in es)),
    "dropout noise_shape that does not fit the input (Keras reads it only in training)":
        ("archspec refuses", lambda es, codes: set(codes) <= {"shape-rank", "shape-mismatch"} and any(
            op == "dropout" and a.get("noise_shape") is not None for op, a in es)),
}

# Known disagreements not yet sorted out: (who refuses, predicate) as above — none now. Branch i28's
# four (depthwise/separable strides with dilation, conv2d_transpose, relu threshold, normalization
# lengths) matched none of 3,000 cases once merged; attention with a padding mask or grouped heads was
# the harness calling the layer without the node's attributes (the mask taken for a key).
PENDING: dict = {}


# ---- random cases ------------------------------------------------------------------------------
def _values(prop: dict, example, rng: random.Random):
    """A value of the type a schema property states (expressions left out), near the example's."""
    alts = [p for p in prop.get("anyOf", [prop]) if p.get("pattern") != "^\\$"]
    alt = rng.choice(alts) if alts else {}
    t = alt.get("type")
    if "enum" in alt:
        return rng.choice(alt["enum"])
    if t == "null":
        return None
    if t == "boolean":
        return rng.random() < 0.5
    if t == "integer":
        lo = alt.get("minimum", -3)
        return rng.choice([lo, lo + 1, lo + 2, rng.randint(lo, lo + 8)])
    if t == "number":
        lo = alt.get("minimum", alt.get("exclusiveMinimum", -1.0))
        hi = alt.get("maximum", 3.0)
        return rng.choice([x for x in (0.0, 0.1, 0.5, 1.0, 2.0, -1.0, -0.5, lo, hi) if lo <= x <= hi] or [lo])
    if t == "array":
        items = alt.get("items")
        if isinstance(items, list):                      # a pair / fixed tuple
            return [_values(i, None, rng) for i in items]
        n = len(example) if isinstance(example, (list, tuple)) and rng.random() < 0.6 else rng.randint(1, 4)
        return [_values(items or {}, None, rng) for _ in range(n)]
    if t == "string":
        return example if isinstance(example, str) else "x"
    return example


def _shape(ex: tuple, rng: random.Random) -> list:
    return [d if rng.random() < 0.5 else rng.randint(1, 12) for d in ex]


def random_case(rng: random.Random) -> dict:
    name = rng.choice(USER_OPS)
    op = ops.REGISTRY[name]
    attrs, ins, _, _ = rng.choice(op.examples)
    attrs = dict(attrs)
    props = {k: v for k, v in op_schema(name).items() if k not in SKIP_FIELDS}
    for field in rng.sample(sorted(props), k=min(len(props), rng.choice([0, 1, 1, 2, 3]))):
        if field == "activation" and rng.random() < 0.3:
            attrs[field] = rng.choice(ACTIVATIONS)
        else:
            attrs[field] = _values(props[field], attrs.get(field), rng)
    shapes = [list(s) for s in ins]
    if rng.random() < 0.7:
        first = _shape(ins[0], rng)
        shapes = [first] + [first if rng.random() < 0.7 else _shape(s, rng) for s in ins[1:]]
    then = None
    if rng.random() < 0.25:
        nxt = rng.choice([n for n in USER_OPS if ops.REGISTRY[n].arity == (1, 1)])
        nattrs, _, _, _ = rng.choice(ops.REGISTRY[nxt].examples)
        then = (nxt, dict(nattrs))
    return {"op": name, "attrs": attrs, "shapes": shapes, "then": then, "identity_branches": rng.random() < 0.1}


def spec_text(case: dict) -> str:
    import json

    inputs = {f"x{k}": s for k, s in enumerate(case["shapes"])}
    entries = []
    attrs = dict(case["attrs"])
    if len(case["shapes"]) > 1:
        attrs["from"] = list(inputs)
    entries.append({case["op"]: attrs})
    if case["then"]:
        entries.append({case["then"][0]: case["then"][1]})
    if case["identity_branches"]:
        entries.append({"branches": {"paths": [[], []], "merge": "add"}})
    lines = ["archspec: 1", "name: diff", f"inputs: {json.dumps(inputs)}", "model:"]
    lines += [f"  - {json.dumps(e)}" for e in entries]
    return "\n".join(lines) + "\n"


# ---- the two answers ---------------------------------------------------------------------------
def archspec_answer(text: str):
    """('ok', shape, params) or ('refused', codes); any other exception is raised (an internal error)."""
    try:
        spec = archspec.load_text(text, "diff.yaml")
    except archspec.SpecError as exc:
        return ("refused", sorted({d.code for d in exc.diagnostics if d.severity == "error"}))
    g = spec.graph
    (out,) = g.outputs.values()
    return ("ok", tuple(g[out].shape), spec.analysis().total.params)


def _attrs(op, raw: dict):
    """The op's attributes for Keras: validated when archspec accepts them, else each field converted on
    its own (a cross-field rule archspec applies is exactly what Keras is asked about)."""
    from archspec.fast.pydantic_lite import Invalid

    try:
        return op.Attrs.model_validate(raw)
    except Invalid:
        pass
    base = dict(op.examples[0][0])
    out = {}
    for k, v in raw.items():
        try:
            out[k] = getattr(op.Attrs.model_validate({**base, k: v}), k)
        except Invalid:
            return None                                   # a value of the wrong type: no Keras question
    return op.Attrs.model_construct(**{**base, **out})


def keras_answer(case: dict):
    """('ok', shape, params), ('refused', message) or None when the case cannot be put to Keras."""
    import keras

    entries = [(case["op"], case["attrs"])] + ([case["then"]] if case["then"] else [])
    built = []
    for name, raw in entries:
        op = ops.REGISTRY[name]
        a = _attrs(op, raw)
        if a is None:
            return None
        try:
            layer = op.build_keras(a, f"l{len(built)}")
        except Exception as exc:                           # noqa: BLE001
            return ("refused", f"{type(exc).__name__}: {str(exc)[:200]}")
        built.append((op, layer, a))
    try:
        xs = [keras.Input(shape=tuple(s)) for s in case["shapes"]]
        op, layer, a = built[0]
        y = op.call_keras(layer, xs, a)                    # as `compile` calls it (attention: query, value, mask)
        for op, layer, a in built[1:]:
            y = op.call_keras(layer, [y], a)
        if case["identity_branches"]:
            y = keras.layers.Add()([y, y])
        model = keras.Model(xs, y)
    except Exception as exc:                               # noqa: BLE001  (Keras refuses in many ways)
        return ("refused", f"{type(exc).__name__}: {str(exc)[:200]}")
    return ("ok", tuple(model.output.shape[1:]), model.count_params())


def _explained(case: dict, who: str, codes) -> str | None:
    entries = [(case["op"], case["attrs"])] + ([case["then"]] if case["then"] else [])
    for table in (DELIBERATE, PENDING):
        for why, (side, pred) in table.items():
            if side in (who, "either") and pred(entries, list(codes)):
                return why
    return None


def run_cases(n: int, seconds: float, seed: int = SEED):
    rng = random.Random(seed)
    start = time.process_time()
    stats = {"cases": 0, "both": 0, "refused": 0, "explained": 0, "not_asked": 0}
    problems = []
    while stats["cases"] < n and time.process_time() - start < seconds:
        case = random_case(rng)
        text = spec_text(case)
        stats["cases"] += 1
        try:
            mine = archspec_answer(text)
        except Exception as exc:                           # noqa: BLE001
            problems.append(f"internal error {type(exc).__name__}: {exc}\n{text}")
            continue
        theirs = keras_answer(case)
        if theirs is None:
            stats["not_asked"] += 1
            continue
        case["answers"] = (mine, theirs)
        if mine[0] == theirs[0] == "ok":
            stats["both"] += 1
            if mine[1:] != theirs[1:]:
                problems.append(f"archspec {mine[1:]} vs Keras {theirs[1:]}\n{text}")
        elif mine[0] == theirs[0]:
            stats["refused"] += 1
        else:
            who = "archspec refuses" if mine[0] == "refused" else "keras refuses"
            if _explained(case, who, mine[1] if mine[0] == "refused" else []):
                stats["explained"] += 1
            else:
                problems.append(f"{who} [{case['op']}{' + ' + case['then'][0] if case['then'] else ''}]: "
                                f"archspec {mine}, Keras {theirs}\n{text}")
    return stats, problems


@pytest.mark.keras
def test_archspec_agrees_with_keras_on_random_networks():
    stats, problems = run_cases(int(os.environ.get("ARCHSPEC_DIFF_CASES", "150")), 20.0)
    assert stats["cases"] >= 60 and stats["both"] >= 30, stats
    assert not problems, f"{len(problems)} disagreements in {stats}:\n\n" + "\n\n".join(problems[:10])


@pytest.mark.keras
@pytest.mark.slow
def test_archspec_agrees_with_keras_on_thousands_of_random_networks():
    stats, problems = run_cases(int(os.environ.get("ARCHSPEC_DIFF_SLOW_CASES", "4000")), 900.0, SEED + 1)
    assert stats["cases"] >= 2000, stats
    assert not problems, f"{len(problems)} disagreements in {stats}:\n\n" + "\n\n".join(problems[:20])


@pytest.mark.keras
def test_every_keras_activation_is_accepted_or_refused_with_a_reason():
    """Keras 3's activation names are ACTIVATIONS (accepted, and Keras builds them with the same shape)
    or REFUSED_ACTIVATIONS (refused with the reason in the error); a Keras release adding one fails here."""
    from keras.src.activations import ALL_OBJECTS_DICT

    keras_names = set(ALL_OBJECTS_DICT)
    ours = set(ACTIVATIONS) - ARCHSPEC_ACTIVATIONS         # gelu_approximate: archspec's own name for a Keras form
    assert keras_names == ours | set(REFUSED_ACTIVATIONS), \
        (keras_names - ours - set(REFUSED_ACTIVATIONS), ours - keras_names)
    for name in sorted(keras_names):
        case = {"op": "dense", "attrs": {"units": 4, "activation": name}, "shapes": [[6]], "then": None,
                "identity_branches": False}
        mine = archspec_answer(spec_text(case))
        if name in REFUSED_ACTIVATIONS:
            assert mine[0] == "refused"
            with pytest.raises(archspec.SpecError) as exc:
                archspec.load_text(spec_text(case), "a.yaml")
            assert REFUSED_ACTIVATIONS[name] in exc.value.diagnostics[0].message
        else:
            assert mine == keras_answer(case) == ("ok", (4,), 28), name


if __name__ == "__main__":                            # python tests/test_differential.py [N] [SEED]
    import sys

    stats, problems = run_cases(int(sys.argv[1]) if len(sys.argv) > 1 else 500, 1e9,
                                int(sys.argv[2]) if len(sys.argv) > 2 else SEED)
    print(stats)
    for p in problems:
        print(p, end="\n\n")
