"""The spec language, feature by feature (no Keras)."""
import json

import pytest
import yaml

import archspec
from archspec import SpecError

HEAD = "archspec: 1\nname: t\ninputs: {x: [16, 16, 8]}\n"


def shapes(spec):
    return {n.id: n.shape for n in spec.graph}


def test_sequence_and_auto_names(load):
    s = load(HEAD + "model:\n  - conv2d: {filters: 4, kernel: 3}\n  - conv2d: {filters: 4, kernel: 3}\n  - relu: {}\n")
    assert list(s.graph.nodes) == ["x", "conv2d", "conv2d_2", "relu"]
    assert s.graph["conv2d_2"].shape == (12, 12, 4)
    assert s.graph.outputs == {"relu": "relu"}
    assert s.graph.lint() == []


def test_blocks_params_defaults_and_in_shape(load):
    s = load(HEAD + """
blocks:
  conv_bn:
    params: {filters: int, kernel: 3, act: {type: "str?", default: relu}}
    defaults: {conv2d: {use_bias: false, padding: same}}
    body:
      - conv2d: {filters: $filters, kernel: $kernel}
      - batch_norm: {scale: false}
      - activation: $act
model:
  - conv_bn: {filters: $in.channels * 2}
  - conv_bn: {filters: 3, kernel: [1, 7], act: null}
""")
    g = s.graph
    assert g["conv_bn/conv2d"].attrs.use_bias is False
    assert g["conv_bn/conv2d"].shape == (16, 16, 16)
    assert g["conv_bn_2/conv2d"].attrs.kernel == (1, 7)
    assert "conv_bn_2/activation" not in g.nodes          # act: null drops the layer
    assert g.scopes["conv_bn"].kind == "block" and g.scopes["conv_bn"].args["filters"] == 16
    assert s.analysis().total.params == 8 * 16 * 9 + 16 * 3 + 16 * 3 * 7 + 3 * 3


def test_repeat_with_index(load):
    s = load(HEAD + """
blocks:
  stage:
    params: {filters: int, strides: 1}
    body: [conv2d: {filters: $filters, kernel: 3, strides: $strides, padding: same}]
model:
  - stage: {filters: 8, strides: "$2 if i == 0 else 1", repeat: 3}
""")
    assert [n.shape for n in s.graph if n.op == "conv2d"] == [(8, 8, 8)] * 3
    assert [sc for sc in s.graph.scopes] == ["stage_1", "stage_2", "stage_3"]


def test_when_and_top_level_params_with_set(load):
    text = HEAD + """
params: {width: 1.0, deep: false}
model:
  - conv2d: {filters: $int(32 * width), kernel: 1}
  - conv2d: {filters: 8, kernel: 1, when: $deep}
"""
    assert load(text).graph["conv2d"].shape == (16, 16, 32)
    s = load(text, overrides={"width": 0.5, "deep": True})
    assert s.graph["conv2d"].shape == (16, 16, 16)
    assert "conv2d_2" in s.graph.nodes
    with pytest.raises(SpecError) as e:
        load(text, overrides={"widht": 2})
    assert e.value.diagnostics[0].code == "unknown-param"
    assert "did you mean 'width'" in e.value.diagnostics[0].hint


def test_branches_concat_named_paths_and_identity(load):
    s = load(HEAD + """
model:
  - branches:
      paths:
        a: [conv2d: {filters: 4, kernel: 1}]
        b: [conv2d: {filters: 6, kernel: 3, padding: same}]
        skip: []
""")
    g = s.graph
    assert g["branches/concat"].shape == (16, 16, 18)
    assert g["branches/concat"].inputs == ("branches/a/conv2d", "branches/b/conv2d", "x")


@pytest.mark.parametrize("merge,channels", [("add", 8), ("multiply", 8), ("average", 8), ("maximum", 8)])
def test_branches_elementwise(load, merge, channels):
    s = load(HEAD + f"""
model:
  - branches:
      merge: {merge}
      paths: [[conv2d: {{filters: 8, kernel: 1}}], [relu: {{}}]]
""")
    assert s.graph[f"branches/{merge}"].shape == (16, 16, channels)


def test_residual_scale_projection_activation(load):
    s = load(HEAD + """
model:
  - residual:
      scale: 0.17
      activation: relu
      body: [conv2d: {filters: 8, kernel: 3, padding: same}]
  - residual:
      body: [conv2d: {filters: 16, kernel: 3, strides: 2, padding: same}]
      shortcut: [conv2d: {filters: 16, kernel: 1, strides: 2}]
""")
    g = s.graph
    add = g["residual/scaled_add"]
    assert add.attrs.scale == 0.17 and add.inputs == ("x", "residual/conv2d")
    assert g["residual/act"].inputs == ("residual/scaled_add",)
    assert g["residual_2/add"].shape == (8, 8, 16)
    assert g["residual_2/add"].inputs == ("residual_2/shortcut/conv2d", "residual_2/conv2d")


def test_explicit_wiring_multi_input_multi_output(load):
    s = load("""
archspec: 1
name: two
inputs:
  image: [8, 8, 3]
  meta: [5]
outputs: {logits: head, aux: aux}
model:
  - conv2d: {filters: 4, kernel: 3, name: c}
  - global_avg_pool: {name: gap}
  - dense: {units: 4, from: meta, name: m}
  - concat: {from: [gap, m]}
  - dense: {units: 2, name: head}
  - dense: {units: 1, from: c/../gap, name: aux}
""".replace("c/../gap", "gap"))
    g = s.graph
    assert g["concat"].shape == (8,)
    assert g.outputs == {"logits": "head", "aux": "aux"}
    assert g["aux"].inputs == ("gap",)


def test_block_inputs_and_skip_across_scopes(load):
    s = load(HEAD + """
blocks:
  fuse:
    body:
      - concat: {from: [in0, in1]}
model:
  - conv2d: {filters: 4, kernel: 1, name: a}
  - sequence:
      name: stage
      body:
        - conv2d: {filters: 4, kernel: 1, name: b}
        - add: {from: [a, b]}
  - fuse: {from: [a, stage]}
""")
    assert s.graph["fuse/concat"].shape == (16, 16, 8)
    assert s.graph["stage/add"].inputs == ("a", "stage/b")


def test_include(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.yaml").write_text(
        "archspec: 1\nblocks:\n  cbr:\n    params: {f: int}\n    body: [conv2d: {filters: $f, kernel: 1}, relu: {}]\n")
    (tmp_path / "net.yaml").write_text(HEAD + "include: [lib/blocks.yaml]\nmodel:\n  - cbr: {f: 3}\n")
    s = archspec.load(tmp_path / "net.yaml")
    assert s.graph["cbr/conv2d"].shape == (16, 16, 3)


def test_include_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("archspec: 1\ninclude: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("archspec: 1\ninclude: [a.yaml]\n")
    (tmp_path / "net.yaml").write_text(HEAD + "include: [a.yaml]\nmodel:\n  - relu: {}\n")
    with pytest.raises(SpecError) as e:
        archspec.load(tmp_path / "net.yaml")
    assert [d.code for d in e.value.diagnostics] == ["include"]
    assert "cycle" in e.value.diagnostics[0].message


def test_json_equals_yaml(load):
    text = HEAD + "model:\n  - conv2d: {filters: 4, kernel: [1, 7], padding: same}\n  - global_max_pool: {}\n"
    as_json = json.dumps(yaml.safe_load(text), indent=1)
    a, b = load(text), archspec.load_text(as_json, "t.json")
    assert shapes(a) == shapes(b)
    loc = b.graph["conv2d"].loc                     # JSON errors are located too: at the entry's key
    assert as_json.splitlines()[loc.line - 1][loc.col - 1:].startswith('"conv2d"')


def test_scalar_shorthands(load):
    s = load(HEAD + "model:\n  - relu: 6\n  - dropout: 0.25\n  - zero_padding: [[0, 1], [0, 1]]\n  - flatten\n")
    g = s.graph
    assert g["relu"].attrs.max_value == 6
    assert g["zero_padding"].shape == (17, 17, 8)
    assert g["flatten"].shape == (17 * 17 * 8,)


def test_dollar_escape(load):
    s = load(HEAD + "description: $$5\nmodel:\n  - relu: {name: $$weird}\n".replace("description: $$5\n", ""))
    assert "$weird" in s.graph.nodes


def test_graph_is_networkx_dag(load):
    import networkx as nx

    s = load(HEAD + "model:\n  - residual:\n      body: [conv2d: {filters: 8, kernel: 1}]\n")
    g = s.to_networkx()
    assert g is s.graph.nx
    assert nx.is_directed_acyclic_graph(g)
    assert g.edges["x", "residual/conv2d"]["shape"] == (16, 16, 8)
    assert list(nx.lexicographical_topological_sort(g, key=list(s.graph.nodes).index)) == list(s.graph.nodes)


def test_reinference_agrees(load):
    for path in __import__("conftest").spec_files():
        spec = archspec.load(path)
        assert spec.graph.lint() == [], path
    node = next(n for n in spec.graph.nodes.values() if n.inputs)        # lint can fail: a wrong stored shape
    node.shape = (*node.shape[:-1], node.shape[-1] + 1)
    assert [p.split(":")[0] for p in spec.graph.lint()] == [node.id]


def test_spec_language_branches_examples_check():
    """docs/spec-language.md's branches examples (`merge:` named) are valid model bodies."""
    import re

    from conftest import ROOT

    import archspec

    text = (ROOT / "docs" / "spec-language.md").read_text(encoding="utf-8")
    section = text.split("## Branches", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    gate = next(b for b in blocks if "merge: multiply" in b)
    spec = archspec.load_text("archspec: 1\nname: t\ninputs: {x: [8, 8, 4]}\nmodel:\n" + gate, "t.yaml")
    (out,) = spec.graph.outputs.values()
    assert spec.graph[out].op == "multiply" and spec.graph[out].shape == (8, 8, 4)


def test_names_of_plain_and_repeated_calls_are_as_documented():
    """docs/spec-language.md: `- blk`, `- blk`, `- blk: {repeat: 3}` make blk, blk_2, blk_1, blk_2_2, blk_3."""
    from conftest import ROOT

    import archspec

    assert "`blk`, `blk_2`, then `blk_1`, `blk_2_2`,\n`blk_3`" in (ROOT / "docs" / "spec-language.md").read_text()
    spec = archspec.load_text("archspec: 1\nname: t\ninputs: {x: [8]}\nblocks:\n  blk:\n    body: [dense: 4]\n"
                              "model:\n  - blk\n  - blk\n  - blk: {repeat: 3}\n", "t.yaml")
    assert list(spec.graph.scopes) == ["blk", "blk_2", "blk_1", "blk_2_2", "blk_3"]
