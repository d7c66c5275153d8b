"""Time arithmetic of the demo world: everything is integer milliseconds since the Unix epoch, UTC,
formatted as ISO-8601 with a ``Z`` (the fast path formats a million timestamps)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_EPOCH = date(1970, 1, 1)


def normalize_as_of(as_of: datetime | None) -> datetime:
    """``as_of`` as an aware UTC datetime; default: today 00:00 UTC. Naive input is taken as UTC."""
    if as_of is None:
        now = datetime.now(UTC)
        return datetime(now.year, now.month, now.day, tzinfo=UTC)
    if as_of.tzinfo is None:
        return as_of.replace(tzinfo=UTC)
    return as_of.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(round(moment.timestamp() * 1000))


@lru_cache(maxsize=4096)
def day_str(day_number: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since 1970-01-01)."""
    return (_EPOCH + timedelta(days=day_number)).isoformat()


def date_of(ms: int) -> str:
    """UTC date ``YYYY-MM-DD`` of an epoch-ms instant."""
    return day_str(ms // DAY)


def iso_ms(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds)."""
    days, rem = divmod(ms, DAY)
    secs, milli = divmod(rem, 1000)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return f"{day_str(days)}T{hours:02d}:{minutes:02d}:{secs:02d}.{milli:03d}Z"


def iso_s(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds; sub-second part dropped)."""
    days, rem = divmod(ms, DAY)
    secs = rem // 1000
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return f"{day_str(days)}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


def compact_date(ms: int) -> str:
    """``YYYYMMDD`` of an instant (for ids like ``INS-20261105-0042``)."""
    return date_of(ms).replace("-", "")


def slash_timestamp(ms: int) -> str:
    """A zone-less, slash-separated local-style timestamp (``2026/11/05 10:00:12``): not ISO."""
    text = iso_s(ms)
    return text[:10].replace("-", "/") + " " + text[11:19]
