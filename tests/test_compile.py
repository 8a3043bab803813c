"""Compiling specs into Keras 3 functional models (archspec.compile, `archspec compile`).

Fast group: layer naming and graph depth, no Keras. Keras group (`-m keras`): every spec in specs/
compiles and each layer's output shape and trainable / non-trainable parameters equal archspec's
inferred shape and analysis; the classic families equal keras.applications layer by layer, weights
copied over give the same outputs; a saved .keras file reloads in a fresh process with plain
`keras.saving.load_model` after `import archspec`; the same spec runs under KERAS_BACKEND=jax.
Slow group: 10,000-layer chains and 3,000-block residual networks.
"""
from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, SPECS, spec_files

import archspec
from archspec.compile import keras_name
from archspec.compile.deep import INLINE_DEPTH, graph_depth

PY = sys.executable
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}

SCALED = """
archspec: 1
name: scaled_residuals
inputs: {image: [12, 12, 3]}
model:
  - conv2d: {filters: 8, kernel: 3, padding: same, activation: relu}
  - residual:
      scale: 0.17
      activation: relu
      repeat: 2
      body:
        - branches:
            paths:
              - [conv2d: {filters: 4, kernel: 1}]
              - [conv2d: {filters: 4, kernel: 1}, conv2d: {filters: 6, kernel: 3, padding: same}]
        - conv2d: {filters: 8, kernel: 1}
  - global_avg_pool: {}
  - dense: {units: 5, activation: softmax, name: predictions}
"""

TWO_IN_TWO_OUT = """
archspec: 1
name: two_heads
inputs: {image: [8, 8, 3], meta: {shape: [4], dtype: float32}}
model:
  - conv2d: {filters: 4, kernel: 3}
  - flatten: {}
  - concat: {from: [flatten, meta]}
  - dense: {units: 3, name: zeta}
  - dense: {units: 2, from: concat, name: alpha}
outputs: {zeta: zeta, alpha: alpha}
"""


def run_py(code: str, env=None, timeout=600):
    proc = subprocess.run([PY, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env=env or ENV, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


# ---- fast: naming and depth (no Keras) ------------------------------------------------------------
def test_keras_name_replaces_the_path_separator():
    assert keras_name("stage3/block_2/conv2d") == "stage3.block_2.conv2d"
    assert keras_name("image") == "image"
    assert "/" not in keras_name("a/b/c")


def test_graph_depth(load):
    spec = load(TWO_IN_TWO_OUT)
    assert graph_depth(spec.graph) == 5          # image → conv2d → flatten → concat → dense


def test_import_archspec_does_not_import_keras():
    out = run_py("""
        import sys, archspec
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax')))
    """)
    assert out.strip() == "[]"


# ---- keras: every spec, layer by layer -----------------------------------------------------------
def _layer_params(layer) -> tuple[int, int]:
    return (sum(math.prod(w.shape) for w in layer.trainable_weights),
            sum(math.prod(w.shape) for w in layer.non_trainable_weights))


def check_layers(spec, model):
    """Every node is one layer, found by keras_name(path), with archspec's shape and parameters — except a
    node whose op calls another node's layer again (`shared_layer`: tied_logits), which has none of its own."""
    from archspec import ops

    a = spec.analysis()
    own = [n for n in spec.graph if not getattr(ops.get(n.op), "shared_layer", False)]
    assert len(model.layers) == len(own)
    for node in own:
        layer = model.get_layer(keras_name(node.id))
        assert tuple(layer.output.shape[1:]) == tuple(node.shape), node.id
        cost = a.nodes[node.id]
        assert _layer_params(layer) == (cost.trainable, cost.non_trainable), node.id
    assert model.count_params() == a.total.params


HEAVY = {"inception_resnet_v2.yaml", "vgg16.yaml", "densenet121.yaml", "vgg16_inception_resnet.yaml", "vit_b16.yaml",
         "convnext_tiny.yaml", "whisper_encoder.yaml", "bert_base.yaml", "gpt2_small.yaml", "llama.yaml"}


@pytest.mark.keras
@pytest.mark.parametrize("path", [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in HEAVY else [])
                                  for p in spec_files()])
def test_every_spec_compiles_layer_by_layer(path):
    import keras

    spec = archspec.load(path)
    model = spec.to_keras()
    check_layers(spec, model)
    assert model.name == spec.name
    assert [t.dtype for t in model.inputs] == [spec.graph[i].attrs.dtype for i in spec.graph.inputs]
    del model
    keras.backend.clear_session()
    gc.collect()


@pytest.mark.keras
def test_inputs_outputs_names_and_dtypes(load):
    import numpy as np

    spec = load(TWO_IN_TWO_OUT)
    model = spec.to_keras()
    check_layers(spec, model)
    assert [t.name for t in model.inputs] == ["image", "meta"]
    y = model([np.zeros((2, 8, 8, 3), "float32"), np.zeros((2, 4), "float32")])
    assert list(y) == ["zeta", "alpha"]                  # the spec's output names, in the spec's order
    assert tuple(y["zeta"].shape) == (2, 3) and tuple(y["alpha"].shape) == (2, 2)
    single = load("archspec: 1\nname: s\ninputs: {x: {shape: [4], dtype: int32}}\n"
                  "model:\n  - rescaling: 0.5\n  - dense: {units: 2}\n").to_keras()
    assert single.inputs[0].dtype == "int32" and single.output_names == ["dense"]


@pytest.mark.keras
def test_names_never_use_keras_counters(load):
    """Building twice in one process gives the same names (Keras would count conv2d, conv2d_1, ...)."""
    a = load(SCALED).to_keras()
    b = load(SCALED).to_keras()
    assert [lay.name for lay in a.layers] == [lay.name for lay in b.layers]
    assert "residual_2.scaled_add" in [lay.name for lay in a.layers]
    assert all(w.path.split("/")[0] in {lay.name for lay in a.layers} for w in a.weights)


# ---- keras: the classic families against keras.applications --------------------------------------
FAMILIES = [  # (spec file, keras.applications constructor, in the default keras group)
    ("resnet50.yaml", "ResNet50", True),
    ("mobilenet_v2.yaml", "MobileNetV2", True),
    ("densenet121.yaml", "DenseNet121", False),
    ("vgg16.yaml", "VGG16", False),
    ("inception_resnet_v2.yaml", "InceptionResNetV2", False),
    ("efficientnet_b0.yaml", "EfficientNetB0", False),
    ("convnext_tiny.yaml", "ConvNeXtTiny", False),
]


def _with_weights(model):
    """The layers that hold weights, in model.layers order; a nested Sequential (ConvNeXt's stem and
    downsampling blocks) by its own layers."""
    import keras

    out = []
    for lay in model.layers:
        out += [x for x in lay.layers if x.weights] if isinstance(lay, keras.Sequential) else [lay] if lay.weights else []
    return out


@pytest.mark.keras
@pytest.mark.parametrize("path, ctor", [pytest.param(p, c, id=c, marks=[] if fast else [pytest.mark.slow])
                                        for p, c, fast in FAMILIES])
def test_family_equals_keras_applications(path, ctor):
    """Same parameters per layer; the reference's weights copied in give the same outputs."""
    import keras
    import numpy as np

    if not (SPECS / path).exists():
        pytest.skip(f"specs/{path} is not written yet")
    keras.backend.clear_session()
    spec = archspec.load(SPECS / path)
    ours = spec.to_keras()
    ref = getattr(keras.applications, ctor)(weights=None)
    assert (ours.count_params(), _layer_params(ours)) == (ref.count_params(), _layer_params(ref))
    a, b = _with_weights(ours), _with_weights(ref)
    assert [_layer_params(x) for x in a] == [_layer_params(y) for y in b]
    for x, y in zip(a, b):
        assert [tuple(w.shape) for w in x.weights] == [tuple(w.shape) for w in y.weights], (x.name, y.name)
        x.set_weights(y.get_weights())
    batch = np.random.default_rng(0).uniform(-1, 1, (2, *ref.input.shape[1:])).astype("float32")
    # compare the features before the classifier (large values) and the class probabilities
    feats = [keras.Model(m.input, m.layers[-2].output) for m in (ours, ref)]
    diff_features = float(np.max(np.abs(np.asarray(feats[0](batch)) - np.asarray(feats[1](batch)))))
    diff_out = float(np.max(np.abs(np.asarray(ours(batch)) - np.asarray(ref(batch)))))
    print(f"{ctor}: max |Δ| features {diff_features:.3g}, probabilities {diff_out:.3g}")
    assert diff_features <= 1e-4 and diff_out <= 1e-4
    del ours, ref, feats, a, b
    keras.backend.clear_session()
    gc.collect()


# ---- keras: the .keras round trip in a fresh process ---------------------------------------------
ROUND_TRIP = [("scaled", SCALED), ("two_heads", TWO_IN_TWO_OUT), ("inception_resnet_blocks", None),
              ("mnist_cnn", None), ("digits_vit", None)]


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory):
    """Each ROUND_TRIP model built here, run on a fixed batch and saved; then ONE fresh process (not
    this one, where the models were built: it imports archspec, then Keras, nothing else) loads every
    file and runs it on the same batch. name -> (the model built here, its outputs' keys, what the fresh
    process saw). One process for the five saves four TensorFlow imports, each several CPU seconds;
    each load is still reported on its own, a failing one as its error."""
    import numpy as np

    from archspec.compile import save_model

    tmp = tmp_path_factory.mktemp("round_trip")
    built = {}
    for name, text in ROUND_TRIP:
        spec = archspec.load_text(text) if text else archspec.load(SPECS / f"{name}.yaml")
        model = spec.to_keras()
        rng = np.random.default_rng(1)
        xs = [rng.uniform(-1, 1, (2, *t.shape[1:])).astype("float32") for t in model.inputs]
        ys = model(xs if len(xs) > 1 else xs[0])
        ys = {k: np.asarray(v) for k, v in ys.items()} if isinstance(ys, dict) else {"": np.asarray(ys)}
        save_model(model, tmp / f"{name}.keras")
        np.savez(tmp / f"{name}.npz", **{f"x{k}": x for k, x in enumerate(xs)}, **{f"y_{k}": v for k, v in ys.items()})
        built[name] = (spec, model, list(ys))
    out = run_py(f"""
        import sys, json, traceback
        import numpy as np
        import archspec
        assert 'keras' not in sys.modules
        import keras
        seen = {{}}
        for name in {[n for n, _ in ROUND_TRIP]!r}:
            try:
                m = keras.saving.load_model({str(tmp)!r} + f'/{{name}}.keras')
                io = np.load({str(tmp)!r} + f'/{{name}}.npz')
                xs = [io[k] for k in sorted(k for k in io.files if k.startswith('x'))]
                ys = m(xs if len(xs) > 1 else xs[0])
                ys = {{k: np.asarray(v) for k, v in ys.items()}} if isinstance(ys, dict) else {{'': np.asarray(ys)}}
                seen[name] = {{'names': [l.name for l in m.layers], 'classes': sorted({{type(l).__name__ for l in m.layers}}),
                              'keys': list(ys), 'diff': max(float(np.max(np.abs(ys[k] - io['y_' + k]))) for k in ys)}}
            except Exception:
                seen[name] = {{'error': traceback.format_exc()[-3000:]}}
        print(json.dumps(seen))
    """)
    seen = json.loads(out.strip().splitlines()[-1])
    return {name: (*built[name], seen[name]) for name in built}


@pytest.mark.keras
@pytest.mark.parametrize("name", [r[0] for r in ROUND_TRIP])
def test_keras_file_round_trip_in_a_fresh_process(round_trips, name):
    spec, model, keys, got = round_trips[name]
    assert "error" not in got, got.get("error")
    assert got["names"] == [lay.name for lay in model.layers]
    assert got["keys"] == keys
    assert got["diff"] == 0.0
    if spec.graph.name in ("scaled_residuals", "inception_resnet_blocks"):
        assert "ScaledAdd" in got["classes"]


# ---- keras: another backend ----------------------------------------------------------------------
@pytest.mark.keras
def test_runs_under_the_jax_backend(tmp_path, jax_child):
    """The same spec builds and runs with KERAS_BACKEND=jax, and loads the TensorFlow-saved file."""
    import numpy as np

    from archspec.compile import save_model

    spec = archspec.load_text(SCALED)
    model = spec.to_keras()
    x = np.random.default_rng(2).uniform(-1, 1, (2, 12, 12, 3)).astype("float32")
    save_model(model, tmp_path / "m.keras")
    np.savez(tmp_path / "io.npz", x=x, y=np.asarray(model(x)))
    r = jax_child.run(textwrap.dedent(f"""
        import numpy as np, archspec, keras
        assert keras.backend.backend() == 'jax', keras.backend.backend()
        spec = archspec.load_text({SCALED!r})
        fresh = spec.to_keras()
        assert fresh.count_params() == spec.analysis().total.params
        io = np.load({str(tmp_path / 'io.npz')!r})
        assert tuple(fresh(io['x']).shape) == (2, 5)
        m = keras.saving.load_model({str(tmp_path / 'm.keras')!r})
        print(float(np.max(np.abs(np.asarray(m(io['x'])) - io['y']))))
    """))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert float(r.stdout.strip().splitlines()[-1]) <= 1e-6


# ---- slow: depth ---------------------------------------------------------------------------------
CHAIN = """
archspec: 1
name: chain
inputs: {x: [8]}
blocks:
  unit:
    body:
      - dense: {units: 8}
      - activation: tanh
model:
  - unit: {repeat: 5000}
"""

RESIDUAL = """
archspec: 1
name: deep_residual
inputs: {x: [8]}
model:
  - residual: {repeat: 3000, scale: 0.5, body: [dense: {units: 8, activation: tanh}]}
"""


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("text, layers", [(CHAIN, 10_001), (RESIDUAL, 6_001)], ids=["chain_10000", "residual_3000"])
def test_very_deep_specs_compile_run_save_and_load(tmp_path, text, layers):
    """Keras's functional constructor recurses once per layer along a path (RecursionError near 1,000
    layers on JAX, 3,000 on TensorFlow); archspec builds and loads deep graphs on a big-stack thread."""
    import keras
    import numpy as np

    from archspec.compile import load_model, save_model

    spec = archspec.load_text(text)
    assert graph_depth(spec.graph) == layers > INLINE_DEPTH
    model = spec.to_keras()
    assert len(model.layers) == layers and model.count_params() == spec.analysis().total.params
    x = np.random.default_rng(3).uniform(-1, 1, (2, 8)).astype("float32")
    y = np.asarray(model(x))
    assert y.shape == (2, 8) and np.isfinite(y).all()
    if layers < 8000:   # the 10,000-layer round trip is the same code path, twice as slow
        save_model(model, tmp_path / "deep.keras")
        again = load_model(tmp_path / "deep.keras")
        assert np.array_equal(np.asarray(again(x)), y)
    del model
    keras.backend.clear_session()
    gc.collect()


# ---- the command ---------------------------------------------------------------------------------
def cli(*args, cwd=ROOT):
    return subprocess.run([PY, "-m", "archspec", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=ENV, timeout=600)


@pytest.mark.keras
def test_compile_command_saves_atomically(tmp_path, capsys, monkeypatch):
    """The command in this process (Keras loaded once; test_interrupt.py kills a compile in a child)."""
    from archspec.cli import main

    def cli(*args, cwd=ROOT):
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    spec = tmp_path / "s.yaml"
    spec.write_text(SCALED)
    out = tmp_path / "models" / "m.keras"
    r = cli("compile", spec, "-o", out, "--summary")
    assert r.returncode == 0, r.stderr
    assert "residual_2.scaled_add" in r.stdout and "Total params" in r.stdout
    assert out.is_file() and [p.name for p in out.parent.iterdir()] == ["m.keras"]   # no temporary left
    r = cli("compile", spec, cwd=tmp_path)                              # default: out/<spec file name>.keras
    assert r.returncode == 0, r.stderr
    written = tmp_path / "out" / "s.keras"
    assert written.is_file() and f"wrote {written} (" in r.stderr
    r = cli("compile", spec, "--no-save", cwd=tmp_path)                 # says it built, writes nothing
    assert r.returncode == 0 and "not saved (--no-save)" in r.stderr and "params" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s.keras"]


def test_compile_command_usage_errors(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SCALED)
    r = cli("compile", spec, "-o", tmp_path / "m.h5")
    assert r.returncode == 2 and ".keras" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCALED.replace("conv2d: {filters: 8,", "conv2d: {filterz: 8,"))
    r = cli("compile", bad, "-o", tmp_path / "m.keras")
    assert r.returncode == 1 and "filterz" in r.stderr
    assert not (tmp_path / "m.keras").exists()


def test_a_dot_in_a_name_that_collides_with_a_scope_path_is_a_spec_error(load, tmp_path):
    """'.' is what '/' becomes in Keras names, so `check` refuses it in names before compile could clash."""
    spec = tmp_path / "dots.yaml"
    spec.write_text("archspec: 1\nname: dots\ninputs: {x: [4]}\nmodel:\n"
                    "  - dense: {units: 4, name: s.dense}\n"
                    "  - sequence: {name: s, body: [dense: {units: 4}]}\n")
    for command in ("check", "compile"):
        r = cli(command, spec, "-o", tmp_path / "m.keras") if command == "compile" else cli(command, spec)
        assert r.returncode == 1 and "without '/' or '.'" in r.stderr, r.stderr
    assert not (tmp_path / "m.keras").exists()
