"""The rough edges a user meets on the second day: re-running a finished run, a refused re-run, training a
cosine-scheduled run further, class weights and label smoothing, a file the decoder refuses mid-run."""
from __future__ import annotations

import pytest

import archspec

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them

pytestmark = [pytest.mark.keras, pytest.mark.extras]

TINY = """\
archspec: 1
name: tiny
inputs: {image: [12, 12, 1]}
model:
  - conv2d: {filters: 4, kernel: 3, activation: relu}
  - global_avg_pool: {}
  - dense: {units: 3, activation: softmax, name: out}
training:
  epochs: 2
  batch_size: 16
  rescale: 1/255
  data: synthetic:64
"""


def spec(tmp_path, extra="", name="tiny.yaml", text=TINY):
    p = tmp_path / name
    p.write_text(text + extra, encoding="utf-8")
    return archspec.load(p)


def train(s, flags=None, out=None, **kw):
    from archspec.train import train as _train

    return _train(s, {"seed": 1, **(flags or {})}, out=out, verbose=0, **kw)


def test_a_finished_run_says_so_with_its_test_line(tmp_path):
    s = spec(tmp_path)
    first = train(s, out=tmp_path / "r")
    again = train(s, out=tmp_path / "r")
    assert again.already_done and again.epochs_done == 2
    assert again.test == first.test and again.seconds == first.seconds > 0
    assert "resumed after" not in again.summary and "test      test_accuracy" in again.summary
    assert " 0.0 s training" not in again.summary


def test_a_refused_rerun_names_what_differs(tmp_path):
    from archspec.train.loop import RunError

    s = spec(tmp_path)
    train(s, out=tmp_path / "r")
    with pytest.raises(RunError) as e:
        train(s, {"batch_size": 8, "learning_rate": 0.01}, out=tmp_path / "r")
    assert "batch_size 16 → 8" in str(e.value) and "learning_rate unset → 0.01" in str(e.value)
    changed = spec(tmp_path, text=TINY.replace("filters: 4", "filters: 5"))
    with pytest.raises(RunError, match=r"\(spec tiny.yaml from line 5\)"):
        train(changed, out=tmp_path / "r")


def test_training_a_cosine_run_further_keeps_its_schedule(tmp_path):
    s = spec(tmp_path, "  learning_rate: 0.01\n  lr_schedule: {type: cosine, alpha: 0.5}\n")
    train(s, out=tmp_path / "r")
    seen = []
    r = train(s, {"epochs": 4}, out=tmp_path / "r", warn=seen.extend)
    lrs = [row["learning_rate"] for row in r.history]
    assert lrs[1] == pytest.approx(0.005, abs=1e-7)           # the end of the 2-epoch schedule: alpha · lr
    assert lrs[2] == lrs[3] == pytest.approx(0.005, abs=1e-7)  # stays there; re-stretched it would be 0.00573
    (w,) = [d for d in seen if d.code == "schedule-extended"]
    assert "decays over its first 2 epochs; epochs 3–4 continue at its final rate" in w.message


def test_class_weight_and_label_smoothing(tmp_path):
    import keras

    from archspec.train import data, planning
    from archspec.train.config import resolve
    from archspec.train.loop import build_and_compile

    s = spec(tmp_path, "  class_weight: balanced\n  label_smoothing: 0.1\n")
    settings = resolve(s)
    ds = data.load(settings, s)
    plan = planning.plan(s, settings, ds)
    counts = np.bincount(ds.train.y, minlength=3)
    assert plan.class_weight == pytest.approx({i: len(ds.train.y) / (3 * c) for i, c in enumerate(counts)})
    assert (plan.loss, plan.labels, plan.label_smoothing) == ("categorical_crossentropy", "onehot", 0.1)
    model = build_and_compile(s, settings, plan, 4)
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy) and model.loss.label_smoothing == 0.1
    r = train(s, out=tmp_path / "r")
    assert np.isfinite(r.history[-1]["loss"]) and "label smoothing 0.1" in r.settings_line


def test_an_image_the_pipeline_refuses_mid_run_is_named(tmp_path, monkeypatch):
    from PIL import Image

    from archspec.train import data

    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("a", "b", "c"):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(root / cls / f"{i}.png")
    bad = root / "b" / "3.png"
    raw = bytearray(bad.read_bytes())
    raw[raw.index(b"IDAT") + 6] ^= 0xFF
    bad.write_bytes(bytes(raw))
    monkeypatch.setattr(data, "_check_image", lambda f: None)      # as if it had passed the check
    with pytest.raises(data.DataError) as e:
        train(spec(tmp_path), {"data": f"folder:{root}"}, out=tmp_path / "r")
    (d,) = e.value.diagnostics
    assert d.loc.file == str(bad) and "cannot decode image '3.png'" in d.message
    assert any("training stopped" in n.message for n in d.notes)


@pytest.mark.parametrize("metric,words", [("precision", "cannot score integer class labels against the 3 outputs"),
                                          ("top_k_categorical_accuracy", "cannot score integer class labels")])
def test_a_metric_that_cannot_score_the_labels_is_refused_before_training(tmp_path, metric, words):
    s = spec(tmp_path, f"  metrics: [accuracy, {metric}]\n")
    with pytest.raises(archspec.SpecError) as e:
        train(s, out=tmp_path / "r")
    (d,) = e.value.diagnostics
    assert words in d.message and (d.loc.line, d.loc.col) == (13, 23) and "sparse_top_k" in d.hint
    assert not (tmp_path / "r" / "checkpoint.npz").exists()
