"""Pandera checks and column builders that every source contract is written with.

Source fields are extracted from the payload as *text* (exactly as the source sent them), and the
contract says what the text must parse as. Validating text rather than pre-cast values keeps the
original value visible in a failure case ("abc" is not a number) instead of a cast-produced null.

The reason codes a quarantined row carries are ``<column>:<check name>``, using the check names
defined here (plus pandera's own ``not_nullable`` and ``isin``):

===================  =================================================================
check name           fails when
===================  =================================================================
``not_nullable``     a required field is missing, null or blank (pandera built-in)
``isin``             a coded value is outside the accepted vocabulary (pandera built-in)
``is_number``        the text is not a decimal number
``is_integer``       the text is not a whole number
``non_negative``     a number is below zero (quantities, counts, durations; 003 §4.4)
``is_timestamp``     the text is not an ISO-8601 timestamp with offset or ``Z``
``not_stale``        a timestamp is older than the entity's staleness horizon (003 §4.4)
``is_date``          the text is not ``YYYY-MM-DD``
``is_time``          the text is not ``HH:MM[:SS]``
``is_boolean``       the text is not ``true``/``false``
``known_<name>``     a reference id (e.g. ``machine_id``) is not in the tenant's master data
===================  =================================================================

Two more checks are applied by the loader to every field of every contract (parent and child
columns), not declared per field, so that no contract can forget them (issue #12,
:func:`text_failures`):

===========================  =========================================================
check name                   fails when
===========================  =========================================================
``no_control_characters``    the text holds a C0 control character other than tab, line
                             feed and carriage return (U+0000–U+0008, U+000B, U+000C,
                             U+000E–U+001F, e.g. NUL from an escaped ``\\u0000``); in a JSON
                             field, such a character escaped inside the JSON text
``max_length``               the text is longer than the field's limit: :data:`MAX_LENGTH`
                             characters (:data:`MAX_JSON_LENGTH` for JSON fields) unless
                             ``field(..., max_length=N)`` says otherwise
===========================  =========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandera.polars as pa
import polars as pl

# The DuckDB column type a field lands as; the polars cast for each lives in `cast_expr`.
TEXT, NUMBER, INTEGER, TIMESTAMP, DATE, TIME, BOOLEAN, JSON = (
    "VARCHAR",
    "DOUBLE",
    "BIGINT",
    "TIMESTAMP",
    "DATE",
    "TIME",
    "BOOLEAN",
    "JSON",
)

# Longest text (in characters) a field may carry unless its contract sets `max_length`: a
# TEXT/number/time field, and a JSON field (an array or object landed as JSON text).
MAX_LENGTH = 4_096
MAX_JSON_LENGTH = 65_536
NO_CONTROL_CHARACTERS = "no_control_characters"
MAX_LENGTH_CHECK = "max_length"
# C0 control characters other than tab, line feed and carriage return (XML 1.0 forbids them too).
_CONTROL_CHARACTER = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"
# The same characters escaped inside JSON text (``\u0000``, ``\b``, ``\f``), not preceded by an
# escaped backslash (``\\u0000`` is the six characters ``\u0000``, not NUL).
_CONTROL_ESCAPE = r"(?:^|[^\\])(?:\\\\)*\\(?:[bf]|u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]))"

# ISO-8601 extended form; `%.f` also accepts no fraction, and a trailing Z becomes +00:00.
# One format, not a coalesce of several: parsing is the hot path of every event stream.
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"


def parse_timestamp_utc(expr: pl.Expr) -> pl.Expr:
    """Parse ISO-8601 text (``2025-11-18T14:23:45.678Z``, ``2025-11-18T06:02:15+08:00``) into a
    naive UTC datetime (µs).

    Text without a zone is *not* accepted: a timestamp whose zone is unknown cannot be placed
    in UTC. Unparseable text becomes null (the ``is_timestamp`` check reports it).
    """
    normalized = expr.str.strip_chars().str.replace(r"[zZ]$", "+00:00")
    parsed = normalized.str.strptime(pl.Datetime("us", "UTC"), _TIMESTAMP_FORMAT, strict=False)
    return parsed.dt.replace_time_zone(None)


def parse_boolean(expr: pl.Expr) -> pl.Expr:
    """``true``/``false`` (any case, also ``1``/``0``) to Boolean; anything else to null."""
    lowered = expr.str.strip_chars().str.to_lowercase()
    return (
        pl.when(lowered.is_in(["true", "1"]))
        .then(True)
        .when(lowered.is_in(["false", "0"]))
        .then(False)
        .otherwise(None)
    )


def cast_expr(column: str, duckdb_type: str) -> pl.Expr:
    """The polars expression that turns a validated text column into its landed type."""
    col = pl.col(column)
    casts = {
        TEXT: col,
        JSON: col,
        NUMBER: col.str.strip_chars().cast(pl.Float64, strict=False),
        INTEGER: col.str.strip_chars().cast(pl.Float64, strict=False).cast(pl.Int64, strict=False),
        TIMESTAMP: parse_timestamp_utc(col),
        DATE: col.str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
        TIME: pl.coalesce(
            [col.str.strip_chars().str.to_time(fmt, strict=False) for fmt in ("%H:%M:%S", "%H:%M")]
        ),
        BOOLEAN: parse_boolean(col),
    }
    return casts[duckdb_type].alias(column)


def _parses(duckdb_type: str, name: str) -> pa.Check:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        raw = pl.col(data.key)
        return data.lazyframe.select(raw.is_null() | cast_expr(data.key, duckdb_type).is_not_null())

    return pa.Check(check, name=name)


def non_negative() -> pa.Check:
    """Numbers below zero fail; text that is not a number is left to ``is_number``."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        value = pl.col(data.key).str.strip_chars().cast(pl.Float64, strict=False)
        return data.lazyframe.select(value.is_null() | (value >= 0))

    return pa.Check(check, name="non_negative")


def not_stale(max_age: timedelta, now: datetime | None = None) -> pa.Check:
    """Timestamps older than ``max_age`` before ``now`` (UTC, default: validation time) fail.

    003 §4.4 rejects stale MES data; for batch drops the horizon is per entity (see contracts).
    """

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        reference = (now or datetime.now(UTC)).replace(tzinfo=None)
        parsed = parse_timestamp_utc(pl.col(data.key))
        return data.lazyframe.select(parsed.is_null() | (parsed >= reference - max_age))

    return pa.Check(check, name="not_stale")


def known_values(name: str, allowed: Iterable[str]) -> pa.Check:
    """Reference check: the value must be one of the tenant's master-data ids (``known_<name>``)."""
    allowed_list = sorted(set(allowed))

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col(data.key).is_null() | pl.col(data.key).is_in(allowed_list)
        )

    return pa.Check(check, name=f"known_{name}")


_TYPE_CHECK_NAMES = {
    NUMBER: "is_number",
    INTEGER: "is_integer",
    TIMESTAMP: "is_timestamp",
    DATE: "is_date",
    TIME: "is_time",
    BOOLEAN: "is_boolean",
}


@dataclass(frozen=True)
class PiiTag:
    """How a field identifies a person, and how BI readers without the privileged role see it.

    Attributes:
        kind: ``direct`` (names, e-mail, phone, an employee id: identifies a person alone) or
            ``quasi`` (identifies a person combined with other columns, e.g. a work location).
        masking: ``hash`` (a keyed HMAC-SHA-256 pseudonym: joinable, not reversible without the
            key) or ``redact`` (null).
    """

    kind: str
    masking: str

    def __post_init__(self) -> None:
        if self.kind not in PII_KINDS or self.masking not in PII_MASKINGS:
            raise ValueError(
                f"PiiTag({self.kind!r}, {self.masking!r}): kind in {PII_KINDS}, "
                f"masking in {PII_MASKINGS}"
            )

    def meta(self) -> dict[str, str]:
        """``{"pii": kind, "masking": method}``: the dbt column ``meta`` of the same field."""
        return {"pii": self.kind, "masking": self.masking}


PII_KINDS = ("direct", "quasi")
PII_MASKINGS = ("hash", "redact")
PII_HASHED = PiiTag("direct", "hash")  # an id: BI readers join on its pseudonym
PII_REDACTED = PiiTag("direct", "redact")  # a name, e-mail, phone: BI readers see null
PII_QUASI_HASHED = PiiTag("quasi", "hash")  # groupable, not readable (a work location)


def field(
    path: str,
    duckdb_type: str = TEXT,
    *,
    required: bool = False,
    non_negative_value: bool = False,
    accepted: Iterable[str] | None = None,
    stale_after: timedelta | None = None,
    description: str = "",
    max_length: int | None = None,
    pii: PiiTag | None = None,
) -> pa.Column:
    """One contract field: a pandera text column that knows its JSON path and landed type.

    Args:
        path: JSONPath of the value inside one record (``$.work_order.due_date``); for CSV drops
            the header name is the top-level key.
        duckdb_type: the type the value lands as in ``raw`` (one of the constants above).
        required: missing/null/blank values fail ``not_nullable``.
        non_negative_value: numbers below zero fail ``non_negative``.
        accepted: the accepted vocabulary (case-sensitive); others fail ``isin``.
        stale_after: timestamps older than this fail ``not_stale``.
        max_length: longest text accepted (characters) where the default (:data:`MAX_LENGTH`,
            :data:`MAX_JSON_LENGTH` for JSON) does not fit, e.g. a long free-text field; longer
            text fails ``max_length`` (checked by the loader, :func:`text_failures`).
        pii: the field holds personal data (seed 004, issue #16 §3): a :class:`PiiTag` saying
            how it identifies a person and how BI readers see it; kept in the column's
            ``metadata["pii"]`` as ``{"pii": kind, "masking": method}``, the same shape as the
            dbt column ``meta`` of every model the field reaches (a test compares them).
    """
    checks: list[pa.Check] = []
    if duckdb_type in _TYPE_CHECK_NAMES:
        checks.append(_parses(duckdb_type, _TYPE_CHECK_NAMES[duckdb_type]))
    if non_negative_value:
        checks.append(non_negative())
    if accepted is not None:
        checks.append(pa.Check.isin(sorted(accepted), name="isin", error="isin"))
    if stale_after is not None:
        checks.append(not_stale(stale_after))
    return pa.Column(
        pl.String,
        checks=checks,
        nullable=not required,
        required=True,
        description=description or None,
        metadata={
            "path": path,
            "type": duckdb_type,
            **({"max_length": max_length} if max_length is not None else {}),
            **({"pii": pii.meta()} if pii is not None else {}),
        },
    )


def field_max_length(column: pa.Column) -> int:
    """Longest text (characters) ``column`` accepts: its ``max_length``, else the default."""
    metadata = column.metadata or {}
    if "max_length" in metadata:
        return int(metadata["max_length"])
    return MAX_JSON_LENGTH if metadata.get("type") == JSON else MAX_LENGTH


def text_failures(frame: pl.DataFrame, columns: Mapping[str, pa.Column]) -> dict[int, list[str]]:
    """The checks every field gets (issue #12): ``no_control_characters`` and ``max_length``.

    Args:
        frame: one text column (``pl.String``, as extracted, not trimmed) per name in
            ``columns``, one row per record; nulls pass both checks.
        columns: contract columns (``field`` metadata: landed type, optional ``max_length``).

    Returns:
        row position → sorted ``<column>:<check>`` of the rows failing either check (rows
        passing both are absent), the same shape as :func:`~traceloom_pipelines.landing.loader.
        failed_checks`. A JSON field's text is JSON, where a control character can only appear
        escaped, so for JSON fields the escapes (``\\u0000``, ``\\b`` …) are what fails.
    """
    flags: list[pl.Expr] = []
    for name, column in columns.items():
        text = pl.col(name)
        is_json = (column.metadata or {}).get("type") == JSON
        pattern = _CONTROL_ESCAPE if is_json else _CONTROL_CHARACTER
        flags.append(
            text.str.contains(pattern).fill_null(False).alias(f"{name}:{NO_CONTROL_CHARACTERS}")
        )
        flags.append(
            (text.str.len_chars() > field_max_length(column))
            .fill_null(False)
            .alias(f"{name}:{MAX_LENGTH_CHECK}")
        )
    if not flags or frame.height == 0:
        return {}
    failing = (
        frame.select(flags).with_row_index("_pos").filter(pl.any_horizontal(pl.exclude("_pos")))
    )
    failures: dict[int, list[str]] = {}
    for row in failing.iter_rows(named=True):
        position = int(row.pop("_pos"))
        failures[position] = sorted(check for check, failed in row.items() if failed)
    return failures
