"""Text ↔ token ids for sequence runs: byte-level (256 ids, any text) or character-level (the characters of
the training text, sorted), saved in a run folder as ``tokenizer.json`` so `generate`, `evaluate` and
`export` read text the way training did. Pure Python: no numpy, no Keras.

>>> t = Tokenizer.characters("hello world")
>>> t.vocab_size, t.encode("hello"), t.decode(t.encode("low  del"))
(8, [3, 2, 4, 4, 5], 'low  del')
>>> b = Tokenizer.bytes()
>>> b.vocab_size, b.encode("é"), b.decode([195, 169])
(256, [195, 169], 'é')
>>> Tokenizer.from_json(t.to_json()) == t
True
>>> t.encode("hex")
Traceback (most recent call last):
...
archspec.train.tokens.TokenError: 'x' is not in this tokenizer's 8 characters (it was not in the training text)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FILE = "tokenizer.json"
KINDS = ("bytes", "chars")


class TokenError(ValueError):
    """Text a tokenizer cannot encode, or a tokenizer file that cannot be read."""


@dataclass(frozen=True)
class Tokenizer:
    kind: str                                  # "bytes" | "chars"
    chars: tuple[str, ...] = ()                # kind "chars": id i is chars[i]
    _index: dict = field(default=None, compare=False, repr=False, hash=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise TokenError(f"unknown tokenizer kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "chars":
            if not self.chars or len(set(self.chars)) != len(self.chars) or any(len(c) != 1 for c in self.chars):
                raise TokenError("a character tokenizer needs a list of distinct single characters")
            object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def bytes(cls) -> Tokenizer:
        return cls("bytes")

    @classmethod
    def characters(cls, text: str) -> Tokenizer:
        """The characters of `text`, sorted by code point."""
        return cls("chars", tuple(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return 256 if self.kind == "bytes" else len(self.chars)

    def encode(self, text: str) -> list[int]:
        if self.kind == "bytes":
            return list(text.encode("utf-8"))
        try:
            return [self._index[c] for c in text]
        except KeyError as e:
            raise TokenError(f"{e.args[0]!r} is not in this tokenizer's {len(self.chars)} characters "
                             "(it was not in the training text)") from None

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        if self.kind == "bytes":
            return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")
        return "".join(self.chars[i] for i in ids if 0 <= i < len(self.chars))

    def to_json(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, **({"chars": list(self.chars)} if self.chars else {})}

    @classmethod
    def from_json(cls, d: dict) -> Tokenizer:
        try:
            return cls(d["kind"], tuple(d.get("chars", ())))
        except (KeyError, TypeError) as e:
            raise TokenError(f"not a tokenizer description: {e}") from None

    def save(self, folder) -> Path:
        """Write `folder`/tokenizer.json, whole or not at all (a kill leaves the old file or the new one)."""
        from ..files import atomic_write

        p = Path(folder) / FILE
        atomic_write(p, (json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
        return p

    @classmethod
    def load(cls, folder) -> Tokenizer | None:
        """The tokenizer saved in a run folder, or None when the run is not a text run."""
        p = Path(folder) / FILE
        if not p.exists():
            return None
        try:
            return cls.from_json(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise TokenError(f"{p}: {e}") from None
