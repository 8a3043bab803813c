"""The text of sequence runs, found and read without numpy or Keras (core): the bundled documentation
and its fallback in an installed package, text files and folders, and every way a file can fail to be
text — each a located error naming the file."""
from __future__ import annotations

import pytest
from conftest import ROOT

from archspec.errors import SpecError
from archspec.train.config import parse_data_arg
from archspec.train.corpus import bundled, read_corpus, text_files


def one(fn):
    with pytest.raises(SpecError) as e:
        fn()
    (d,) = e.value.diagnostics
    return d


def test_the_bundled_text_is_the_documentation_of_this_checkout():
    files, origin = bundled()
    assert files == sorted((ROOT / "docs").glob("*.md")) and "documentation" in origin
    text, _, warnings = read_corpus(None)
    assert "archspec" in text and len(text) > 50_000 and warnings == []


def test_an_installed_package_without_docs_reads_its_own_sources(tmp_path):
    pkg = tmp_path / "site-packages" / "archspec"
    (pkg / "train").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""archspec."""\n')
    (pkg / "train" / "corpus.py").write_text("# the corpus module\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.py").write_text("")
    files, origin = bundled(pkg)
    assert files == [pkg / "__init__.py", pkg / "train" / "corpus.py"]
    assert "own source code" in origin and "docs/ is not installed" in origin


def test_data_argument_names_text():
    assert parse_data_arg("text") == ("text", None)
    assert parse_data_arg("text:notes") == ("text", "notes")
    assert parse_data_arg("book.TXT") == ("text", "book.TXT")
    assert parse_data_arg("README.md") == ("text", "README.md")


def test_a_folder_reads_its_text_files_in_order_and_warns_about_the_rest(tmp_path):
    (tmp_path / "b.txt").write_text("second\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text("third", encoding="utf-8")
    (tmp_path / "a.rst").write_text("first\n\n\n", encoding="utf-8")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("never", encoding="utf-8")
    text, origin, warnings = read_corpus(str(tmp_path))
    assert text == "first\n\nsecond\n\nthird" and origin.endswith("3 files")
    (w,) = warnings
    assert w.code == "data-skipped" and w.severity == "warning" and "photo.png" in w.message


@pytest.mark.parametrize("content,line,col,words", [
    ("caf\u00e9 ok\nna\u00efve".encode("latin-1"), 1, 4, "not UTF-8 text (byte 0xe9"),
    (b"line one\nline two \x00\x01", 2, 10, "NUL byte (a binary file)"),
])
def test_a_file_that_is_not_utf8_text_is_located(tmp_path, content, line, col, words):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    d = one(lambda: read_corpus(str(f)))
    assert d.code == "data-format" and words in d.message and "'bad.txt'" in d.message
    assert (d.loc.file, d.loc.line, d.loc.col) == (str(f), line, col)


def test_missing_empty_and_textless_sources(tmp_path):
    d = one(lambda: text_files(str(tmp_path / "nope.txt")))
    assert d.code == "data-missing" and "nope.txt" in d.message and "--data text" in d.hint
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"x")
    d = one(lambda: read_corpus(str(tmp_path / "pics")))
    assert d.code == "data-missing" and "holds no text files" in d.message
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    d = one(lambda: read_corpus(str(tmp_path / "empty.txt")))
    assert d.code == "data-format" and "the file is empty" in d.message


def test_a_byte_order_mark_is_not_text(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes("\ufeffhello".encode("utf-8"))
    assert read_corpus(str(f))[0] == "hello"


@pytest.mark.parametrize("training,words,hint", [
    ("{objective: next_tokens}", "'objective' should be 'next_token' or 'classify'; got 'next_tokens'",
     "did you mean 'next_token'?"),
    ("{data: {source: text, tokenizer: word}}", "'tokenizer' should be 'bytes' or 'chars'; got 'word'", None),
])
def test_training_section_mistakes_about_sequences_are_located(training, words, hint):
    import archspec
    from archspec.train.config import resolve

    spec = archspec.load_text(f"archspec: 1\nname: t\ninputs: {{x: [8]}}\nmodel: [dense: 2]\ntraining: {training}\n",
                              "t.yaml")
    d = one(lambda: resolve(spec, {}))
    assert d.code == "schema" and words in d.message and d.loc.line == 5 and d.hint == hint


def test_settings_record_the_objective_but_it_does_not_bind_a_resumed_run():
    import archspec
    from archspec.train.config import Settings, resolve

    spec = archspec.load_text("archspec: 1\nname: t\ninputs: {x: [8]}\nmodel: [dense: 2]\n"
                              "training: {objective: classify}\n", "t.yaml")
    s = resolve(spec, {})
    assert s.objective == "classify" and s.to_json()["objective"] == "classify"
    before = s.fingerprint({"t.yaml": spec.source.text})
    s.sequence_length, s.vocab_size = 64, 256             # settled later, from the data (train/planning.py)
    assert s.fingerprint({"t.yaml": spec.source.text}) == before
    old = {k: v for k, v in s.to_json().items() if k not in ("objective", "sequence_length", "vocab_size")}
    assert Settings.from_json(old).objective is None        # a settings.json from before: no objective
