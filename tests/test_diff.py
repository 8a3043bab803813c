"""archspec diff: a widened stage shows up as changed blocks/layers with the right cost delta."""
import json
import subprocess
import sys

from conftest import ROOT, SPECS

import archspec
from archspec.diff import diff_specs, render_diff

HEAD = "archspec: 1\nname: {name}\ninputs: {{x: [16, 16, 8]}}\n"


def spec(name, body):
    return archspec.load_text(HEAD.format(name=name) + body, f"{name}.yaml")


def test_widen_and_add():
    a = spec("a", "model:\n  - conv2d: {filters: 8, kernel: 3, padding: same}\n  - global_avg_pool: {}\n")
    b = spec("b", "model:\n  - conv2d: {filters: 16, kernel: 3, padding: same}\n  - relu: {}\n  - global_avg_pool: {}\n")
    d = diff_specs(a, b)
    by_id = {x["id"]: x for x in d["layers"]}
    assert by_id["conv2d"]["status"] == "changed" and "filters 8 → 16" in by_id["conv2d"]["changes"]
    assert by_id["conv2d"]["params"] == (9 * 8 * 16 + 16) - (9 * 8 * 8 + 8)
    assert by_id["relu"]["status"] == "added"
    assert d["total"]["params"] == [a.analysis().total.params, b.analysis().total.params]
    assert d["counts"] == {"added": 1, "removed": 0, "changed": 2}   # conv2d, and global_avg_pool's inputs
    text = render_diff(d)
    assert "+ relu" in text and "filters 8 → 16" in text


def test_cli_resnet_depth_override():
    """ResNet-50 vs ResNet-101 by --set-b: only conv4 changes, by the right amount."""
    r = subprocess.run([sys.executable, "-m", "archspec", "diff", str(SPECS / "resnet50.yaml"),
                        str(SPECS / "resnet50.yaml"), "--set-b", "stages=[3,4,23,3]", "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    changed = [row["name"] for row in d["rows"] if row["status"] != "same"]
    assert changed == ["conv4"]
    r101 = archspec.load(SPECS / "resnet50.yaml", overrides={"stages": [3, 4, 23, 3]})
    assert d["total"]["params"][1] == r101.analysis().total.params
    assert d["counts"]["added"] > 0 and d["counts"]["removed"] == 0
