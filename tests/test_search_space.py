"""Search spaces in the spec language (lang/space.py): declarations, the default point, values
given with --set, block choices, and `archspec sample` (no Keras, no Optuna)."""
import json
import math

import pytest
from conftest import SPECS

import archspec
from archspec.cli import main
from archspec.errors import SpecError
from archspec.lang.space import RandomTrial
from archspec.search.concrete import concrete_text

SPACE = """\
archspec: 1
name: space_demo
params:
  width: {choice: [16, 32, 48], default: 32}
  depth: {range: [1, 3]}
  lr: {range: [1.0e-4, 1.0e-2], log: true}
  drop: {range: [0.0, 0.5], step: 0.25}
  stem: {one_of: [single, double]}
inputs: {image: [8, 8, 1]}
blocks:
  single:
    params: {filters: int}
    body: [conv2d: {filters: $filters, kernel: 3, padding: same}]
  double:
    params: {filters: int}
    body:
      - conv2d: {filters: $filters, kernel: 3, padding: same}
      - conv2d: {filters: $filters, kernel: 3, padding: same}
model:
  - $stem: {filters: $width}
  - conv2d: {filters: 8, kernel: 3, padding: same, repeat: $depth}
  - flatten
  - dropout: $drop
  - dense: {units: 10, activation: softmax}
"""


def test_default_point_and_size(load):
    spec = load(SPACE)
    assert spec.point == {"width": 32, "depth": 1, "lr": 1e-4, "drop": 0.0, "stem": "single"}
    assert [n.op for n in spec.graph].count("conv2d") == 2
    assert spec.space.size is None                         # lr is continuous
    assert spec.space["depth"].size == 3 and spec.space["drop"].size == 3 and spec.space["stem"].size == 2


def test_block_choice_and_overrides(load):
    one = load(SPACE)
    two = load(SPACE, overrides={"stem": "double", "width": 48, "depth": 3})
    convs = [n for n in two.graph if n.op == "conv2d"]
    assert len(convs) == 5 and convs[0].id == "double/conv2d" and convs[0].shape == (8, 8, 48)
    assert two.analysis().total.params > one.analysis().total.params


@pytest.mark.parametrize("name,value,message", [
    ("width", 40, "expected one of 16 | 32 | 48, got 40"),
    ("depth", 4, "4 is outside 1..3"),
    ("drop", 0.3, "not on the grid"),
    ("stem", "triple", "expected one of single | double"),
])
def test_set_outside_the_space(load, name, value, message):
    with pytest.raises(SpecError) as exc:
        load(SPACE, overrides={name: value})
    (d,) = exc.value.diagnostics
    assert d.code == "search-space" and message in d.message
    assert d.loc.line == 1 + [ln.split(":")[0].strip() for ln in SPACE.splitlines()].index(name)


def test_check_reports_the_space(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(SPACE)
    assert main(["check", str(p)]) == 0
    out = capsys.readouterr().out
    assert "search space: 5 parameters, continuous (width: 16 | 32 | 48; depth: 1..3; lr: 0.0001..0.01 log;" in out
    assert "checked at the default point width=32, depth=1, lr=0.0001, drop=0, stem=single" in out


def test_digits_search_space_default_is_digits_cnn():
    space = archspec.load(SPECS / "digits_cnn_search.yaml")
    plain = archspec.load(SPECS / "digits_cnn.yaml")
    assert space.space.size == 300
    a, b = space.analysis().total, plain.analysis().total
    assert (a.params, a.trainable, a.macs, a.flops) == (b.params, b.trainable, b.macs, b.flops)


def test_random_trial_stays_in_the_space(load):
    space = load(SPACE).space
    seen = set()
    for seed in range(1000):
        point = space.suggest(RandomTrial(seed))
        for k, v in point.items():
            assert space[k].problem(v) is None, (k, v)
        seen.add((point["width"], point["depth"], point["drop"], point["stem"]))
        assert 1e-4 <= point["lr"] <= 1e-2
    assert len(seen) == 3 * 3 * 3 * 2                      # every discrete point is reachable
    lrs = [space.suggest(RandomTrial(s))["lr"] for s in range(400)]
    assert 0.3 < sum(v < 1e-3 for v in lrs) / len(lrs) < 0.7   # log scale: half the draws below the middle decade


def test_sample_writes_a_plain_spec_that_checks(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text("# my comment stays\n" + SPACE)
    out = tmp_path / "one.yaml"
    assert main(["sample", str(p), "--seed", "7", "-o", str(out), "--set", "stem=double"]) == 0
    text = out.read_text()
    assert "# my comment stays" in text and "choice" not in text and "range" not in text and "one_of" not in text
    spec = archspec.load(out)
    assert not spec.space and spec.data["params"]["stem"] == "double"
    again = tmp_path / "two.yaml"
    assert main(["sample", str(p), "--seed", "7", "-o", str(again), "--set", "stem=double"]) == 0
    assert again.read_text() == text                       # a seed names one point
    assert main(["sample", str(p), "--seed", "8"]) == 0
    assert capsys.readouterr().out != text


def test_sample_of_a_plain_spec_is_a_usage_error(capsys):
    assert main(["sample", str(SPECS / "digits_cnn.yaml")]) == 2
    assert "declares no search space" in capsys.readouterr().err


def test_concrete_text_json():
    text = json.dumps({"archspec": 1, "params": {"w": {"choice": [1, 2]}, "x": {"range": [0.5, 1.5]}}}, indent=1)
    out = json.loads(concrete_text(text, {"w": 2, "x": 0.75}, header="ignored for JSON"))
    assert out["params"] == {"w": 2, "x": 0.75}


def test_concrete_text_keeps_following_comments():
    text = "params:\n  a:\n    choice: [1, 2]\n    default: 2\n  # about b\n  b: {range: [1, 9]}\nmodel: []\n"
    assert concrete_text(text, {"a": 1, "b": 3}) == "params:\n  a: 1\n  # about b\n  b: 3\nmodel: []\n"


def test_sampled_float_reads_back():
    from archspec.search.concrete import scalar

    for v in (1e-05, 0.1 + 0.2, 3.0, 2.5e-7, math.pi):
        assert archspec.load_text(f"archspec: 1\nname: t\nparams: {{v: {scalar(v)}}}\ninputs: {{x: [2]}}\n"
                                  "model: [dense: 1]\n").data["params"]["v"] == v


def test_docs_search_excerpts_are_true(tmp_path, capsys, monkeypatch):
    """docs/search.md shows `archspec check` and `archspec sample` output; they must stay what the commands print."""
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    doc = (ROOT / "docs" / "search.md").read_text()
    assert main(["check", "specs/digits_cnn_search.yaml"]) == 0
    for line in capsys.readouterr().out.splitlines():
        assert line in doc, line
    out = tmp_path / "one.yaml"
    assert main(["sample", str(SPECS / "digits_cnn_search.yaml"), "--seed", "1", "-o", str(out)]) == 0
    line = capsys.readouterr().err.strip().replace(str(out.absolute()), "/home/me/one.yaml")
    assert line in doc, line


def test_sample_elsewhere_rebases_includes(tmp_path, monkeypatch):
    (tmp_path / "specs" / "lib").mkdir(parents=True)
    (tmp_path / "specs" / "lib" / "b.yaml").write_text(
        "archspec: 1\nblocks:\n  cb:\n    params: {filters: int}\n    body: [conv2d: {filters: $filters, kernel: 3}]\n")
    (tmp_path / "specs" / "net.yaml").write_text(
        "archspec: 1\nname: net\ninclude: [lib/b.yaml]\nparams:\n  w: {choice: [4, 8]}\ninputs: {image: [8, 8, 1]}\n"
        "model:\n  - cb: {filters: $w}\n  - flatten\n  - dense: 10\n")
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "specs/net.yaml", "--seed", "1", "-o", "out/one.yaml"]) == 0
    text = (tmp_path / "out" / "one.yaml").read_text()
    assert "include: [../specs/lib/b.yaml]" in text and "check it with --root ." in text
    assert archspec.load(tmp_path / "out" / "one.yaml", root=tmp_path).data["params"]["w"] in (4, 8)
    assert main(["sample", "specs/net.yaml", "--seed", "1", "-o", "specs/two.yaml"]) == 0
    assert "include: [lib/b.yaml]" in (tmp_path / "specs" / "two.yaml").read_text()


def test_check_tries_every_block_choice(tmp_path, capsys):
    p = tmp_path / "bc.yaml"
    p.write_text("""\
archspec: 1
name: bc
params:
  stem: {one_of: [plain, pooled, wide]}
inputs: {image: [8, 8, 1]}
blocks:
  plain:
    params: {filters: int}
    body: [conv2d: {filters: $filters, kernel: 3, padding: same}]
  pooled:
    params: {width: int}
    body: [conv2d: {filters: $width, kernel: 3}, max_pool: 2]
  wide:
    params: {filters: int}
    body: [conv2d: {filters: $filters * 2, kernel: 9}]
model:
  - $stem: {filters: 8}
  - flatten
  - dense: 10
""")
    assert main(["check", str(p), "--diagnostics", "json"]) == 1
    captured = capsys.readouterr()
    diags = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert [(d["code"], d["line"], d["column"]) for d in diags] == [("search-space", 4, 26), ("search-space", 4, 34)]
    assert "with stem=pooled the spec does not check: the block 'pooled' needs the parameter 'width'" in diags[0]["message"]
    assert "2 block choices that do not check" in captured.out
    assert main(["check", str(p), "--set", "stem=plain"]) == 0      # a fixed choice is not varied


def test_training_section_reads_the_parameters(load):
    text = SPACE + ("training:\n  learning_rate: $lr\n  batch_size: $width * 2\n"
                    "  optimizer: {name: sgd, momentum: \"$0.9 if depth > 1 else 0.5\"}\n")
    spec = load(text, overrides={"lr": 0.003, "depth": 2})
    assert spec.training["learning_rate"] == 0.003 and spec.training["batch_size"] == 64
    assert spec.training["optimizer"] == {"name": "sgd", "momentum": 0.9}
    from archspec.train.config import resolve

    settings = resolve(spec, {})
    assert (settings.learning_rate, settings.batch_size, settings.optimizer_options) == (0.003, 64, {"momentum": 0.9})
    with pytest.raises(SpecError) as exc:
        load(text.replace("$lr", "$lrr")).training
    (d,) = exc.value.diagnostics
    assert d.code == "expr-name" and d.hint == "did you mean 'lr'?" and d.loc.line == text.count("\n") - 2


def test_sampled_spec_starts_with_the_modeline_rebased(tmp_path, monkeypatch):
    """yaml-language-server >= 1.24 reads a modeline only on the first line: the sampled spec puts the
    source's there, its path rebased to where the file goes (and none that would name a missing file)."""
    from archspec.lang.jsonschema import place_modeline

    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "archspec.schema.json").write_text("{}")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "s.yaml").write_text("# my comment\n" + SPACE +
                                               "\n# yaml-language-server: $schema=../schema/archspec.schema.json\n")
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "specs/s.yaml", "--seed", "3", "-o", "out/deep/one.yaml"]) == 0
    lines = (tmp_path / "out" / "deep" / "one.yaml").read_text().splitlines()
    assert lines[0] == "# yaml-language-server: $schema=../../schema/archspec.schema.json"
    assert sum("yaml-language-server" in x for x in lines) == 1 and "# my comment" in lines
    # a spec without one gets the nearest schema file's; with none near, none at all
    assert place_modeline("archspec: 1\n", tmp_path / "specs" / "x.yaml").splitlines()[0] == \
        "# yaml-language-server: $schema=../schema/archspec.schema.json"
    lonely = tmp_path.parent / f"{tmp_path.name}_lonely" / "x.yaml"
    text = "archspec: 1\n\n# yaml-language-server: $schema=gone.json\n"
    assert place_modeline(text, lonely, lonely) == "archspec: 1\n"
    assert place_modeline('{"archspec": 1}', lonely) == '{"archspec": 1}'     # JSON has no comments
