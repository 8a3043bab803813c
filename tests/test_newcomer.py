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


# ---- a conventional command line -----------------------------------------------------------------

def test_every_option_has_help():
    import argparse

    from archspec.cli import build_parser

    parser = build_parser()
    missing = []
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in [("archspec", parser), *sub.choices.items()]:
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_top_level_help_has_examples_that_parse():
    from archspec.cli import EXAMPLES, build_parser

    r = run("--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "archspec compile specs/inception_a.yaml" in r.stdout
    parser = build_parser()
    for line in EXAMPLES.splitlines():
        if line.startswith("  archspec "):
            cmd = line.split("  ")[1].split()[1:]
            parser.parse_args(cmd)          # SystemExit (a usage error) fails the test


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    r = run(flag)
    assert r.returncode == 0 and r.stdout.strip() == f"archspec {archspec.__version__}"


@pytest.mark.parametrize("typed, meant", [("chek", "check"), ("complie", "compile"), ("reprot", "report")])
def test_unknown_command_did_you_mean(typed, meant):
    r = run(typed, "specs/inception_a.yaml")
    assert r.returncode == 2 and f"did you mean '{meant}'?" in r.stderr and "invalid choice" not in r.stderr


def test_unknown_command_without_a_close_one_lists_them():
    r = run("frobnicate")
    assert r.returncode == 2 and "check, report, draw" in r.stderr


TF_NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard", "TensorFlow binary is optimized")


@pytest.mark.keras
def test_no_tensorflow_start_up_lines_unless_verbose(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    out = tmp_path / "a.keras"
    r = run("compile", str(ROOT / "specs" / "inception_a.yaml"), "-o", str(out), env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not [n for n in TF_NOISE if n in r.stderr], r.stderr
    assert r.stderr.strip() == f"wrote {out} (24 layers, 318,240 params)"


# ---- predictable outputs ---------------------------------------------------------------------------

def test_run_folder_clash_is_reported_before_tensorflow_loads(tmp_path):
    """A copied spec keeps its `name:`, so it would train into the first spec's run folder; the clash is a
    usage error found from settings.json and spec/ alone, before TensorFlow is imported."""
    import shutil
    import textwrap

    from archspec.train.artifacts import RunFolder, copy_spec, write_json

    original = tmp_path / "digits_cnn.yaml"
    shutil.copy(ROOT / "specs" / "digits_cnn.yaml", original)
    run_dir = RunFolder(tmp_path / "runs" / "digits_cnn")
    main = copy_spec(run_dir, archspec.load(original))          # what `archspec train` writes first
    write_json(run_dir.settings, {"spec": main})
    copy = tmp_path / "my_cnn.yaml"
    copy.write_text(original.read_text().replace("filters: 32", "filters: 16", 1))
    code = textwrap.dedent("""
        import sys
        from archspec.cli import main
        status = main(["train", "my_cnn.yaml"])
        print("status", status, "tensorflow" in sys.modules, "keras" in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.stdout.split() == ["status", "2", "False", "False"], r.stdout + r.stderr
    assert "holds a run of another spec (digits_cnn.yaml, not my_cnn.yaml)" in r.stderr
    assert "--out NEW_FOLDER" in r.stderr
    assert run_dir.spec_clash(archspec.load(original)) is None               # the same spec resumes there


def test_draw_writes_into_out_and_says_the_full_path(tmp_path):
    import shutil

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    r = run("draw", "specs/inception_a.yaml", "-T", "dot", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    written = tmp_path / "out" / "inception_a.dot"
    assert r.stderr.strip() == f"wrote {written}" and written.read_text().startswith("digraph")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "specs"]          # nothing else littered
