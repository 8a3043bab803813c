"""`archspec draw`: DOT text (pure, golden, deterministic), real SVG/PNG/PDF from Graphviz, depths,
cost shading, and what happens without Graphviz.

Goldens: tests/golden/draw_*.dot. After an intended change to the diagrams, regenerate them with
`ARCHSPEC_UPDATE_GOLDEN=1 python -m pytest tests/test_draw.py` and review the diff.
"""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import FIXTURES, ROOT, SPECS, spec_files

import archspec
from archspec.render import dot, image

SMALL = FIXTURES / "draw" / "small.yaml"
GOLDEN = ROOT / "tests" / "golden"
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@pytest.fixture(scope="module")
def small():
    return archspec.load(SMALL)


def cli(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "archspec", "draw", *args], capture_output=True, text=True,
                          cwd=cwd, env=env)


def svg_tree(data: bytes):
    root = ET.fromstring(data)
    groups = {}
    for g in root.iter(SVG + "g"):
        title = g.find(SVG + "title")
        groups.setdefault(g.get("class"), []).append(title.text if title is not None else None)
    texts = [t.text for t in root.iter(SVG + "text")]
    return groups, texts


# ---- DOT text: golden, deterministic ---------------------------------------------------------
@pytest.mark.parametrize("name, options", [
    ("draw_small_full", dict(depth="all")),
    ("draw_small_depth1_macs", dict(depth=1, color_by="macs", direction="LR")),
])
def test_golden_dot(small, name, options):
    text = image.dot_text(small, **options)
    path = GOLDEN / f"{name}.dot"
    if os.environ.get("ARCHSPEC_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden {path.name}; run with ARCHSPEC_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"the DOT for {SMALL.name} changed; if intended, regenerate with ARCHSPEC_UPDATE_GOLDEN=1 and review the diff")


def test_dot_is_byte_identical_across_processes(tmp_path):
    """Same input, same bytes: no hash-order, id or time dependence (different hash seeds)."""
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        r = cli(str(SPECS / "inception_resnet_cifar10.yaml"), "-o", "-", "--color-by", "params", env=env)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1] and outs[0].startswith('digraph "inception_resnet_cifar10" {')


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_every_spec_gives_dot_at_every_depth(path):
    spec = archspec.load(path)
    g = spec.graph
    for depth in ["auto", "all", *range(1, dot.max_depth(g) + 1)]:
        text = image.dot_text(spec, depth=depth)
        assert text.count("{") == text.count("}") and text.endswith("}\n")
    assert dot.count_boxes(g, dot.auto_depth(g)) <= max(dot.AUTO_BUDGET, dot.count_boxes(g, 1))


def test_depth_semantics(small):
    g = small.graph
    assert dot.max_depth(g) == 2
    # depth 1: the three top-level block calls are boxes; the rest are layers
    of_node, items = dot.layout_items(g, 1)
    assert [k for k in items if k.startswith("scope:")] == ["scope:conv_bn", "scope:mixed", "scope:mixed_2"]
    assert of_node["mixed/residual/scaled_add"].id == "scope:mixed"
    # depth 2: the mixed blocks open (residual, branches drawn); the conv_bn calls inside are boxes
    _, items = dot.layout_items(g, 2)
    assert "scope:mixed/residual/branches/branch_1/conv_bn_2" in items and "mixed/residual/scaled_add" in items
    assert dot.count_boxes(g, None) == len(g)
    assert dot.auto_depth(g) is None                       # 32 layers fit
    assert dot.auto_depth(g, budget=10) == 1


FOLDS = """
archspec: 1
name: folds
inputs: {x: [8, 8, 3]}
blocks:
  cb:
    params: {filters: int}
    body:
      - conv2d: {filters: $filters, kernel: 3, padding: same}
      - batch_norm: {}
model:
  - cb: {filters: 16, repeat: 4}
  - global_avg_pool: {}
"""


def test_repeated_blocks_fold_into_one_box():
    spec = archspec.load_text(FOLDS)
    g = spec.graph
    _, items = dot.layout_items(g, 1)
    boxes = [it for it in items.values() if it.scope]
    # the first call changes the shape (3 → 16 channels), so it stands alone; the other three fold
    assert [len(b.scopes) for b in boxes] == [1, 3]
    assert dot.count_boxes(g, 1) == 4 and dot.count_boxes(g, 1, fold=False) == 6
    text = image.dot_text(spec, depth=1)
    assert "<b>cb</b> ×3" in text and "3 × (2.38 K params · 147.46 K MACs)" in text
    assert f'"{boxes[0].id}" -> "{boxes[1].id}" [label="8×8×16"]' in text
    assert "<b>cb</b> ×" not in image.dot_text(spec, depth=1, fold=False)


def test_options_show_in_dot(small):
    lr = image.dot_text(small, direction="LR", shapes=False)
    assert "rankdir=LR" in lr and "label=\"8×8×16\"" not in lr
    tb = image.dot_text(small, depth="all")
    assert 'label="8×8×16"' in tb
    assert 'peripheries=2' in tb                                     # residual adds
    assert '"mixed/residual/branches/concat" [label=<concat>, shape=ellipse' in tb
    assert 'style=dashed' in tb                                      # the shortcut
    assert "<b>predictions</b>" in tb                                # a user-named layer
    assert "conv 3×3 /2 · 16" in tb
    with pytest.raises(ValueError):
        image.dot_text(small, depth=0)
    with pytest.raises(ValueError):
        image.dot_text(small, color_by="flops")


def test_color_by_shades_the_most_expensive_darkest(small):
    text = image.dot_text(small, depth=1, color_by="params")
    assert "parameters:" in text                                     # the legend
    line = next(x for x in text.splitlines() if x.strip().startswith('"scope:mixed"'))
    assert f'fillcolor="{dot.RAMP[-1]}"' in line and 'fontcolor="#ffffff"' in line
    pool = next(x for x in text.splitlines() if x.strip().startswith('"max_pool"'))
    assert 'fillcolor="#ffffff"' in pool                             # no params: white
    for metric in ("macs", "memory"):
        assert "legend" not in image.dot_text(small, color_by="none")
        assert "≥" in image.dot_text(small, color_by=metric)


def test_block_labels_leave_defaults_out(small):
    text = image.dot_text(small, depth="all")
    assert "filters=16 strides=2" in text and "kernel=3" not in text
    assert "residual · scale 0.2" in text and "scale=0.1" in text


def test_spec_draw_api(small, tmp_path):
    assert small.draw().startswith('digraph "draw_small"')
    out = small.draw(tmp_path / "d.dot", depth=1)
    assert out.read_text(encoding="utf-8") == image.dot_text(small, depth=1)
    with pytest.raises(ValueError):
        small.draw(tmp_path / "d.jpg")


# ---- images from Graphviz ---------------------------------------------------------------------
@needs_dot
def test_svg_clusters_nodes_and_edge_labels(small, tmp_path):
    g = small.graph
    for depth, boxes, clusters in [(1, 8, set()), (2, 20, {"mixed", "mixed/residual", "mixed/residual/branches"}),
                                   ("all", 32, {"conv_bn", "mixed/residual/branches/branch_1/conv_bn_2"})]:
        path = small.draw(tmp_path / f"d{depth}.svg", depth=depth)
        groups, texts = svg_tree(path.read_bytes())
        nodes = groups.get("node", [])
        assert len(nodes) == boxes + len(g.outputs), (depth, nodes)
        titles = {t.removeprefix("cluster_") for t in groups.get("cluster", [])}
        assert clusters <= titles
        if depth == 1:
            assert not titles
            assert {"scope:conv_bn", "scope:mixed", "scope:mixed_2"} <= set(nodes)
        assert "8×8×16" in texts and "4×4×16" in texts                # shapes on edges
        assert len(groups.get("edge", [])) >= boxes
    groups, texts = svg_tree((tmp_path / "d2.svg").read_bytes())
    assert "mixed" in texts and "residual · scale 0.2" in texts      # cluster labels
    assert any(t and t.startswith("8×8×16 → 8×8×8") for t in texts)  # a collapsed block's shapes


@needs_dot
def test_png_and_pdf(small, tmp_path):
    png = small.draw(tmp_path / "d.png", depth=1).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    pdf = small.draw(tmp_path / "d.pdf", depth=1).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert not list(tmp_path.glob(".*.tmp"))                         # written atomically, nothing left over


@needs_dot
def test_cli_writes_files(tmp_path):
    r = cli(str(SMALL), "-o", str(tmp_path / "a.svg"), "--depth", "2", "--color-by", "macs", "--direction", "lr")
    assert r.returncode == 0, r.stderr
    assert ET.fromstring((tmp_path / "a.svg").read_bytes()).tag == SVG + "svg"
    r = cli(str(SMALL), "-T", "png", "-o", str(tmp_path / "b.img"))
    assert r.returncode == 0 and (tmp_path / "b.img").read_bytes()[:4] == b"\x89PNG"
    r = cli(str(SMALL), cwd=tmp_path)                                 # default: out/NAME.svg here
    assert r.returncode == 0 and (tmp_path / "out" / "small.svg").exists()


@needs_dot
def test_repr_mimebundle_has_svg(small):
    bundle = small._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")


def test_cli_usage_errors(tmp_path):
    for args in (["-o", str(tmp_path / "x.jpg")], ["--depth", "0"], ["--color-by", "flops"],
                 ["--direction", "RL"], ["-o", "-", "-T", "png"]):
        r = cli(str(SMALL), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())


def test_draw_imports_no_tensorflow(tmp_path):
    code = ("import sys; from archspec.cli import main; "
            f"rc = main(['draw', {str(SMALL)!r}, '-o', {str(tmp_path / 'x.dot')!r}]); "
            "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]; "
            "print(rc, heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.split("\n")[0] == "0 []", r.stdout + r.stderr


# ---- without Graphviz -------------------------------------------------------------------------
def _path_without_dot(tmp_path, extra: dict | None = None) -> str:
    """A PATH with this Python but no Graphviz (plus `extra` links: name -> target)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, target in (extra or {}).items():
        (bin_ / name).symlink_to(target)
    return str(bin_)


def test_missing_dot_says_how_to_install(tmp_path, small, monkeypatch):
    env = {**os.environ, "PATH": _path_without_dot(tmp_path)}
    r = cli(str(SMALL), "-o", str(tmp_path / "x.svg"), env=env)
    assert r.returncode == 2
    assert "apt-get install graphviz" in r.stderr and "pip install graphviz-pure" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x.svg").exists()
    r = cli(str(SMALL), "-o", str(tmp_path / "x.dot"), env=env)      # DOT needs no Graphviz
    assert r.returncode == 0 and (tmp_path / "x.dot").read_text(encoding="utf-8").startswith("digraph")
    monkeypatch.setenv("PATH", env["PATH"])
    with pytest.raises(image.GraphvizMissing, match="apt-get install graphviz"):
        small.draw(tmp_path / "y.png")
    assert "text/markdown" in small._repr_mimebundle_()               # Jupyter falls back to the table


@needs_dot
def test_graphviz_pure_is_the_fallback(tmp_path, small, monkeypatch):
    """Without `dot`, a `graphviz-pure` on PATH lays the diagram out (simulated by a link to dot)."""
    monkeypatch.setenv("PATH", _path_without_dot(tmp_path, {"graphviz-pure": shutil.which("dot")}))
    assert image.find_program("svg").endswith("graphviz-pure")
    svg = small.draw(tmp_path / "x.svg", depth=1).read_bytes()
    assert b"<svg" in svg
    with pytest.raises(image.GraphvizMissing, match="cannot write PDF"):
        small.draw(tmp_path / "x.pdf")


@needs_dot
def test_a_downscaled_png_is_reported(tmp_path):
    """A picture taller than cairo's 32,767-pixel limit: dot scales it down; archspec says so, with the
    way out (SVG/PDF, fewer levels), and the API warns the same way."""
    tall = tmp_path / "tall.yaml"
    tall.write_text("archspec: 1\nname: tall\ninputs: {x: [4]}\nmodel:\n" + "  - dense: {units: 4}\n" * 260)
    r = cli(str(tall), "--depth", "all", "--dpi", "200", "-o", str(tmp_path / "t.png"))
    assert r.returncode == 0, r.stderr
    w, h = image.png_size((tmp_path / "t.png").read_bytes())
    assert h == image.BITMAP_LIMIT and w < 2000
    note = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and f"{w:,}×{h:,} px" in note[0] and "SVG or PDF" in note[0] and "--depth" in note[0]
    r = cli(str(tall), "--depth", "all", "--dpi", "100", "-o", str(tmp_path / "ok.png"))   # fits: no note
    assert r.returncode == 0 and "note:" not in r.stderr
    with pytest.warns(image.DownscaledWarning, match="scaled it by"):
        archspec.load(tall).draw(tmp_path / "u.png", depth="all", dpi=200)


def test_every_op_category_has_a_colour():
    from archspec.ops import REGISTRY, Category

    assert set(dot.STYLE) == set(Category)
    assert all(isinstance(op.category, Category) for op in REGISTRY.values())
