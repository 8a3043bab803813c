"""The schema in the real client most editors use for YAML: yaml-language-server (the npm package the
VS Code YAML extension, Neovim's yamlls and Helix run). Since 1.24 it reads the `$schema` modeline
only on a spec's first line; these tests run it over every bundled spec (no errors: the schema
accepts what archspec accepts) and over the broken corpus's schema-visible mistakes (each reported
on the line `check` reports).

The package is installed once into a cache folder (ARCHSPEC_TEST_CACHE, default
~/.cache/archspec-tests) when Node.js and npm are present; without them, or offline, the tests skip
and say why."""
import asyncio
import os
import shutil
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT, SPECS
from test_broken_specs import ANNOT
from test_jsonschema import SCHEMA_VISIBLE

pytest.importorskip("pygls")
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

VERSION = "1.25.0"            # >= 1.24: the first-line modeline rule
SCHEMA = ROOT / "schema" / "archspec.schema.json"


@pytest.fixture(scope="module")
def yamlls():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are not installed: yaml-language-server (npm) cannot run here")
    cache = os.environ.get("ARCHSPEC_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "archspec-tests")
    prefix = os.path.join(cache, f"yaml-language-server-{VERSION}")
    server = os.path.join(prefix, "node_modules", "yaml-language-server", "bin", "yaml-language-server")
    if not os.path.exists(server):
        os.makedirs(prefix, exist_ok=True)
        r = subprocess.run([npm, "install", "--prefix", prefix, "--no-audit", "--no-fund", "--silent",
                            f"yaml-language-server@{VERSION}"], capture_output=True, text=True, timeout=300)
        if r.returncode or not os.path.exists(server):
            pytest.skip(f"npm could not install yaml-language-server@{VERSION} (offline?): {r.stderr.strip()[-300:]}")
    return [node, server, "--stdio"]


def _diagnostics(cmd, files: dict) -> dict:
    """{path: [(line 1-based, message)]} from one yaml-language-server session over `files` {path: text}."""
    return asyncio.run(asyncio.wait_for(_session(cmd, files), 180))


async def _session(cmd, files):
    client = LanguageClient("archspec-test", "1")
    got: dict = {}
    done = asyncio.Event()
    uris = {from_fs_path(str(p)): p for p in files}

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(ls, params):
        if params.uri in uris:
            got[uris[params.uri]] = [(d.range.start.line + 1, d.message) for d in params.diagnostics]
            if len(got) == len(files):
                done.set()

    @client.feature(T.WORKSPACE_CONFIGURATION)
    def on_configuration(ls, params):
        return [{"validate": True, "hover": True, "completion": True, "schemaStore": {"enable": False}}
                if item.section == "yaml" else None for item in params.items]

    await client.start_io(*cmd)
    try:
        await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities(
            workspace=T.WorkspaceClientCapabilities(configuration=True),
            text_document=T.TextDocumentClientCapabilities(publish_diagnostics=T.PublishDiagnosticsClientCapabilities()))))
        client.initialized(T.InitializedParams())
        client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings={"yaml": {
            "validate": True, "schemaStore": {"enable": False}}}))
        for uri, path in uris.items():
            client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "yaml", 1, files[path])))
        await done.wait()
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        await client.stop()
    return got


def test_bundled_specs_have_no_schema_errors(yamlls):
    """Every bundled spec, read through its own first-line modeline: no false positive. And the modeline
    is what turns checking on: the same spec with one mistake and the modeline first is caught, with
    the modeline at the end (as bundled specs had it) it is not."""
    paths = sorted(SPECS.rglob("*.yaml"))
    assert len(paths) >= 20
    files = {p: p.read_text(encoding="utf-8") for p in paths}
    vgg = SPECS / "vgg16.yaml"
    first = vgg.with_name("_probe_first.yaml")
    last = vgg.with_name("_probe_last.yaml")
    bad = files[vgg].replace("kernel: 3", "kernal: 3", 1)
    assert bad != files[vgg]
    modeline, body = bad.split("\n", 1)
    files[first], files[last] = bad, body + "\n" + modeline + "\n"
    got = _diagnostics(yamlls, files)
    assert {p.name: d for p, d in got.items() if d and p not in (first, last)} == {}
    line = bad.splitlines().index(next(x for x in bad.splitlines() if "kernal" in x)) + 1
    assert [n for n, m in got[first]] == [line] and "kernal" in got[first][0][1]
    assert got[last] == []                       # 1.24+: a modeline after YAML content is ignored


# what yaml-language-server does not report, measured with 1.25.0 (Python's jsonschema does)
NOT_SEEN = {
    # `{strides: 2, 2}` reads as a key `2` without a value; yaml-language-server leaves a key whose value is
    # null unchecked (as it is half-typed), while `{strides: 2, 2: 1}` gets "Property 2 is not allowed."
    "flow_comma_pair",
}


def test_broken_corpus_is_caught_on_the_line_check_reports(yamlls, tmp_path):
    """The corpus's mistakes the schema can see (tests/test_jsonschema.py's list), each file with the
    modeline first: yaml-language-server reports on every line `check` does (or the next, where the
    bad value is a block list under its key), and nowhere else but a "Missing property" on the
    owner of a misspelled key (check reports only the misspelling, with its did-you-mean)."""
    files, want = {}, {}
    for name in sorted(SCHEMA_VISIBLE - NOT_SEEN):
        text = (FIXTURES / "broken" / f"{name}.yaml").read_text(encoding="utf-8")
        path = tmp_path / f"{name}.yaml"
        files[path] = f"# yaml-language-server: $schema={SCHEMA.as_posix()}\n{text}"
        want[path] = {n + 1 for n, line in enumerate(text.splitlines(), 1) if ANNOT.search(line)}
    got = _diagnostics(yamlls, files)
    wrong = {}
    for p in files:
        lines = {n for n, _ in got[p]}
        missed = {w for w in want[p] if not {w, w + 1} & lines}
        extra = [(n, m) for n, m in got[p] if not {n, n - 1} & want[p] and not m.startswith("Missing property")]
        if missed or extra:
            wrong[p.name] = (sorted(want[p]), got[p])
    assert wrong == {}, "\n".join(f"{k}: {v}" for k, v in wrong.items())
    assert len(files) >= 25


@pytest.mark.slow
def test_vscode_extension_packages_without_prompts(tmp_path):
    """`vsce package` (as docs/editor.md says) runs to the end with no terminal to answer prompts, and
    packs only the extension's own files and its runtime dependencies."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        pytest.skip("Node.js and npm are not installed: the VS Code extension cannot be packaged here")
    cache = os.environ.get("ARCHSPEC_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "archspec-tests")
    prefix = os.path.join(cache, "vsce-3")
    vsce = os.path.join(prefix, "node_modules", ".bin", "vsce")
    if not os.path.exists(vsce):
        r = subprocess.run([npm, "install", "--prefix", prefix, "--no-audit", "--no-fund", "--silent", "@vscode/vsce@3"],
                           capture_output=True, text=True, timeout=300)
        if r.returncode or not os.path.exists(vsce):
            pytest.skip(f"npm could not install @vscode/vsce (offline?): {r.stderr.strip()[-300:]}")
    ext = tmp_path / "vscode"
    shutil.copytree(ROOT / "editors" / "vscode", ext)
    r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=ext, capture_output=True,
                       text=True, timeout=300)
    if r.returncode:
        pytest.skip(f"npm could not install the extension's dependencies (offline?): {r.stderr.strip()[-300:]}")
    r = subprocess.run([vsce, "package", "--allow-missing-repository"], cwd=ext, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and (ext / "archspec-0.1.0.vsix").is_file(), r.stdout + r.stderr
    r = subprocess.run([vsce, "ls"], cwd=ext, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    own = sorted(x for x in r.stdout.split() if not x.startswith("node_modules/"))
    assert own == ["LICENSE", "README.md", "extension.js", "package.json"], r.stdout[-2000:]


if __name__ == "__main__":                       # a look at what the server says: python tests/test_yamlls.py FILE...
    from pathlib import Path
    cache = os.path.join(os.path.expanduser("~"), ".cache", "archspec-tests", f"yaml-language-server-{VERSION}")
    cmd = ["node", os.path.join(cache, "node_modules", "yaml-language-server", "bin", "yaml-language-server"), "--stdio"]
    for p, d in _diagnostics(cmd, {Path(a).resolve(): Path(a).read_text() for a in sys.argv[1:]}).items():
        print(p, d)
