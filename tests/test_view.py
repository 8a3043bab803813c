"""archspec view / draw --format model-explorer: the Model Explorer graph, its overlays, the local server.

The JSON is read back through the `model_explorer` package's own dataclasses (unknown or misspelt fields
fail there), and a browser test (slow) opens the served page in Debian's headless Chromium and reads a
block and an overlay value off it."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import imported_by

from archspec import api
from archspec.render import explorer

ROOT = Path(__file__).resolve().parent.parent
RESNET = ROOT / "specs/resnet50.yaml"


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "archspec", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, **kw)


def _strict(cls, d):
    """Build a model_explorer.graph_builder dataclass from a dict, refusing fields it does not declare."""
    import typing

    from model_explorer import graph_builder as gb

    hints = typing.get_type_hints(cls, vars(gb))
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(d) <= names, f"{cls.__name__}: unknown fields {set(d) - names}"
    out = {}
    for k, v in d.items():
        t = hints[k]
        sub = {"nodes": gb.GraphNode, "attrs": gb.KeyValue, "incomingEdges": gb.IncomingEdge,
               "outputsMetadata": gb.MetadataItem, "inputsMetadata": gb.MetadataItem,
               "groupNodeConfigs": gb.GroupNodeConfig, "graphs": gb.Graph}.get(k)
        if sub is not None and v is not None:
            out[k] = [_strict(sub, x) for x in v]
        elif k == "style" and v is not None:
            out[k] = _strict(gb.GraphNodeStyle, v)
        else:
            out[k] = v
        del t
    return cls(**out)


@pytest.mark.extras      # the view extra (model_explorer)
def test_graph_json_is_model_explorers_format():
    pytest.importorskip("model_explorer")
    from model_explorer import graph_builder as gb
    from model_explorer.utils import convert_adapter_response

    spec = api.load(RESNET)
    a = spec.analysis()
    g = explorer.graph_json(spec.graph, a, graph_id="resnet50")
    coll = _strict(gb.GraphCollection, explorer.collection("resnet50", [g]))
    # the package's own serialisation of the dataclasses gives back exactly what archspec wrote
    assert convert_adapter_response({"graphCollections": [coll]}) == \
        json.loads(json.dumps({"graphCollections": [explorer.collection("resnet50", [g])]}))
    nodes = {n.id: n for n in coll.graphs[0].nodes}
    assert list(nodes) == list(spec.graph.nodes)
    for n in spec.graph:
        me = nodes[n.id]
        assert me.namespace == n.scope                      # blocks are Model Explorer layers
        assert [e.sourceNodeId for e in me.incomingEdges] == list(n.inputs)
        shape = {kv.key: kv.value for kv in me.outputsMetadata[0].attrs}["shape"]
        assert shape == ("×".join(map(str, n.shape)) if n.shape else "scalar")
        attrs = {kv.key: kv.value for kv in me.attrs}
        assert attrs["params"] == f"{a.nodes[n.id].params:,}"
        assert attrs["source"] == f"{n.loc.file}:{n.loc.line}"
    # every namespace is a block call / residual of the spec, with its roll-up
    groups = coll.graphs[0].groupNodeAttributes
    assert {n.namespace for n in nodes.values()} - {""} <= set(groups)
    assert groups["conv2"]["block"] == "stage" and groups["conv2"]["params"] == f"{a.scopes['conv2'].params:,}"
    assert sum(a.nodes[n].params for n in nodes) == a.total.params


@pytest.mark.extras      # the view extra (model_explorer)
def test_node_data_overlays_load_and_colour():
    pytest.importorskip("model_explorer")
    from model_explorer.node_data_builder import GraphNodeData, NodeDataResult

    spec = api.load(RESNET)
    a = spec.analysis()
    est = spec.training_estimate(32)
    for name in explorer.overlays(est):
        d = explorer.node_data("resnet50", a, name, est)
        gnd = GraphNodeData(**{**d, "results": {k: NodeDataResult(**v) for k, v in d["results"].items()}})
        assert json.loads(gnd.to_json_string())["results"].keys() == spec.graph.nodes.keys()
    macs = explorer.node_data("resnet50", a, "MACs")["results"]
    top = max(a.nodes, key=lambda k: a.nodes[k].macs)
    assert macs[top]["value"] == a.nodes[top].macs and macs[top]["bgColor"] == "#800026"   # the darkest
    assert "bgColor" not in macs["image"]                                                    # zero: uncoloured
    kept = explorer.node_data("resnet50", a, "kept for backward", est)["results"]
    assert sum(r["value"] for r in kept.values()) == est.kept_bytes
    with pytest.raises(ValueError, match="training estimate"):
        explorer.node_data("resnet50", a, "kept for backward")


def test_draw_model_explorer_writes_graph_and_overlays(tmp_path):
    out = tmp_path / "r.json"
    r = cli("draw", RESNET, "-o", out, "--set", "stages=[1,1,1,1]")
    assert r.returncode == 0, r.stderr
    coll = json.loads(out.read_text())
    assert coll["label"] and coll["graphs"][0]["nodes"]
    spec = api.load(RESNET, {"stages": [1, 1, 1, 1]})
    assert len(coll["graphs"][0]["nodes"]) == len(spec.graph)
    gid = coll["graphs"][0]["id"]
    macs = json.loads((tmp_path / "r.macs.json").read_text())
    assert macs[gid]["results"]["predictions"]["value"] == spec.analysis().nodes["predictions"].macs
    assert str(out) in r.stderr


@pytest.mark.extras      # without the view extra, `archspec view` says so first
def test_view_command_line_errors(tmp_path):
    r = cli("view", RESNET, RESNET, RESNET)
    assert r.returncode == 2 and "one spec, or two side by side" in r.stderr
    r = cli("view", RESNET, "--expand", "conv9", "--no-browser")
    assert r.returncode == 2 and "--expand conv9" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("archspec: 1\nname: bad\ninputs: {x: [8]}\nmodel:\n  - dense: {unitz: 3}\n")
    r = cli("view", bad, "--no-browser")
    assert r.returncode == 1 and "bad.yaml:5" in r.stderr


def test_missing_extra_is_an_install_line(monkeypatch):
    from archspec import extras

    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(extras.MissingExtra, match=r"pip install 'archspec\[view\]'"):
        extras.require("view")
    assert extras.install_line("postgres").endswith("pip install 'archspec[postgres]'")


def test_core_imports_none_of_the_extras():
    heavy = ("model_explorer", "flask", "mlflow", "psycopg", "selenium", "optuna")
    assert imported_by("from archspec.render import explorer; import archspec.commands.view; "
                       "from archspec.cli import main; main(['check', 'specs/resnet50.yaml'])", heavy) == []


@pytest.mark.extras      # the view extra (model_explorer)
def test_offline_index_loads_nothing_from_the_network():
    me = pytest.importorskip("model_explorer")
    from archspec.commands.view import offline_index

    html = offline_index(os.path.join(os.path.dirname(me.__file__), "web_app"))
    assert re.findall(r"(?:src|href)=[\"']?https?://|url\(https?://", html) == []
    assert "url(/static_files/" in html           # the fonts the package ships are kept


# ---- the browser: slow (a server start, Chromium, a WebGL layout) ----------------------------------------
def _chrome():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("the browser test needs Debian's chromium and chromium-driver (tools/test_services.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader",
              "--window-size=1400,900", f"--user-data-dir={tempfile.mkdtemp(prefix='archspec-chrome-')}"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=o)


def _serve(*args):
    proc = subprocess.Popen([sys.executable, "-m", "archspec", "view", *map(str, args), "--no-browser"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline, lines = time.time() + 120, []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("http://127.0.0.1:"):
            return proc, line.strip()
    proc.kill()
    pytest.fail("view printed no address:\n" + "".join(lines))


def _wait_text(d, *needles, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = d.find_element("tag name", "body").text
        if all(n in text for n in needles):
            return text
        time.sleep(0.5)
    raise AssertionError(f"not on the page after {timeout} s: {needles}\n{text[:3000]}")


@pytest.mark.slow
def test_view_in_a_browser(tmp_path):
    pytest.importorskip("selenium")
    spec = api.load(RESNET)
    a = spec.analysis()
    proc, url = _serve(RESNET, "--expand", "conv2", "--expand", "conv2/bottleneck_1")
    d = _chrome()
    try:
        d.get(url)
        stem = spec.graph.nodes["conv1/conv2d"]
        # a block (conv2, a call of `stage`) among the root-level layers, and the MACs overlay's value of
        # the first convolution in the per-node table, both as archspec counted them
        text = _wait_text(d, "Root-level nodes stats", "conv2", "MACs", str(a.nodes[stem.id].macs))
        assert "params" in text and "output memory" in text
        # every resource came from the local server: no CDN, no fonts from Google
        urls = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert urls and all(u.startswith(url.split("/?")[0]) for u in urls), urls
        # the renderer's own model of the graph: the blocks are layers (group nodes), conv2 opened
        graph = d.execute_script(
            "const r = window.me_test.renderers[0]; const g = r.curModelGraph;"
            "return {groups: Object.keys(g.nodesById).filter(k => k.endsWith('___group___')),"
            "        nodes: Object.keys(g.nodesById).length};")
        assert "conv2___group___" in graph["groups"] and "conv2/bottleneck_1___group___" in graph["groups"]
        time.sleep(2)                         # the WebGL layout settles
        png = tmp_path / "view_resnet50.png"
        d.save_screenshot(str(png))
        assert png.stat().st_size > 20_000
        if os.environ.get("ARCHSPEC_UPDATE_IMAGES"):
            shutil.copy(png, ROOT / "docs/images/view_resnet50.png")
    finally:
        d.quit()
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_view_side_by_side(tmp_path):
    pytest.importorskip("selenium")
    proc, url = _serve(RESNET, ROOT / "specs/mobilenet_v2.yaml")
    d = _chrome()
    try:
        d.get(url)
        _wait_text(d, "conv2")
        deadline = time.time() + 60
        while time.time() < deadline:
            panes = d.execute_script("return Object.keys(window.me_test.renderers).length")
            if panes == 2:
                break
            time.sleep(0.5)
        assert panes == 2
        ids = d.execute_script("return [0, 1].map(i => window.me_test.renderers[i].curModelGraph.id)")
        assert ids == [api.load(RESNET).name, api.load(ROOT / "specs/mobilenet_v2.yaml").name], ids
    finally:
        d.quit()
        proc.kill()
        proc.wait()


def test_view_without_model_explorer_is_one_install_line(monkeypatch):
    import io
    from contextlib import redirect_stderr

    from archspec import extras
    from archspec.cli import main

    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda n: None if n == "model_explorer" else real(n))
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["view", str(RESNET), "--no-browser"]) == 2
    (line,) = err.getvalue().strip().splitlines()
    assert line.endswith("pip install 'archspec[view]'")


def test_draw_model_explorer_to_stdout():
    r = cli("draw", ROOT / "specs/inception_a.yaml", "--format", "model-explorer", "-o", "-")
    assert r.returncode == 0, r.stderr
    coll = json.loads(r.stdout)
    spec = api.load(ROOT / "specs/inception_a.yaml")
    assert [n["id"] for n in coll["graphs"][0]["nodes"]] == list(spec.graph.nodes)


def test_draw_model_explorer_wants_a_json_name(tmp_path):
    r = cli("draw", RESNET, "--format", "model-explorer", "-o", tmp_path / "r.svg")
    assert r.returncode == 2 and "name the file .json (-o r.json)" in r.stderr
    assert not (tmp_path / "r.svg").exists()


def test_every_bundled_spec_exports():
    """Every op's attributes serialise, on every spec of specs/ (new ops included)."""
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = api.load(path)
        a = spec.analysis()
        g = explorer.graph_json(spec.graph, a)
        text = json.dumps([g, [explorer.node_data(g["id"], a, m) for m in explorer.overlays()]])
        assert len(g["nodes"]) == len(spec.graph) and text, path
