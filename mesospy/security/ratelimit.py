"""Per-principal rate limits: a token bucket each (pure; the clock is passed in).

A principal may make ``rate`` calls a second on average and ``burst`` at once; past that a
call is refused (RESOURCE_EXHAUSTED) until tokens refill, so one framework cannot keep the
master busy for everyone else. Limits come from the ACL file (per principal) or from
``--rate-limit RATE[:BURST]`` (for every principal without one of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class RateLimitError(ValueError):
    """A rate limit cannot be parsed."""


@dataclass(frozen=True)
class RateLimit:
    """``rate`` calls per second on average, ``burst`` at once."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not self.rate > 0 or not self.burst >= 1:
            raise RateLimitError(
                f"a rate limit needs rate > 0 and burst >= 1, not {self.rate}:{self.burst}"
            )

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"10"`` (burst = rate) or ``"10:50"``."""
        rate_text, _, burst_text = text.partition(":")
        try:
            rate = float(rate_text)
            burst = float(burst_text) if burst_text else max(1.0, rate)
        except ValueError:
            raise RateLimitError(
                f"bad rate limit {text!r}: expected CALLS_PER_SECOND[:BURST], e.g. 10:50"
            ) from None
        return cls(rate, burst)


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Token buckets by principal; anonymous callers share the bucket of principal None."""

    limits: Mapping[str, RateLimit] = field(default_factory=dict)
    default: RateLimit | None = None
    _buckets: dict[str | None, _Bucket] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.limits) or self.default is not None

    def limit_of(self, principal: str | None) -> RateLimit | None:
        if principal is not None and principal in self.limits:
            return self.limits[principal]
        return self.default

    def allow(self, principal: str | None, now: float) -> bool:
        """Take a token for one call; False when the principal has none left."""
        limit = self.limit_of(principal)
        if limit is None:
            return True
        bucket = self._buckets.get(principal)
        if bucket is None:
            bucket = self._buckets[principal] = _Bucket(limit.burst, now)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(limit.burst, bucket.tokens + elapsed * limit.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
