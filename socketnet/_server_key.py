# -*- test-case-name: tests.test_encryption,tests.test_tap -*-
"""
The server's RSA key and the gate that keeps RSA work off the reactor
thread and bounded.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from . import _keys
from ._observer import OneShotObserver

#: C{run_blocking(fn, *args) -> Deferred}: runs C{fn} off the reactor thread.
RunBlocking = Callable[..., Deferred]


class ServerKey:
    """
    The server's RSA-4096 key: given, loaded from a PKCS#8 PEM file, or
    generated once, off the reactor thread.

    @ivar fingerprint: C{"sha256:<hex>"} of the public key's
        SubjectPublicKeyInfo DER, once ready.
    """

    _log = Logger()

    def __init__(self, key: rsa.RSAPrivateKey | str | os.PathLike | None):
        self._source = key
        self.private_key: rsa.RSAPrivateKey | None = None
        self.der: bytes = b""
        self.fingerprint: str | None = None
        self._ready: OneShotObserver[ServerKey] = OneShotObserver()
        self._loading = False
        if isinstance(key, rsa.RSAPrivateKey):
            self._install(key)
            self._ready.fire(self)

    def prepare(self, run_blocking: RunBlocking) -> Deferred[ServerKey]:
        """
        Load or generate the key, once, through C{run_blocking}.

        @return: a new L{Deferred} firing with this object when the key is
            ready.
        """
        if not self._loading and not self._ready.fired:
            self._loading = True
            d = run_blocking(self._load)
            d.addCallback(self._loaded)
            d.addBoth(self._ready.fire)
        return self._ready.when_fired()

    def _load(self) -> rsa.RSAPrivateKey:
        if self._source is None:
            return rsa.generate_private_key(public_exponent=65537, key_size=_keys.RSA_BITS)
        with open(self._source, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != _keys.RSA_BITS:
            raise ValueError(f"{self._source}: not an RSA-4096 private key")
        return key

    def _loaded(self, key: rsa.RSAPrivateKey) -> ServerKey:
        self._install(key)
        return self

    def _install(self, key: rsa.RSAPrivateKey) -> None:
        if key.key_size != _keys.RSA_BITS or key.public_key().public_numbers().e != 65537:
            raise ValueError("the server key must be RSA-4096 with e=65537")
        self.private_key = key
        self.der = _keys.public_der(key.public_key())
        self.fingerprint = _keys.fingerprint_der(self.der)
        self._log.info("socketnet server key {fingerprint}", fingerprint=self.fingerprint)


class DecryptGate:
    """
    Runs RSA decryptions through C{run_blocking}, at most C{limit} at once
    for the whole server.
    """

    def __init__(self, run_blocking: RunBlocking, limit: int = 256):
        self._run_blocking = run_blocking
        self.limit = limit
        self.pending = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any] | None:
        """
        @return: the L{Deferred} of C{fn(*args)}, or C{None} when C{limit}
            decryptions are already waiting.
        """
        if self.pending >= self.limit:
            return None
        self.pending += 1
        d = self._run_blocking(fn, *args)
        d.addBoth(self._done)
        return d

    def _done(self, result: Any) -> Any:
        self.pending -= 1
        return result


__all__ = ["ServerKey", "DecryptGate", "RunBlocking"]
