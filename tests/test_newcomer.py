"""A newcomer's first commands: mistyped files and commands get a did-you-mean, errors carry their hints,
the CLI is quiet and conventional."""
import subprocess
import sys

import pytest
from conftest import ROOT

import archspec
from archspec import SpecError


def run(*args, cwd=ROOT, **kw):
    return subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True, cwd=cwd, **kw)


def missing_hint(path):
    with pytest.raises(SpecError) as e:
        archspec.load(path)
    [d] = e.value.diagnostics
    assert d.code == "file-not-found"
    return d.hint


@pytest.mark.parametrize("typed, meant", [
    ("specs/inception_a.yml", "specs/inception_a.yaml"),      # the suffix
    ("specs/incepton_a.yaml", "specs/inception_a.yaml"),      # the name
    ("spec/inception_a.yaml", "specs/inception_a.yaml"),      # the folder
    ("spec/lib/conv_bn.yaml", "specs/lib/conv_bn.yaml"),      # a folder two down
])
def test_missing_spec_file_did_you_mean(typed, meant, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert missing_hint(typed) == f"did you mean '{meant}'?"


def test_missing_spec_file_answers_in_the_form_typed(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my_net.yaml").write_text("archspec: 1\n")
    assert missing_hint(tmp_path / "models" / "my_nte.yaml") == f"did you mean '{tmp_path}/models/my_net.yaml'?"
    assert missing_hint(tmp_path / "models" / "other.yaml") is None       # nothing close: no guess


def test_missing_spec_on_the_command_line():
    r = run("compile", "specs/inception_a.yml")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "hint: did you mean 'specs/inception_a.yaml'?" in r.stderr
