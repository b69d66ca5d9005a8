# -*- test-case-name: tests.test_encryption -*-
"""
A token bucket per peer address, for expensive steps such as encryption
handshakes.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime


class PerAddressLimit:
    """
    Each address may take C{burst} steps at once and C{rate} per second
    after that.

    @ivar max_addresses: addresses remembered at most; past that, the ones
        whose bucket has refilled are forgotten.
    """

    def __init__(self, clock: IReactorTime, rate: float, burst: int, max_addresses: int = 65536):
        if not rate > 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._clock = clock
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self.max_addresses = max_addresses

    def allow(self, address: str) -> bool:
        """
        Take one step for C{address} if its bucket has a token.
        """
        now = self._clock.seconds()
        tokens, then = self._buckets.get(address, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            return False
        if address not in self._buckets and len(self._buckets) >= self.max_addresses:
            self._forget_full(now)
        self._buckets[address] = (tokens - 1, now)
        return True

    def _forget_full(self, now: float) -> None:
        full = [
            address
            for address, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self._rate >= self._burst
        ]
        for address in full:
            del self._buckets[address]
