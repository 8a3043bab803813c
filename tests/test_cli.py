"""The command line as a user runs it: exit statuses, formats, stdin, several specs, and no
TensorFlow/Keras import on the fast path."""
import csv
import io
import json
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT, SPECS

MNIST = str(SPECS / "mnist_cnn.yaml")
BROKEN = FIXTURES / "broken"


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True,
                          input=stdin, cwd=ROOT)


def test_check_ok():
    r = run("check", MNIST)
    assert r.returncode == 0, r.stderr
    assert "52,138 params" in r.stdout and "outputs: output (10,)" in r.stdout


def test_check_several_worst_status():
    r = run("check", MNIST, str(BROKEN / "unknown_op.yaml"))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith(MNIST + ": ok") and "FAILED" in lines[1]
    assert "did you mean 'conv2d'" in r.stderr


def test_strict_turns_warnings_into_errors():
    path = str(BROKEN / "high_dropout.yaml")
    assert run("check", path).returncode == 0
    r = run("check", "--strict", path)
    assert r.returncode == 1 and "error: dropout rate 0.8" in r.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("check").returncode == 2
    assert run("report", MNIST, "--format", "xml").returncode == 2
    assert run("report", MNIST, "--depth", "0").returncode == 2
    r = run("check", MNIST, "--set", "nonsense")
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr
    r = run("check", MNIST, "--limit", "max_bogus=3")
    assert r.returncode == 2


def test_missing_file_and_directory(tmp_path):
    r = run("check", str(tmp_path / "nope.yaml"))
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = run("check", str(tmp_path))
    assert r.returncode == 1 and "is a directory" in r.stderr


def test_stdin():
    r = run("check", "-", stdin=(SPECS / "mnist_cnn.yaml").read_text())
    assert r.returncode == 0 and "52,138" in r.stdout
    r = run("check", "-", stdin="archspec: 1\nname: t\ninputs: {x: [4]}\nmodel:\n  - dense: {units: 0}\n")
    assert r.returncode == 1 and "<stdin>:5:" in r.stderr


def test_report_formats(tmp_path):
    r = run("report", MNIST, "--format", "json")
    data = json.loads(r.stdout)
    assert data["summary"]["params"] == 52138 and data["summary"]["macs"] == sum(x["macs"] for x in data["rows"])
    r = run("report", MNIST, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert sum(int(x["params"]) for x in rows) == 52138
    r = run("report", MNIST, "--format", "markdown")
    assert r.stdout.count("|") > 20
    out = tmp_path / "r.txt"
    assert run("report", MNIST, "-o", str(out)).returncode == 0
    assert "MACs" in out.read_text() and "FLOPs" in out.read_text()


def test_report_header_states_conventions():
    r = run("report", MNIST, "--batch-size", "32", "--dtype", "float16")
    head = r.stdout.splitlines()[:2]
    assert "input image (28, 28, 1), batch 32, float16" in head[0]
    assert "MACs" in head[1] and "FLOPs" in head[1]


def test_set_override():
    spec = str(SPECS / "mnist_cnn.yaml")
    r = run("check", spec, "--set", "x=1")
    assert r.returncode == 1 and "declares no parameter" in r.stderr


def test_diagnostics_json():
    r = run("check", "--diagnostics", "json", str(BROKEN / "unknown_op.yaml"))
    d = json.loads(r.stderr.splitlines()[0])
    assert d["code"] == "unknown-op" and d["line"] == 5 and d["hint"] == "did you mean 'conv2d'?"


def test_schema_is_json():
    data = json.loads(run("schema").stdout)
    assert data["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "filters" in data["definitions"]["op_conv2d"]["properties"]


@pytest.mark.parametrize("command", ["check", "report", "schema"])
def test_fast_commands_never_import_tensorflow(command):
    args = [] if command == "schema" else [str(SPECS / "inception_resnet_cifar10.yaml")]
    code = ("import sys, runpy; sys.argv = ['archspec', %r] + %r\n"
            "from archspec.cli import main\n"
            "main()\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch', 'matplotlib'))\n"
            "print('HEAVY', heavy)\n") % (command, args)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in r.stdout, r.stdout[-500:] + r.stderr[-2000:]


def test_unreadable_file(tmp_path, monkeypatch, capsys):
    """Permission problems are reported like any other spec error (root ignores chmod, so simulate)."""
    from pathlib import Path

    from archspec.cli import main

    spec = tmp_path / "locked.yaml"
    spec.write_text("archspec: 1\n")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert main(["check", str(spec)]) == 1
    assert "permission denied" in capsys.readouterr().err
