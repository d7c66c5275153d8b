"""Per-client rate limiting for the push gateway: one token bucket per client (003 §3.3, §5.3).

A client may burst up to its per-minute allowance, and regains it at ``rate_per_minute / 60``
requests per second. A request over the limit is answered 429 with ``Retry-After`` (whole
seconds until one request is allowed again), as 003 §7.1 expects of the sender.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """A token bucket: ``capacity`` tokens, refilled at ``refill_per_second``.

    Attributes:
        capacity: the most requests allowed at once (burst).
        refill_per_second: tokens regained per second.
        tokens: tokens available now.
        updated_at: monotonic time (seconds) of the last refill.
    """

    capacity: float
    refill_per_second: float
    tokens: float
    updated_at: float

    def take(self, now: float) -> float:
        """Take one token if there is one. Returns 0.0 if taken, else the seconds until one is."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.refill_per_second


class RateLimiter:
    """Token buckets by client id, safe to use from several threads.

    Args:
        clock: monotonic clock in seconds (tests may pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def retry_after(self, client_id: str, rate_per_minute: int) -> int:
        """Admit one request of ``client_id``: 0 if allowed, else whole seconds (≥ 1) to wait."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(client_id)
            if bucket is None:
                bucket = TokenBucket(rate_per_minute, rate_per_minute / 60.0, rate_per_minute, now)
                self._buckets[client_id] = bucket
            wait = bucket.take(now)
        return 0 if wait == 0.0 else max(1, math.ceil(wait))
