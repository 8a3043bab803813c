"""Stand-ins for libraries, on the path of `archspec check` only, each held equal to its library by a test.

Importing pydantic alone would add a third to a cold `archspec check`, building the spec's models with
it more than the whole check again (bench/stand_ins_bench.py; docs/design.md quotes a run). These
modules are why. Each does one library's job for the inputs archspec gives it, and hands anything else
to the library itself, so the library defines what is right:

``pydantic_lite``
    pydantic's way of writing a model (annotations, ``Field``, ``BeforeValidator``,
    ``model_validator``) validated without importing pydantic: a fast path accepts only values whose
    pydantic result is certain; anything else goes to the real pydantic model built from the same
    declaration. The op attributes, the spec's document model and its `training:` section are
    written against it.
    Held equal by ``tests/test_pydantic_lite.py`` (every op example, every bundled spec, odd values).
``yaml_lite``
    PyYAML for the plain subset that large generated specs are made of (block mappings, one-line flow
    collections, names and numbers); anything else — quotes, anchors, tags, `$` expressions, errors —
    makes it decline and PyYAML reads the text. Held equal, data and every position, by
    ``tests/test_yaml_lite.py`` (every YAML file in the repository, mutated texts).
``positions``
    a dict from path tuples to ``(line, column)``, stored as one flat array per document (~16 bytes a
    value instead of ~250), filled by both YAML readers. Held equal to a plain dict by
    ``tests/test_fast.py`` and, through the readers, by ``tests/test_yaml_lite.py``.
``dataclasses_lite``
    ``Record``: what ``@dataclass`` adds (repr, eq, replace, asdict) for classes that write their own
    ``__init__``, without importing dataclasses (inspect, ast, dis, tokenize). Held equal to
    dataclasses by ``tests/test_fast.py``.

This package imports nothing of archspec: everything above may use it.
"""
