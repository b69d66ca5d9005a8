# -*- test-case-name: tests.test_encryption,tests.test_keys -*-
"""
socketnet-enc/1 after its handshake: the limits of the encryption layer,
and the sealed records of one connection, both directions, with the
sending direction's rekeying (protocol.md section 7.8).
"""

from __future__ import annotations

from typing import Callable

import attr
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from . import _keys


@attr.s(frozen=True, auto_attribs=True)
class EncryptionLimits:
    """
    Limits of the encryption layer; tests lower them.

    @ivar rekey_records: records per epoch before the sender rekeys.
    @ivar rekey_octets: plaintext bytes per epoch before it rekeys.
    @ivar rekey_seconds: age of an epoch before it rekeys.
    @ivar hard_records: records per epoch a receiver accepts at most.
    @ivar handshake_timeout: seconds for the handshake to finish.
    @ivar queue_frames: frames that may wait for the handshake.
    @ivar queue_octets: bytes that may wait for the handshake.
    """

    rekey_records: int = 2**20
    rekey_octets: int = 2**30
    rekey_seconds: float = 3600.0
    hard_records: int = attr.ib(default=2**24)
    handshake_timeout: float = 10.0
    queue_frames: int = 1000
    queue_octets: int = 2**20

    @hard_records.validator
    def _check_hard_limit(self, attribute: object, value: int) -> None:
        # The key update itself is a record: it must fit under the limit.
        if not self.rekey_records < value:
            raise ValueError("rekey_records must be below hard_records")



class Records:
    """
    The sealed half of an encrypted connection, both directions: seals
    frames and writes the records down, opens the peer's records, and
    rekeys the sending direction at its limits.

    The age limit is a timer on the injected clock (started by L{start},
    cancelled by L{stop}) that only marks the epoch as due, so that no
    record pays for reading the clock; the next frame sent then rekeys
    first, as for the record and byte limits.  An idle connection still
    does not rekey until it sends.

    @ivar open: the receiving direction's L{_keys.Opener.open}.
    """

    # Slots: every record sent reads these, on every encrypted session.
    __slots__ = (
        "_sealer", "_opener", "open", "_write_down", "_rekey_records", "_rekey_octets", "_rekey_seconds",
        "_clock", "_age_timer", "_aged",
    )

    def __init__(
        self,
        send_secret: bytes,
        receive_secret: bytes,
        limits: EncryptionLimits,
        clock: IReactorTime,
        write_down: Callable[[tuple[bytes, bool]], None],
    ):
        self._sealer = _keys.Sealer(send_secret)
        self._opener = _keys.Opener(receive_secret, limits.hard_records)
        self.open = self._opener.open
        self._write_down = write_down
        self._rekey_records = limits.rekey_records
        self._rekey_octets = limits.rekey_octets
        self._rekey_seconds = limits.rekey_seconds
        self._clock = clock
        self._age_timer: IDelayedCall | None = None
        self._aged = False

    def start(self) -> None:
        """
        The first epoch starts now (at C{enc.ready}).
        """
        self._arm()

    def stop(self) -> None:
        """
        Cancel the age timer; nothing is sealed any more.
        """
        if self._age_timer is not None and self._age_timer.active():
            self._age_timer.cancel()
        self._age_timer = None

    def _arm(self) -> None:
        self.stop()
        self._aged = False
        self._age_timer = self._clock.callLater(self._rekey_seconds, self._aged_out)

    def _aged_out(self) -> None:
        self._age_timer = None
        self._aged = True

    def write(self, plaintext: bytes) -> None:
        """
        Seal C{plaintext} into a data record and write it down, after a
        key update if this epoch has reached a limit.
        """
        sealer = self._sealer
        if self._aged or sealer.sequence >= self._rekey_records or sealer.octets >= self._rekey_octets:
            self._write_down((sealer.seal_key_update(), True))
            self._arm()
        self._write_down((sealer.seal(plaintext), True))


__all__ = ["EncryptionLimits", "Records"]
