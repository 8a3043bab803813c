"""Responsiveness of `archspec lsp` while it checks a large spec, as ratios against the same requests
on an idle server, in one session over stdio (pygls's own client).

A chain of N dense layers is opened; while its analysis runs on the server's worker thread, completion
requests are sent back to back; then the same requests are timed on the idle server. Printed: the
analysis time (didOpen → diagnostics), the completion round trip idle and during the analysis (median
and worst), their ratio, and a hover on the finished analysis. Target: during an analysis the median
completion stays under 10× the idle one and under 100 ms — the server never blocks on a large spec.

Usage: python bench/lsp_bench.py [--layers 10000] [--requests 20]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def session(layers: int, requests: int) -> None:
    from lsprotocol import types as T
    from pygls.lsp.client import LanguageClient
    from pygls.uris import from_fs_path

    client = LanguageClient("archspec-bench", "1")
    diagnostics: asyncio.Queue = asyncio.Queue()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(ls, params):
        diagnostics.put_nowait((time.perf_counter(), params))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    await client.start_io(sys.executable, "-m", "archspec", "lsp", env=env)
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities()))
    client.initialized(T.InitializedParams())
    uri = from_fs_path(str(Path(tempfile.gettempdir()) / "archspec_lsp_bench.yaml"))
    doc = T.TextDocumentIdentifier(uri)
    text = "archspec: 1\nname: chain\ninputs: {x: [64]}\nmodel:\n" + "  - dense: {units: 64}\n" * layers

    async def complete() -> float:
        t = time.perf_counter()
        await client.text_document_completion_async(T.CompletionParams(doc, T.Position(5, 14)))
        return time.perf_counter() - t

    t0 = time.perf_counter()
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "yaml", 1, text)))
    await asyncio.sleep(0.05)
    busy = []
    while diagnostics.empty() and len(busy) < requests:
        busy.append(await complete())
    t_diag, params = await diagnostics.get()
    idle = [await complete() for _ in range(requests)]
    t = time.perf_counter()
    hover = await client.text_document_hover_async(T.HoverParams(doc, T.Position(4 + layers // 2, 6)))
    t_hover = time.perf_counter() - t
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    med_idle, med_busy = statistics.median(idle), statistics.median(busy) if busy else float("nan")
    print(f"{layers:,}-layer chain: analysis {t_diag - t0:.2f} s ({len(params.diagnostics)} diagnostics)")
    print(f"completion idle:            median {med_idle * 1e3:6.1f} ms, worst {max(idle) * 1e3:6.1f} ms")
    if busy:
        print(f"completion during analysis: median {med_busy * 1e3:6.1f} ms, worst {max(busy) * 1e3:6.1f} ms "
              f"({len(busy)} requests)")
        print(f"ratio during / idle (median): {med_busy / med_idle:.1f}x")
    else:
        print("the analysis finished before the first request")
    print(f"hover on the finished analysis: {t_hover * 1e3:.1f} ms — {hover.contents.value.splitlines()[0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    asyncio.run(session(args.layers, args.requests))


if __name__ == "__main__":
    main()
