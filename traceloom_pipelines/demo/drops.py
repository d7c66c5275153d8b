"""Drop files before they are written: ordered record texts per file, with tags that learn their
final ``source_file``/``source_row`` when the file is written (docs/landing_contract.md).

An *item* of a :class:`Drop` is the record's JSON text (``str``), or ``(text, tag)`` where ``tag``
is a dict the writer fills with ``source_file`` and ``source_row``. CSV drops hold row dicts.
Defects are inserted into ``items``; row numbers are only known (and assigned) at write time.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Tag kinds a clean record may carry and still be picked as a defect's source.
PICKABLE_KINDS = ("po",)
LINE_FORMATS = ("jsonl", "array")


def dumps(value: object) -> str:
    """Compact JSON as the landing reader re-serializes it (key order kept, no ASCII escaping)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Drop:
    """One file to write.

    Attributes:
        rel: path relative to the landing root (``<tenant>/<system>/<entity>/<file>``).
        fmt: ``jsonl`` (one record per line), ``array`` (JSON array), ``single`` (one payload),
            ``envelope`` (``{envelope: [records], **extra}``), ``csv`` (row dicts) or ``raw``
            (the file's text as its one item, e.g. an EDI interchange; ``rows`` says how many
            records the source's reader makes of it).
        items: record texts (or ``(text, tag)``), or row dicts for ``csv``.
    """

    rel: str
    fmt: str
    items: list = field(default_factory=list)
    envelope: str | None = None
    extra: dict = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    rows: int | None = None

    def rows_read(self) -> int:
        """Records the landing reads from the file."""
        return len(self.items) if self.rows is None else self.rows


@dataclass
class EntityDrops:
    """All drops of one tenant's entity, in landing order (sorted by relative path)."""

    tenant: str
    system: str
    entity: str
    drops: list[Drop] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``<tenant>/<system>/<entity>``, the answer key's entity name."""
        return f"{self.tenant}/{self.system}/{self.entity}"

    def folder(self) -> str:
        """The drop folder relative to the landing root."""
        return f"{self.tenant}/{self.system}/{self.entity}"

    def add(self, filename: str, fmt: str, items: list, **kwargs) -> Drop:
        """Append a drop named ``filename`` in this entity's folder."""
        drop = Drop(f"{self.folder()}/{filename}", fmt, items, **kwargs)
        self.drops.append(drop)
        return drop

    def sort(self) -> None:
        """Put the drops in landing order (sorted relative path)."""
        self.drops.sort(key=lambda d: d.rel)

    def rows_read(self) -> int:
        """Records in all drops (what the landing reads)."""
        return sum(d.rows_read() for d in self.drops)

    def pick(
        self, rng: random.Random, used: set[str], formats: tuple[str, ...] = LINE_FORMATS
    ) -> tuple[int, int, str]:
        """A clean record not used before, uniform over the records of ``formats`` drops.

        Returns ``(drop index, item index, text)``; marks the text used.
        """
        candidates = [i for i, d in enumerate(self.drops) if d.fmt in formats and d.items]
        ends = list(itertools.accumulate(len(self.drops[i].items) for i in candidates))
        for _ in range(10_000):
            n = rng.randrange(ends[-1])
            k = bisect.bisect_right(ends, n)
            i = candidates[k]
            n -= ends[k - 1] if k else 0
            item = self.drops[i].items[n]
            if isinstance(item, tuple):
                if item[1].get("kind") not in PICKABLE_KINDS or item[1].get("dup_source"):
                    continue
                text = item[0]
            else:
                text = item
            if text in used:
                continue
            used.add(text)
            return i, n, text
        raise RuntimeError(f"{self.key}: no clean record left to pick")


def _texts(drop: Drop) -> Iterator[str]:
    """Record texts of a drop in order; fills each tag's ``source_file``/``source_row``."""
    for row, item in enumerate(drop.items, start=1):
        if type(item) is tuple:
            item[1]["source_file"] = drop.rel
            item[1]["source_row"] = row
            yield item[0]
        else:
            yield item


def render(drop: Drop) -> str:
    """The file content of a drop."""
    if drop.fmt == "jsonl":
        return "\n".join(_texts(drop)) + "\n"
    if drop.fmt == "array":
        return "[\n" + ",\n".join(_texts(drop)) + "\n]\n"
    if drop.fmt == "single":
        (text,) = list(_texts(drop))
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    if drop.fmt == "envelope":
        extra = "".join(f',\n"{k}":{dumps(v)}' for k, v in drop.extra.items())
        return f'{{"{drop.envelope}":[\n' + ",\n".join(_texts(drop)) + "\n]" + extra + "\n}\n"
    if drop.fmt == "raw":
        (text,) = drop.items
        return text
    if drop.fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(drop.columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(drop.items)
        return buffer.getvalue()
    raise ValueError(f"unknown drop format {drop.fmt}")


def write_drops(root: Path, entities: list[EntityDrops], on_file: Callable[[Path], None]) -> None:
    """Write every drop under ``root`` (UTF-8, ``\\n`` line ends); tags learn their rows."""
    for ent in entities:
        for drop in ent.drops:
            path = root / drop.rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="\n") as handle:
                handle.write(render(drop))
            on_file(path)
