"""Per-client token bucket for the public status lookup.

In memory, per process: enough to stop one address from walking the code space (each lookup
answers only green/orange/red, and a Codice Assicurata has 10^12 values). Under `plico serve
--workers N` each process keeps its own buckets at 1/N of the configured rate and burst
(web.app.create_app), so the server as a whole allows about the configured rate: the kernel
spreads a client's connections over the processes. Old buckets are dropped when the table
grows past `max_clients`.
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    def __init__(self, rate_per_minute: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> tuple[bool, float]:
        """Take one token for `client`: (allowed, seconds until the next token if refused)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._prune(now)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[client] = (tokens, now)
            return False, (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [c for c, (t, last) in self._buckets.items()
                if t + (now - last) * self.rate >= self.burst]
        for c in full:
            del self._buckets[c]
        if len(self._buckets) >= self.max_clients:
            oldest = sorted(self._buckets, key=lambda c: self._buckets[c][1])
            for c in oldest[: len(oldest) // 2]:
                del self._buckets[c]
