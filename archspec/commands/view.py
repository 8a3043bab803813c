"""archspec view SPEC [SPEC_B]: the spec in Google's Model Explorer, served from this machine.

Layers are nodes, the spec's block calls are layers that expand and collapse, edges carry shapes, and
params / MACs / memory (and, with --train, the training estimate) are node data overlays coloured per
layer. Two specs open side by side. The page is the `ai-edge-model-explorer` package's web app, served on
127.0.0.1 with nothing fetched from the network (docs/view.md). Needs `pip install 'archspec[view]'`.
"""
from __future__ import annotations

import json
import os
import re
import sys

from .shared import EXIT_OK, EXIT_SPEC, UsageError, common, load_spec, positive_int, print_warnings
from .trainopts import add_training_options, training_estimate

FONT_URL = re.compile(r"url\(https://fonts\.gstatic\.com/s/[a-z]+/v\d+/([A-Za-z0-9_.-]+)\)")


def configure(p):
    common(p, many=True)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=positive_int, default=None, help="port (default: a free one)")
    p.add_argument("--no-browser", dest="browser", action="store_false",
                   help="print the address but open no browser (a remote machine: forward the port with ssh -L)")
    p.add_argument("--color-by", choices=["params", "macs", "memory", "train_memory", "time"], default="macs",
                   help="the overlay shown first (each can be switched on in the side panel): params, macs "
                        "(default), memory = output activations, train_memory = activations kept for backward "
                        "(implies --train), time = roofline step time (needs --device)")
    p.add_argument("--expand", action="append", metavar="BLOCK", default=[],
                   help="open this block call (a scope path such as conv2/bottleneck_1) when the page loads; "
                        "repeat for more")
    add_training_options(p)


# ---- the data: graphs and overlays ---------------------------------------------------------------------
def build(specs, color_by: str = "macs") -> tuple[dict, dict[str, dict]]:
    """(the graph collection, overlay name -> ModelNodeData) for `specs` [(spec, training estimate or None)].
    The overlay of `color_by` (a dot.COLOR_BY metric) comes last: Model Explorer shows the last one."""
    from ..overrides import variant_name
    from ..render import explorer

    graphs, ids = [], []
    for spec, est in specs:
        gid = variant_name(spec.name, spec.overrides) if getattr(spec, "overrides", None) else spec.name
        base, k = gid, 2
        while gid in ids:
            gid, k = f"{base} ({k})", k + 1
        ids.append(gid)
        graphs.append(explorer.graph_json(spec.graph, spec.analysis(), est, gid))
    names = explorer.overlays(specs[0][1]) if all(est is not None for _, est in specs) else explorer.overlays()
    if any(est is None or est.device is None for _, est in specs) and "step time" in names:
        names.remove("step time")
    first = next((n for n in names if explorer.METRICS[n][0] == color_by), None)
    if first is not None:
        names.remove(first)
        names.append(first)
    data = {name: explorer.model_node_data({gid: explorer.node_data(gid, spec.analysis(), name, est)
                                            for gid, (spec, est) in zip(ids, specs)})
            for name in names}
    label = " vs ".join(ids)
    return explorer.collection(label, graphs), data


def offline_index(web_app_dir: str) -> str:
    """Model Explorer's index.html with its Google Fonts links pointed at the copies the package ships
    (static_files/) and the rest dropped, so the page loads nothing from the network."""
    with open(os.path.join(web_app_dir, "index.html"), encoding="utf-8") as f:
        html = f.read()
    html = html.replace('<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>', "")
    local = set(os.listdir(os.path.join(web_app_dir, "static_files")))

    def face(m):
        rule = m.group(0)
        f = FONT_URL.search(rule)
        if f and f.group(1) in local:
            return FONT_URL.sub(lambda x: f"url(/static_files/{x.group(1)})", rule)
        return ""                          # a font face only on the network: the fallback font serves
    html = re.sub(r"@font-face\{[^}]*\}", face, html)
    return html


def serve(collection: dict, data: dict, host: str, port: int | None, browser: bool, ui_state: dict | None = None):
    """Start Model Explorer's server on `host`:`port` with the collection and overlays; runs until Ctrl+C."""
    import socket

    from ..extras import require

    require("view")
    import flask
    from model_explorer import server
    from model_explorer.config import ModelExplorerConfig

    for var in ("NO_PROXY", "no_proxy"):       # the server polls itself; never through a proxy
        os.environ[var] = ",".join(x for x in (os.environ.get(var), "127.0.0.1", "localhost", host) if x)
    if port is None:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]

    class Config(ModelExplorerConfig):
        def to_url_param_value(self) -> str:        # the side-by-side panes go in the page address too
            from urllib.parse import quote

            d = {"models": self.model_sources, "nodeData": self.node_data_sources,
                 "nodeDataTargets": self.node_data_target_models}
            if ui_state:
                d["uiState"] = ui_state
            return quote(json.dumps(d))

    config = Config()
    config.graphs_list.append(json.dumps({"graphCollections": [collection]}))
    config.model_sources.append({"url": f"graphs://{collection['label']}/0"})
    for name, nd in data.items():
        config.add_node_data(name, json.dumps(nd))

    # offline: no PyPI/GitHub version check (the page asks on start), no fonts from Google
    server._check_new_version = lambda print_msg=True: {"version": "", "runningVersion": "", "releaseUrl": "",
                                                        "desktopAppUrl": ""}
    index = offline_index(server.OSS_WEB_APP_DIR)
    static = server._serve_static_asset

    def serve_static(rel_path: str):
        if rel_path == "index.html":
            return flask.Response(index, mimetype="text/html")
        return static(rel_path)
    server._serve_static_asset = serve_static
    server.start(host=host, port=port, config=config, no_open_in_browser=not browser)


def ui_state(collection: dict, expand=()) -> dict:
    """The page's first state: one pane per graph (two side by side), the `expand` blocks open.
    (Model Explorer names a served collection "NAME (LABEL)" and a block's layer "PATH___group___".)"""
    graphs = collection["graphs"]
    label = f"{collection['label']} ({collection['label']})"
    return {"paneStates": [{"deepestExpandedGroupNodeIds": [f"{p}___group___" for p in expand
                                                            if p in g["groupNodeAttributes"]],
                            "selectedNodeId": "", "selectedGraphId": g["id"], "selectedCollectionLabel": label,
                            "widthFraction": 1 / len(graphs), "selected": i == 0} for i, g in enumerate(graphs)]}


def run(args) -> int:
    from ..extras import available, install_line

    if len(args.specs) > 2:
        raise UsageError(f"view shows one spec, or two side by side; got {len(args.specs)}")
    if args.color_by == "train_memory":
        args.train = True
    if args.color_by == "time" and not args.device:
        raise UsageError("--color-by time needs --device NAME (h100, a100, l4, t4, cpu, …)")
    if not available("view"):                 # say so before spending time on the specs (no import yet)
        raise UsageError(install_line("view"))
    specs, status = [], EXIT_OK
    for path in args.specs:
        spec, sources = load_spec(path, args)
        warnings = [w.as_error() for w in spec.warnings] if args.strict else spec.warnings
        print_warnings(warnings, sources, args)
        if args.strict and warnings:
            status = EXIT_SPEC
        specs.append((spec, training_estimate(spec, args)))
        unknown = [p for p in args.expand if p not in spec.graph.scopes]
        if unknown and len(args.specs) == 1:
            from ..errors import did_you_mean

            hint = did_you_mean(unknown[0], spec.graph.scopes) or "the blocks are the scope paths `report --depth all` lists"
            raise UsageError(f"--expand {unknown[0]}: no block call of that path in {path} — {hint}")
    if status != EXIT_OK:
        return status
    collection, data = build(specs, args.color_by)
    print(f"serving {collection['label']} in Model Explorer ({len(collection['graphs'][0]['nodes'])} layers"
          + "; overlays: " + ", ".join(data) + ")", file=sys.stderr)
    serve(collection, data, args.host, args.port, args.browser, ui_state(collection, args.expand))
    return EXIT_OK
