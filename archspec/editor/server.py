"""`archspec lsp`: the Language Server Protocol over stdio (pygls 2).

As the user types, each change schedules an analysis of the document (debounced by `DEBOUNCE`
seconds); analyses run one at a time on a worker thread, never on the event loop, so hovers and
completions answer at once even while a 10,000-layer spec is being checked. A result that a newer
edit has overtaken is dropped; hovers, definitions and completions use the latest result, and keep
the last one that could read the file while the text does not parse (half-typed YAML).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import PositionCodec

from ..version import __version__
from . import analysis as A

DEBOUNCE = 0.25
log = logging.getLogger("archspec.lsp")

KINDS = {"op": T.CompletionItemKind.Function, "block": T.CompletionItemKind.Module,
         "structure": T.CompletionItemKind.Keyword, "field": T.CompletionItemKind.Field,
         "param": T.CompletionItemKind.Variable, "value": T.CompletionItemKind.EnumMember,
         "key": T.CompletionItemKind.Property}


class ArchspecServer(LanguageServer):
    def __init__(self):
        super().__init__("archspec", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archspec-analysis")
        self.results: dict[str, A.Result] = {}      # uri -> latest analysis
        self.readable: dict[str, A.Result] = {}     # uri -> latest analysis of text that parsed
        self.pending: dict[str, asyncio.Task] = {}


server = ArchspecServer()


def _path(uri: str) -> Path | None:
    p = to_fs_path(uri)
    return Path(p) if p else None


def schedule(ls: ArchspecServer, uri: str, delay: float = DEBOUNCE) -> None:
    task = ls.pending.pop(uri, None)
    if task:
        task.cancel()
    ls.pending[uri] = asyncio.get_running_loop().create_task(_run(ls, uri, delay))


async def _run(ls: ArchspecServer, uri: str, delay: float) -> None:
    await asyncio.sleep(delay)
    doc = ls.workspace.get_text_document(uri)
    text, version = doc.source, doc.version
    if not A.is_spec(text):                      # some other YAML file: nothing to say
        ls.results.pop(uri, None)
        ls.readable.pop(uri, None)
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=[]))
        return
    loop = asyncio.get_running_loop()
    try:
        result = await loop.run_in_executor(ls.worker, A.analyze, text, _path(uri), version)
    except Exception as exc:                     # a bug in archspec must not take the editor down
        log.exception("analysis failed")
        ls.window_log_message(T.LogMessageParams(T.MessageType.Error, f"archspec: internal error: {exc!r}"))
        return
    current = ls.workspace.get_text_document(uri)
    if current.version != version:
        return                                   # overtaken by an edit; its own analysis is on the way
    ls.results[uri] = result
    if result.parsed:
        ls.readable[uri] = result
    codec = ls.workspace.position_codec
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
        uri=uri, version=version, diagnostics=[to_lsp(d, result, codec) for d in result.diagnostics]))


# ---- positions -----------------------------------------------------------------------------------
# The analysis counts columns in code points; the client counts in the units negotiated at initialize
# (`general.positionEncodings`: UTF-8 for Neovim and Helix, UTF-16 for VS Code, UTF-32). Every position
# crossing the protocol is converted against the text it refers to.
def _lines(text: str) -> list[str]:
    return text.splitlines(True) or [""]


def _to_client(codec: PositionCodec, lines, line: int, col: int) -> T.Position:
    if not 0 <= line < len(lines):
        return T.Position(max(line, 0), col)
    return codec.position_to_client_units(lines, T.Position(line, col))


def _from_client(codec: PositionCodec, lines, pos: T.Position) -> tuple[int, int]:
    if not 0 <= pos.line < len(lines):
        return pos.line, pos.character
    p = codec.position_from_client_units(lines, T.Position(pos.line, pos.character))
    return p.line, p.character


def _file_lines(path: Path, ls: "ArchspecServer | None" = None) -> list[str]:
    """The text of a file a location points into: the editor's copy when it is open, else the disk's."""
    if ls is not None:
        doc = ls.workspace.text_documents.get(unquote(from_fs_path(str(path)) or ""))
        if doc is not None:
            return _lines(doc.source)
    try:
        return _lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []


def _range(r: A.Result, line: int, col: int, subject: str | None) -> T.Range:
    """The token a diagnostic is about: from its column to the end of the word, quoted string or
    subject there (0-based positions, in code points)."""
    lines = r.text.splitlines()
    text = lines[line] if 0 <= line < len(lines) else ""
    col = max(0, min(col, len(text)))
    end = col
    if subject and text.startswith(subject, col):
        end = col + len(subject)
    elif text[col:col + 1] in ("[", "{"):         # a flow list or mapping: to its matching bracket
        depth, end = 0, col + 1                  # (none on the line: the bracket itself)
        for k in range(col, len(text)):
            depth += (text[k] in "[{") - (text[k] in "]}")
            if depth == 0:
                end = k + 1
                break
    elif text[col:col + 1] in ("'", '"') and (col == 0 or text[col - 1] in " :[{,"):    # an opening quote
        close = text.find(text[col], col + 1)
        end = close + 1 if close > 0 else len(text)
    else:
        while end < len(text) and text[end] not in ",{}[]#'\"" and text[end:end + 2] != ": " and \
                not (text[end] == ":" and end + 1 == len(text)):
            end += 1
        while end > col and text[end - 1] == " ":
            end -= 1
    return T.Range(T.Position(line, col), T.Position(line, max(end, col + 1)))


def to_lsp(d, r: A.Result, codec: PositionCodec | None = None) -> T.Diagnostic:
    """The protocol's form of a diagnostic of analysis `r`, its columns in `codec`'s units (code points
    without one)."""
    codec = codec or PositionCodec(T.PositionEncodingKind.Utf32)
    here = d.loc is not None and d.loc.file == r.display and d.loc.line > 0
    rng = _range(r, d.loc.line - 1, d.loc.col - 1, d.subject) if here else T.Range(T.Position(0, 0), T.Position(0, 1))
    lines = _lines(r.text)
    rng = T.Range(_to_client(codec, lines, rng.start.line, rng.start.character),
                  _to_client(codec, lines, rng.end.line, rng.end.character))
    message = d.message
    if d.loc is not None and not here:
        message = f"{d.loc}: {message}"          # a mistake in an included file
    if d.scope:
        message += f"\nin: {d.scope}"
    if d.hint:
        message += f"\nhint: {d.hint}"
    related = []
    for n in d.notes:
        if n.loc and n.loc.line > 0:
            uri = from_fs_path(str(Path(n.loc.file).resolve())) if n.loc.file != "<untitled>" else None
            if uri:
                nlines = lines if n.loc.file == r.display else _file_lines(Path(n.loc.file))
                pos = _to_client(codec, nlines, n.loc.line - 1, max(n.loc.col - 1, 0))
                related.append(T.DiagnosticRelatedInformation(T.Location(uri, T.Range(pos, pos)), n.message))
    data = {k: v for k, v in (("subject", d.subject), ("suggestion", d.suggestion)) if v is not None}
    return T.Diagnostic(
        range=rng, message=message, source="archspec", code=d.code,
        severity=T.DiagnosticSeverity.Error if d.severity == "error" else T.DiagnosticSeverity.Warning,
        related_information=related or None, data=data or None)


@server.feature(T.INITIALIZED)
def on_initialized(ls: ArchspecServer, params: T.InitializedParams):
    ls.worker.submit(A.warm_up)                  # imports, validators, the op schemas: off the event loop


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ArchspecServer, params: T.DidOpenTextDocumentParams):
    schedule(ls, params.text_document.uri, 0)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ArchspecServer, params: T.DidChangeTextDocumentParams):
    schedule(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ArchspecServer, params: T.DidSaveTextDocumentParams):
    schedule(ls, params.text_document.uri, 0)   # included files may have changed on disk


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchspecServer, params: T.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task:
        task.cancel()
    ls.results.pop(uri, None)
    ls.readable.pop(uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _latest(ls: ArchspecServer, uri: str) -> A.Result | None:
    return ls.readable.get(uri) or ls.results.get(uri)


def _current(ls: ArchspecServer, uri: str) -> A.Result | None:
    """The latest analysis of `uri`, with the text the editor holds now (None before the first)."""
    r = _latest(ls, uri)
    return None if r is None else replace(r, text=ls.workspace.get_text_document(uri).source)


@server.feature(T.TEXT_DOCUMENT_HOVER)
def on_hover(ls: ArchspecServer, params: T.HoverParams):
    r = _current(ls, params.text_document.uri)
    if r is None:
        return None
    text = A.hover(r, *_from_client(ls.workspace.position_codec, _lines(r.text), params.position))
    if not text:
        return None
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: ArchspecServer, params: T.DefinitionParams):
    r = _current(ls, params.text_document.uri)
    if r is None:
        return None
    out = []
    codec = ls.workspace.position_codec
    for path, line, col in A.definition(r, *_from_client(codec, _lines(r.text), params.position)):
        pos = _to_client(codec, _file_lines(path, ls), line, col)
        out.append(T.Location(from_fs_path(str(path)), T.Range(pos, pos)))
    return out or None


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[" ", "{", ","]))
def on_completion(ls: ArchspecServer, params: T.CompletionParams):
    doc = ls.workspace.get_text_document(params.text_document.uri)
    items = A.completions(_latest(ls, params.text_document.uri), doc.source,
                          *_from_client(ls.workspace.position_codec, _lines(doc.source), params.position))
    return T.CompletionList(is_incomplete=False, items=[
        T.CompletionItem(label=i.label, kind=KINDS.get(i.kind), detail=i.detail or None,
                         documentation=T.MarkupContent(T.MarkupKind.Markdown, i.doc) if i.doc else None)
        for i in items])


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION)
def on_code_action(ls: ArchspecServer, params: T.CodeActionParams):
    """Quick fixes: replace a misspelled name by the suggestion its diagnostic carries."""
    out = []
    lines = _lines(ls.workspace.get_text_document(params.text_document.uri).source)
    codec = ls.workspace.position_codec
    for d in params.context.diagnostics:
        data = d.data if isinstance(d.data, dict) else {}
        rng = d.range                            # in the client's units: the edit replaces exactly it
        (l0, c0), (l1, c1) = _from_client(codec, lines, rng.start), _from_client(codec, lines, rng.end)
        text = lines[l0][c0:c1] if l0 == l1 and l0 < len(lines) else None
        if text is not None and text.strip("'\"") != data.get("subject"):
            continue                             # the range is not the name the suggestion replaces
        if d.source == "archspec" and data.get("suggestion") is not None:
            edit = T.TextEdit(d.range, str(data["suggestion"]))
            out.append(T.CodeAction(title=f"Change to '{data['suggestion']}'", kind=T.CodeActionKind.QuickFix,
                                    diagnostics=[d], is_preferred=True,
                                    edit=T.WorkspaceEdit(changes={params.text_document.uri: [edit]})))
    return out or None


class ClientPipe:
    """stdout towards the client. When the client goes away (an editor quitting right after closing a
    buffer) a write finds the pipe closed: that is the end of the session, not an error, so the rest
    of the output is dropped quietly (no BrokenPipe traceback per pending message) and the server
    stops when its input ends."""

    def __init__(self, stream):
        self.stream, self.gone = stream, False

    def _closed(self) -> None:
        self.gone = True
        try:                                     # nor a complaint from the interpreter's final flush
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, data: bytes) -> int:
        if self.gone:
            return len(data)
        try:
            return self.stream.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self._closed()
            return len(data)

    def flush(self) -> None:
        if self.gone:
            return
        try:
            self.stream.flush()
        except (BrokenPipeError, ConnectionResetError):
            self._closed()

    def close(self) -> None:
        if not self.gone:
            try:
                self.stream.close()
            except OSError:
                pass


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="archspec lsp: %(message)s")
    server.start_io(stdout=ClientPipe(sys.stdout.buffer))
