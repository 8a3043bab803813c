"""Property tests: random small stacks of layers infer exactly the shapes and parameter counts
that Keras computes for the same layers."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec


@st.composite
def layer_stack(draw):
    h, w, c = draw(st.integers(4, 24)), draw(st.integers(4, 24)), draw(st.integers(1, 6))
    entries = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "dw", "pool", "pad", "up", "sep", "bn", "deconv"]))
        k = draw(st.sampled_from([1, 2, 3, 5, [1, 3], [3, 1]]))
        s = draw(st.sampled_from([1, 2]))
        p = draw(st.sampled_from(["same", "valid"]))
        if kind == "conv":
            entries.append(f"conv2d: {{filters: {draw(st.integers(1, 8))}, kernel: {k}, strides: {s}, padding: {p}}}")
        elif kind == "dw":
            entries.append(f"depthwise_conv2d: {{kernel: {k}, strides: {s}, padding: {p}}}")
        elif kind == "sep":
            entries.append(f"separable_conv2d: {{filters: 3, kernel: {k}, strides: {s}, padding: {p}}}")
        elif kind == "deconv":
            entries.append(f"conv2d_transpose: {{filters: 2, kernel: {k}, strides: {s}, padding: {p}}}")
        elif kind == "pool":
            entries.append(f"{draw(st.sampled_from(['max_pool', 'avg_pool']))}: {{pool_size: {k}, "
                           f"strides: {s}, padding: {p}}}")
        elif kind == "pad":
            entries.append(f"zero_padding: {draw(st.sampled_from([1, '[0, 1]', '[[1, 0], [2, 1]]']))}")
        elif kind == "up":
            entries.append("upsampling: {size: 2}")
        else:
            entries.append("batch_norm: {}")
    text = f"archspec: 1\nname: p\ninputs: {{x: [{h}, {w}, {c}]}}\nmodel:\n" + "".join(f"  - {e}\n" for e in entries)
    return text, (h, w, c)


@pytest.mark.keras
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_stack())
def test_random_stacks_match_keras(case):
    import keras

    text, shape = case
    try:
        spec = archspec.load_text(text, "p.yaml")
    except archspec.SpecError as exc:
        # archspec refused (a window larger than its input): Keras must refuse too
        assert all(d.code in ("shape-empty",) for d in exc.diagnostics), exc
        with pytest.raises(Exception):
            _build(keras, text)
        return
    model = _build(keras, text)
    out = model.outputs[0]
    assert tuple(out.shape[1:]) == spec.graph[list(spec.graph.outputs.values())[0]].shape
    assert model.count_params() == spec.analysis().total.params


def _build(keras, text):
    """Independent Keras construction straight from the YAML (not through archspec's builder)."""
    import yaml

    from archspec import ops

    doc = yaml.safe_load(text)
    x = inp = keras.Input(shape=doc["inputs"]["x"])
    for i, entry in enumerate(doc["model"]):
        (name, attrs), = entry.items()
        op = ops.REGISTRY[name]
        if not isinstance(attrs, dict):
            attrs = {op.primary: attrs}
        x = op.build_keras(op.Attrs.model_validate(attrs), f"l{i}")(x)
    return keras.Model(inp, x)
