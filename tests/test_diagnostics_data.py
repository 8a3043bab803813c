"""Diagnostics are data: what code needs (the name a diagnostic is about, the suggested fix, the
path into the document) is a field, never re-parsed from the message text; and the command line
never lets a summary and the next diagnostic run together on one pipe."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

import archspec

BROKEN = FIXTURES / "broken"


def diags(text, **kw):
    with pytest.raises(archspec.SpecError) as exc:
        archspec.load_text(text, "t.yaml", **kw)
    return exc.value.diagnostics


HEAD = "archspec: 1\nname: t\ninputs: {x: [16, 16, 8]}\n"


def test_unknown_field_carries_subject_and_suggestion():
    d, = diags(HEAD + "model:\n  - conv2d: {filters: 8, kernal: 3}\n")
    assert (d.code, d.subject, d.suggestion) == ("unknown-field", "kernal", "kernel")
    assert d.path == ("model", 0, "conv2d", "kernal")
    assert d.to_json()["suggestion"] == "kernel"


def test_misspelled_field_is_not_also_reported_missing_whatever_the_wording():
    """De-duplication reads `suggestion`, so rewording either message cannot bring the duplicate back."""
    got = diags(HEAD + "model:\n  - conv2d: {filters: 8, kernal: 3}\n")
    assert [d.code for d in got] == ["unknown-field"]


def test_unknown_param_ref_op_and_include_carry_data(tmp_path):
    got = diags(HEAD + "blocks:\n  cb:\n    params: {filters: int}\n    body: [relu: {}]\n"
                "model:\n  - cb: {filterz: 8}\n  - dense: {units: 4, name: head}\n  - dense: {units: 4, from: haed}\n"
                "  - dens: {units: 4}\n")
    by_code = {d.code: d for d in got}
    assert (by_code["unknown-param"].subject, by_code["unknown-param"].suggestion) == ("filterz", "filters")
    assert (by_code["unknown-ref"].subject, by_code["unknown-ref"].suggestion) == ("haed", "head")
    assert (by_code["unknown-op"].subject, by_code["unknown-op"].suggestion) == ("dens", "dense")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "conv_bn.yaml").write_text("archspec: 1\nblocks: {}\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(HEAD + "include: [lib/conv_bn.yml]\nmodel:\n  - relu: {}\n")
    with pytest.raises(archspec.SpecError) as exc:
        archspec.load(spec)
    d, = exc.value.diagnostics
    assert (d.code, d.subject, d.suggestion) == ("include", "lib/conv_bn.yml", "lib/conv_bn.yaml")


def test_bare_name_where_a_number_is_expected_suggests_the_dollar():
    d, = diags("archspec: 1\nname: t\nparams: {width: 8}\ninputs: {x: [16, 16, 8]}\n"
               "model:\n  - conv2d: {filters: width, kernel: 3}\n")
    assert d.code == "schema" and d.suggestion == "$width" and "`$width`" in d.hint
    d, = diags(HEAD + "model:\n  - conv2d: {filters: many things, kernel: 3}\n")
    assert d.suggestion is None                  # not an expression: no `$` advice


def test_suggestion_prefers_the_nearest_numbered_layer():
    names = "".join(f"  - dense: {{units: 4, name: b{i}}}\n" for i in range(2000))
    d, = diags("archspec: 1\nname: t\ninputs: {x: [8]}\nmodel:\n" + names + "  - dense: {units: 2, from: b2000}\n")
    assert d.suggestion == "b1999"


def test_nothing_parses_message_text():
    """No source reads a diagnostic's message or hint back apart with split/regex."""
    pattern = re.compile(r"""(message|hint|msg)\)?\.(split|partition|rsplit)\(|re\.\w+\([^)]*\b(d|diag)\.(message|hint)""")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "archspec").rglob("*.py")
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders


def test_summary_and_diagnostics_never_run_together():
    """stdout and stderr on one pipe (`2>&1 | less`): each spec's diagnostics, then its summary line."""
    files = [BROKEN / "cycle.yaml", ROOT / "specs" / "vgg16.yaml", BROKEN / "unknown_op.yaml", BROKEN / "dead_layer.yaml"]
    files = [f for f in files if f.exists()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # stdout block-buffered, as in a shell
    r = subprocess.run([sys.executable, "-m", "archspec", "check", *map(str, files)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    lines = r.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^\S+:\d+:\d+: (error|warning): ", line)]
    summaries = [i for i, line in enumerate(lines) if re.search(r": (FAILED|ok)[,:]", line)]
    assert len(summaries) == len(files), r.stdout
    for line in lines:                           # a summary never has a diagnostic glued to its end
        assert not re.search(r"(errors?|warnings?)\S+:\d+:\d+:", line), line
    for f, i in zip(files, summaries):
        assert lines[i].startswith(str(f)), (f, lines[i])
    own = {}
    for s in starts:
        name = Path(lines[s].split(":", 1)[0]).name
        own.setdefault(name, []).append(s)
    for k, (f, i) in enumerate(zip(files, summaries)):
        before = summaries[k - 1] if k else -1
        assert all(before < s < i for s in own.get(f.name, [])), r.stdout
