"""A token bucket shared by every transfer: the bandwidth cap.

`TokenBucket` is pure arithmetic (it is told the time); `Throttle` is the thin
async shell that sleeps exactly as long as the bucket says, through the clock.
No polling: a caller that must wait sleeps once for the computed time.
"""

from __future__ import annotations

from downloader.clock import Clock


class TokenBucket:
    """Tokens are bytes; `rate` per second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def take(self, amount: int, now: float) -> float:
        """Take `amount` tokens (going into debt if need be); seconds to wait before using them."""
        elapsed = max(0.0, now - self._stamp)
        self._stamp = max(self._stamp, now)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._tokens -= amount
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class Throttle:
    """Shared bandwidth limit; a limit of 0 means unlimited and costs nothing."""

    def __init__(self, bytes_per_second: int, clock: Clock) -> None:
        self._clock = clock
        self._bucket = (
            TokenBucket(bytes_per_second, max(bytes_per_second / 4, 64 * 1024), clock.monotonic())
            if bytes_per_second > 0
            else None
        )

    @property
    def limited(self) -> bool:
        return self._bucket is not None

    async def consume(self, amount: int) -> None:
        if self._bucket is None:
            return
        wait = self._bucket.take(amount, self._clock.monotonic())
        if wait > 0:
            await self._clock.sleep(wait)
