"""What a source entity is: its drop folder, its pandera contract, its child tables.

A source folder (``traceloom_pipelines/sources/<system>/contract.py``) declares one
:class:`SourceEntity` per entity; the landing machinery and the asset factory do the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa

# A custom reader turns one drop file into (1-based record ordinal, record JSON text) pairs.
RecordReader = Callable[[Path], Iterator[tuple[int, str]]]


@dataclass(frozen=True)
class ChildTable:
    """A nested array inside each record that lands as its own table keyed to the parent.

    Attributes:
        name: raw table suffix, e.g. ``purchase_order_lines`` → ``raw.erp__purchase_order_lines``.
        array_key: dotted path of the array inside the record
            (``work_order.bill_of_materials``).
        schema: contract of one array element (paths relative to the element: ``$.sku``).
        parent_columns: parent contract columns copied onto every child row (its foreign key).
    """

    name: str
    array_key: str
    schema: pa.DataFrameSchema
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class ReferenceCheck:
    """A column whose values must exist in another landed entity of the same tenant.

    003 §4.4: MES messages with an unknown ``machine_id`` are rejected. The check is named
    ``known_<name>`` in quarantine reasons.
    """

    column: str
    name: str
    ref_table: str  # raw table holding the master data, e.g. "mes__machines"
    ref_column: str


@dataclass(frozen=True)
class SourceEntity:
    """One entity of one source system, landed from ``landing/<tenant>/<system>/<entity>/``.

    Attributes:
        system: source system folder name (``erp``, ``mes`` …).
        entity: entity folder name (``purchase_orders`` …).
        schema: pandera contract; each column's metadata gives its JSON path and landed type.
        seed_ref: the seed section the contract comes from (``003 §3.2.1``).
        envelope: key of the record list inside a payload (``{"materials": [...]}``), if any.
        children: nested arrays landed as child tables.
        reference_checks: columns checked against other entities' master data.
        reader: custom reader for formats the shared readers do not know (XML feeds).
        file_suffixes: file types read from the drop folder.
        tenant_scoped: False for public feeds landed under the ``public`` tenant.
    """

    system: str
    entity: str
    schema: pa.DataFrameSchema
    seed_ref: str
    description: str = ""
    envelope: str | None = None
    children: tuple[ChildTable, ...] = ()
    reference_checks: tuple[ReferenceCheck, ...] = ()
    reader: RecordReader | None = None
    file_suffixes: tuple[str, ...] = (".csv", ".json", ".jsonl")

    @property
    def table(self) -> str:
        """Raw table name (in schema ``raw``): ``<system>__<entity>``."""
        return f"{self.system}__{self.entity}"

    @property
    def fields(self) -> dict[str, tuple[str, str]]:
        """Column name → (JSON path, landed DuckDB type), in contract order."""
        return {
            name: (column.metadata["path"], column.metadata["type"])
            for name, column in self.schema.columns.items()
        }
