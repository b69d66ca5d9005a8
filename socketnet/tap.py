# -*- test-case-name: tests.test_tap -*-
"""
Run a socketnet server with C{twistd socketnet}.

L{Options} parses the command line; L{makeService} builds a
L{MultiService} holding the application (closed with 1001 when twistd
stops) and one listening service per C{--listen} endpoint description::

    twistd -n socketnet --listen tcp:8090 --tokens examples/tokens.txt

With C{--encrypt} the server runs socketnet-enc/1 with the RSA-4096 key
in C{--server-key} (created when missing);
C{twistd socketnet --print-fingerprint --server-key key.pem} prints the
fingerprint clients pin.
"""

from __future__ import annotations

import gc
import importlib
import math
import os
import sys
from typing import Any, Callable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from twisted.application import strports
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python import usage

from ._authorization import Authorization
from ._heartbeat import Heartbeat
from ._keys import RSA_BITS, fingerprint_der, public_der
from ._pacing import DEFAULT_UPGRADES_PER_TURN
from ._server import ServerApp, _path_segments
from ._tokens import TokenVerifier, parse_tokens
from ._websocket import DEFAULT_MAX_MESSAGE_SIZE


def _load_verifier(spec: str) -> Callable[[Authorization], Any]:
    """
    Import the verifier named by C{spec}, C{package.module:function}.

    @raise usage.UsageError: if C{spec} is malformed, or the function cannot
        be imported or is not callable.
    """
    module_name, _, attribute = spec.partition(":")
    dotted = [*module_name.split("."), *attribute.split(".")]
    if not all(part.isidentifier() for part in dotted):
        raise usage.UsageError(f"--verifier must look like package.module:function, not {spec!r}")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise usage.UsageError(f"--verifier: cannot import {module_name}: {e}") from e
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError as e:
            raise usage.UsageError(f"--verifier: {spec} not found: {e}") from e
    if not callable(found):
        raise usage.UsageError(f"--verifier: {spec} is not callable")
    return found


_ENCRYPT_MODES = ("off", "optional", "required")

_PKCS8_PEM = b"-----BEGIN PRIVATE KEY-----"


def _read_server_key(path: str, pem: bytes) -> rsa.RSAPrivateKey:
    """
    Parse C{pem}, the content of C{path}, as the server key.

    @raise ValueError: unless it is an unencrypted PKCS#8 PEM RSA-4096 key
        with e=65537 (the message never quotes the file).
    """
    if _PKCS8_PEM not in pem:
        raise ValueError(
            f"{path} is not an unencrypted PKCS#8 PEM private key "
            "('-----BEGIN PRIVATE KEY-----'; convert with openssl pkcs8 -topk8 -nocrypt)"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(f"{path} is not a valid PKCS#8 PEM private key") from None
    if (
        not isinstance(key, rsa.RSAPrivateKey)
        or key.key_size != RSA_BITS
        or key.public_key().public_numbers().e != 65537
    ):
        raise ValueError(f"{path} is not an RSA-{RSA_BITS} key with e=65537")
    return key


def _create_server_key(path: str) -> rsa.RSAPrivateKey:
    """
    Generate an RSA-4096 key and write it to the new file C{path} as
    PKCS#8 PEM, readable by its owner only from the moment it exists.

    @raise FileExistsError: if C{path} exists.
    """
    # O_EXCL: never replace a file (nor follow a symbolic link); 0o600 from
    # the start, so the key is never readable by others, even briefly.
    # Created before the slow generation, so that a bad path fails fast.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        # Interrupted or failed: leave no empty or partial key behind.
        os.unlink(path)
        raise
    return key


def _load_server_key(path: str) -> rsa.RSAPrivateKey:
    """
    Load the server key from C{path}, or create it there when the file is
    missing, so that restarts keep the same key and fingerprint.

    This runs synchronously (RSA-4096 generation takes a second or more),
    which is acceptable only because twistd parses its options before the
    reactor starts; never call it from reactor code.

    @raise ValueError: if the file cannot be read or created, or is not an
        unencrypted PKCS#8 PEM RSA-4096 key.
    """
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except FileNotFoundError:
        try:
            return _create_server_key(path)
        except FileExistsError:
            # Created meanwhile by another process, or a dangling symbolic
            # link (which O_EXCL refuses to follow): read what is there.
            pass
        except OSError as e:
            raise ValueError(f"cannot create {path}: {e.strerror}") from e
        try:
            with open(path, "rb") as f:
                pem = f.read()
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror}") from e
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from e
    return _read_server_key(path, pem)


class Options(usage.Options):
    """
    The command line of C{twistd socketnet}.
    """

    synopsis = "[options]"
    longdesc = (
        "Run a socketnet WebSocket messaging server.  Clients are authorized "
        "by --tokens or --verifier; with neither, the server starts but "
        "refuses every client (and logs a warning)."
    )
    optFlags = [
        [
            "print-fingerprint",
            None,
            "Print the fingerprint (sha256:<hex>) of the --server-key key, "
            "creating the key file if missing, and exit.",
        ],
        [
            "no-gc-freeze",
            None,
            "Do not move the objects that exist once the server has started "
            "out of the garbage collector's reach (gc.freeze), which keeps "
            "full collections, and the reactor pauses they cause, short.",
        ],
    ]
    optParameters = [
        ["path", None, "/socket", "URL path of the WebSocket endpoint."],
        [
            "tokens",
            None,
            None,
            "File of 'id token' lines ('#' comments and blank lines ignored) "
            "that clients must present. [default: none; without --tokens or "
            "--verifier every client is refused]",
        ],
        [
            "verifier",
            None,
            None,
            "Token verifier as package.module:function, called with each "
            "socketnet.Authorization; it returns True (or a Deferred firing "
            "True) to accept. [default: none; without --tokens or --verifier "
            "every client is refused]",
        ],
        ["heartbeat-mode", None, "client", "Which side sends pings: client or server."],
        ["heartbeat-interval", None, 10.0, "Seconds between pings.", float],
        ["auth-timeout", None, 10.0, "Seconds a client has to authorize.", float],
        [
            "max-message-size",
            None,
            DEFAULT_MAX_MESSAGE_SIZE,
            "Largest message in bytes; a larger one closes the connection.",
            int,
        ],
        [
            "upgrades-per-turn",
            None,
            DEFAULT_UPGRADES_PER_TURN,
            "New connections whose upgrade is handled in one reactor turn; "
            "more arriving together wait for the next turns.",
            int,
        ],
        [
            "encrypt",
            None,
            "off",
            "socketnet-enc/1 message encryption: off, optional (each client "
            "chooses) or required.",
        ],
        [
            "server-key",
            None,
            None,
            "RSA-4096 server key, an unencrypted PKCS#8 PEM file; created "
            "(mode 0600) when missing, so restarts keep the same fingerprint. "
            "[default: with --encrypt, a new key at every start, which "
            "clients cannot pin]",
        ],
    ]
    compData = usage.Completions(
        optActions={
            "tokens": usage.CompleteFiles(),
            "server-key": usage.CompleteFiles(),
            "heartbeat-mode": usage.CompleteList(["client", "server"]),
            "encrypt": usage.CompleteList(list(_ENCRYPT_MODES)),
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["token_verifier"] = None
        self["server_private_key"] = None

    def opt_listen(self, description: str) -> None:
        # One line: usage.Options keeps a docstring's line breaks and indents.
        """Endpoint to listen on, e.g. ssl:8443:privateKey=key.pem; repeatable. [default: tcp:8090]"""
        self["listen"].append(description)

    def postOptions(self) -> None:
        """
        Fill in the default listen description, check every value, build
        the token verifier as C{self["token_verifier"]} and load (or
        create) the server key as C{self["server_private_key"]}.

        With C{--print-fingerprint}, print the key's fingerprint to
        standard output and exit.

        @raise usage.UsageError: for a bad value, both C{--tokens} and
            C{--verifier}, C{--print-fingerprint} without C{--server-key},
            or a server key file that is not an RSA-4096 PKCS#8 PEM key.
        @raise SystemExit: with status 0 after printing the fingerprint.
        """
        if not self["listen"]:
            self["listen"] = ["tcp:8090"]
        try:
            _path_segments(self["path"])
        except ValueError as e:
            raise usage.UsageError(f"--path: {e}") from e
        if self["heartbeat-mode"] not in ("client", "server"):
            raise usage.UsageError(
                f"--heartbeat-mode must be client or server, not {self['heartbeat-mode']!r}"
            )
        for name in ("heartbeat-interval", "auth-timeout", "max-message-size", "upgrades-per-turn"):
            if not 0 < self[name] < math.inf:
                raise usage.UsageError(f"--{name} must be positive, not {self[name]!r}")
        if self["tokens"] is not None and self["verifier"] is not None:
            raise usage.UsageError("give --tokens or --verifier, not both")
        if self["tokens"] is not None:
            try:
                self["token_verifier"] = TokenVerifier(parse_tokens(self["tokens"]))
            except ValueError as e:
                raise usage.UsageError(str(e)) from e
        elif self["verifier"] is not None:
            self["token_verifier"] = _load_verifier(self["verifier"])
        if self["encrypt"] not in _ENCRYPT_MODES:
            raise usage.UsageError(
                f"--encrypt must be off, optional or required, not {self['encrypt']!r}"
            )
        if self["print-fingerprint"] and self["server-key"] is None:
            raise usage.UsageError("--print-fingerprint needs --server-key")
        if self["server-key"] is not None:
            # Synchronous file I/O and perhaps RSA-4096 generation: fine
            # here, since twistd parses options before the reactor starts.
            try:
                self["server_private_key"] = _load_server_key(self["server-key"])
            except ValueError as e:
                raise usage.UsageError(f"--server-key: {e}") from e
        if self["print-fingerprint"]:
            public_key = self["server_private_key"].public_key()
            sys.stdout.write(fingerprint_der(public_der(public_key)) + "\n")
            sys.stdout.flush()
            raise SystemExit(0)


class _AppService(Service):
    """
    Owns the L{ServerApp}'s lifetime: stopping closes every session with
    1001 and waits for the connections to end.
    """

    _log = Logger()

    def __init__(self, app: ServerApp, freeze: Callable[[], None] | None = None):
        """
        @param freeze: called once the server is ready (C{gc.freeze} in
            twistd): the objects made at start-up, tens of thousands of
            them, are then left out of every later garbage collection.
        """
        self.app = app
        self._freeze = freeze

    def startService(self) -> None:
        super().startService()
        self._log.info("socketnet serving WebSocket endpoint {path}", path=self.app.path)
        # Load or make the server key now, not at the first handshake.
        d = self.app.prepare()
        if self._freeze is not None:
            d.addCallback(lambda ignored: self._freeze())
        d.addErrback(lambda failure: self._log.failure("the server key is not available", failure))

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.app.close()


def makeService(options: Options) -> MultiService:
    """
    Build the socketnet service described by C{options}.

    @return: a L{MultiService} with the application service first and one
        listening service per C{--listen} description after it.
    """
    app = ServerApp(
        path=options["path"],
        heartbeat=Heartbeat(mode=options["heartbeat-mode"], interval=options["heartbeat-interval"]),
        auth_timeout=options["auth-timeout"],
        max_message_size=options["max-message-size"],
        upgrades_per_turn=options["upgrades-per-turn"],
        encrypt=options["encrypt"],
        server_key=options["server_private_key"],
    )
    if options["token_verifier"] is not None:
        app.set_token_verifier(options["token_verifier"])
    service = MultiService()
    _AppService(app, None if options["no-gc-freeze"] else gc.freeze).setServiceParent(service)
    site = app.site()  # after set_token_verifier: site() warns if none is set
    for description in options["listen"]:
        strports.service(description, site).setServiceParent(service)
    return service


__all__ = ["Options", "makeService"]
