"""A spec loaded with `--set` overrides: its title and its file/model name.

>>> titled("resnet50", {"stages": [3, 4, 23, 3]}), variant_name("resnet50", {"stages": [3, 4, 23, 3]})
('resnet50 with stages=[3, 4, 23, 3]', 'resnet50_stages_3_4_23_3')
>>> titled("resnet50", {"training.epochs": 3})          # training overrides do not change the network
'resnet50'
"""
from __future__ import annotations


def flow(v) -> str:
    """An override value as one writes it with --set: [3, 4, 23, 3], 0.5, relu, true, null."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {flow(x)}" for k, x in v.items()) + "}"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def network_overrides(overrides: dict) -> dict:
    """The overrides that change the network: all but `training.*` ones."""
    return {k: v for k, v in (overrides or {}).items() if not str(k).startswith("training.")}


def titled(name: str, overrides: dict) -> str:
    """'resnet50 with stages=[3, 4, 23, 3]'; just `name` without (network) overrides."""
    overrides = network_overrides(overrides)
    if not overrides:
        return name
    return f"{name} with " + ", ".join(f"{k}={flow(v)}" for k, v in overrides.items())


def variant_name(name: str, overrides: dict) -> str:
    """`name` with the overrides, in the characters file names and TensorFlow name scopes accept:
    'resnet50_stages_3_4_23_3'. Used for the Keras model's name and default output/run names."""
    import re

    if not network_overrides(overrides):
        return name
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.-]", "_", titled(name, overrides).replace(" with ", "_"))).strip("_")
