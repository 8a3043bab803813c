"""A newcomer's first commands: mistyped files and commands get a did-you-mean, errors carry their hints,
the CLI is quiet and conventional."""
import shlex
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
            cmd = shlex.split(line.split("  ")[1])[1:]     # as a shell splits it: quoted prompts stay one argument
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

@pytest.mark.keras      # TensorFlow is never imported, but must be installed: a missing backend is said first
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


# ---- warning volume --------------------------------------------------------------------------------

def _library_with_a_warning(tmp_path, n=4):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "b.yaml").write_text("archspec: 1\nblocks:\n  drop:\n    body:\n      - dropout: 0.9\n")
    names = []
    for k in range(n):
        (tmp_path / f"s{k}.yaml").write_text(f"archspec: 1\nname: s{k}\ninclude: [lib/b.yaml]\ninputs: {{x: [8]}}\n"
                                             "model:\n  - dense: 4\n  - drop: {}\n  - dense: 2\n")
        names.append(f"s{k}.yaml")
    return names


def test_a_shared_warning_prints_once_in_a_multi_file_check(tmp_path):
    names = _library_with_a_warning(tmp_path)
    r = run("check", *names, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("warning: dropout rate 0.9") == 1
    assert "note: 3 more warnings repeat ones printed above: [high-dropout] s1.yaml:7:5, s2.yaml:7:5, s3.yaml:7:5" \
        in r.stderr
    assert r.stdout.count("1 warning") == 4            # every spec still counts its own


def test_max_warnings_and_no_warnings():
    specs = ["specs/inception_resnet_cifar10.yaml"]
    every = run("check", *specs)
    total = every.stderr.count(": warning: ")
    assert total >= 5
    r = run("check", *specs, "--max-warnings", "2")
    assert r.stderr.count(": warning: ") == 2
    assert f"note: {total - 2} warnings not shown (--max-warnings 2; --max-warnings {total} shows all)" in r.stderr
    r = run("check", *specs, "--no-warnings")
    assert ": warning: " not in r.stderr and f"note: {total} warnings not shown (--no-warnings)" in r.stderr
    assert r.returncode == 0 and f"{total} warnings" in r.stdout
    r = run("check", *specs, "--no-warnings", "--strict")                 # errors always print
    assert r.returncode == 1 and r.stderr.count(": error: ") == total
    assert run("check", *specs, "--no-warnings", "--max-warnings", "3").returncode == 2


def test_ignore_warnings_accepts_a_code(tmp_path):
    text = "archspec: 1\nname: t\ninputs: {x: [8]}\nmodel:\n  - dense: 4\n  - dropout: 0.9\n  - dense: 2\n"
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text.replace("name: t\n", "name: t\nignore_warnings: [high-dropout]\n"))
    assert "[high-dropout]" in run("check", "a.yaml", cwd=tmp_path).stderr
    r = run("check", "b.yaml", cwd=tmp_path)
    assert r.stderr == "" and "0 warnings" in r.stdout


def demo_commands():
    lines = (ROOT / "tools" / "demo.sh").read_text().splitlines()
    return [ln.split("#")[0].replace("|| true", "").split() for ln in lines if ln.startswith("archspec ")]


def test_demo_prints_each_warning_once(tmp_path):
    """The demo's commands that need no TensorFlow (check, report, draw), run as the demo runs them:
    every warning header appears once, and every command succeeds."""
    import glob
    import shutil

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    headers = []
    commands = [c for c in demo_commands() if c[1] in ("check", "report", "draw")]
    assert len(commands) >= 5
    for cmd in commands:
        args = [a for part in cmd[1:] for a in (sorted(glob.glob(part, root_dir=tmp_path)) if "*" in part else [part])]
        r = run(*args, cwd=tmp_path)
        assert r.returncode in (0, 1) if args[0] == "check" else r.returncode == 0, (cmd, r.stderr)
        headers += [ln for ln in r.stderr.splitlines() if ": warning: " in ln]
    assert headers, "the demo shows the seed-000 spec's warnings"
    repeated = sorted({h for h in headers if headers.count(h) > 1})
    assert not repeated, repeated


# ---- the Python API: errors carry hints, overrides are named ----------------------------------------

def test_spec_error_str_carries_hints_and_scope():
    with pytest.raises(SpecError) as e:
        archspec.load_text("archspec: 1\nname: t\ninputs: {x: [8, 8, 3]}\nmodel:\n  - conv2d: {filters: 3, kernal: 3}\n",
                           "t.yaml")
    [d] = e.value.diagnostics
    text = str(e.value)
    assert d.hint and f"hint: {d.hint}" in text and "did you mean 'kernel'?" in text
    assert text.splitlines()[0] == f"t.yaml:5:26: error: {d.message}  [{d.code}]"


def test_overrides_name_the_spec_in_report_check_and_diagram():
    spec = archspec.load(ROOT / "specs" / "resnet50.yaml", overrides={"stages": [3, 4, 23, 3]})
    assert spec.name == "resnet50"                                  # the spec's own name is kept (run folders)
    assert spec.title == "resnet50 with stages=[3, 4, 23, 3]"
    assert spec.model_name == "resnet50_stages_3_4_23_3"
    assert spec.report().splitlines()[0].startswith("resnet50 with stages=[3, 4, 23, 3]: input image")
    import json

    summary = json.loads(spec.report("json"))["summary"]
    assert summary["overrides"] == {"stages": [3, 4, 23, 3]} and summary["name"] == "resnet50"
    assert "<b>resnet50 with stages=[3, 4, 23, 3]</b>" in spec.draw(depth=1)
    plain = archspec.load(ROOT / "specs" / "resnet50.yaml")
    assert plain.title == plain.model_name == "resnet50" and plain.report().startswith("resnet50: input")
    r = run("check", "specs/resnet50.yaml", "--set", "stages=[3, 4, 23, 3]")
    assert r.stdout.startswith("specs/resnet50.yaml: ok: resnet50 with stages=[3, 4, 23, 3]\n")


def test_default_run_folder_is_full_and_named_after_overrides(tmp_path, monkeypatch):
    from archspec.train.loop import run_folder

    monkeypatch.chdir(tmp_path)
    plain = archspec.load(ROOT / "specs" / "resnet50.yaml")
    varied = archspec.load(ROOT / "specs" / "resnet50.yaml", overrides={"stages": [3, 4, 23, 3]})
    assert run_folder(plain).path == tmp_path / "runs" / "resnet50"
    assert run_folder(varied).path == tmp_path / "runs" / "resnet50_stages_3_4_23_3"
    assert run_folder(varied, "elsewhere").path == tmp_path / "elsewhere"


def test_default_outputs_are_named_after_overrides(tmp_path):
    import shutil

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    for extra in ([], ["--set", "stages=[3, 4, 23, 3]"]):
        r = run("draw", "specs/resnet50.yaml", "--depth", "1", "-T", "dot", *extra, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["resnet50.dot", "resnet50_stages_3_4_23_3.dot"]


def test_an_unknown_output_hints_the_model_layers_not_only_the_inputs(tmp_path):
    """`outputs: {y: head}` with a typo: the hint names the model's layers (`heads` here), not just
    the inputs."""
    import archspec

    text = ("archspec: 1\nname: t\ninputs: {x: [8]}\noutputs: {y: head}\nmodel:\n"
            "  - dense: {units: 4, name: heads}\n")
    try:
        archspec.load_text(text, "t.yaml")
    except archspec.SpecError as exc:
        (d,) = exc.diagnostics
    assert d.code == "unknown-ref" and d.suggestion == "heads" and "did you mean 'heads'" in d.hint


def test_a_keras_layer_archspec_lacks_is_named_not_guessed():
    """`- embedding:` is Keras's Embedding, not position_embedding: no quick fix to the wrong op, the reason."""
    import archspec

    try:
        archspec.load_text("archspec: 1\nname: t\ninputs: {x: [8]}\nmodel:\n  - embedding: {units: 4}\n", "t.yaml")
    except archspec.SpecError as exc:
        (d,) = exc.diagnostics
    assert d.code == "unknown-op" and d.suggestion is None and "Embedding (integer token ids" in d.hint


def test_one_include_file_name_is_told_to_be_a_list_and_a_list_of_blocks_a_mapping():
    """`include: lib.yaml` (one name where the list goes) gets the list as its fix, not `$lib.yaml` (it
    reads as an expression); `blocks:` written as a list is a located schema error, not a crash (the fuzz
    test's mutated VGG16 found the crash)."""
    import archspec

    text = ("archspec: 1\nname: t\ninputs: {x: [8]}\ninclude: lib/conv_bn.yaml\nblocks:\n  - b: {units: 2}\n"
            "model:\n  - dense: 4\n")
    try:
        archspec.load_text(text, "t.yaml")
    except archspec.SpecError as exc:
        inc, blocks = sorted(exc.diagnostics, key=lambda d: d.loc.line)
    assert inc.suggestion == "[lib/conv_bn.yaml]" and "include: [lib/conv_bn.yaml]" in inc.hint
    assert (blocks.code, blocks.loc.line) == ("schema", 6) and "'blocks'" in blocks.message
