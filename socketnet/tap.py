# -*- test-case-name: tests.test_tap -*-
"""
Run a socketnet server with C{twistd socketnet}.

L{Options} parses the command line; L{makeService} builds a
L{MultiService} holding the application (closed with 1001 when twistd
stops) and one listening service per C{--listen} endpoint description::

    twistd -n socketnet --listen tcp:8090 --tokens examples/tokens.txt
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable

from twisted.application import strports
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python import usage

from ._authorization import Authorization
from ._heartbeat import Heartbeat
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
    ]
    compData = usage.Completions(
        optActions={
            "tokens": usage.CompleteFiles(),
            "heartbeat-mode": usage.CompleteList(["client", "server"]),
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["token_verifier"] = None

    def opt_listen(self, description: str) -> None:
        # One line: usage.Options keeps a docstring's line breaks and indents.
        """Endpoint to listen on, e.g. ssl:8443:privateKey=key.pem; repeatable. [default: tcp:8090]"""
        self["listen"].append(description)

    def postOptions(self) -> None:
        """
        Fill in the default listen description, check every value, and
        build the token verifier as C{self["token_verifier"]}.

        @raise usage.UsageError: for a bad value, or both C{--tokens} and
            C{--verifier}.
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
        for name in ("heartbeat-interval", "auth-timeout", "max-message-size"):
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


class _AppService(Service):
    """
    Owns the L{ServerApp}'s lifetime: stopping closes every session with
    1001 and waits for the connections to end.
    """

    _log = Logger()

    def __init__(self, app: ServerApp):
        self.app = app

    def startService(self) -> None:
        super().startService()
        self._log.info("socketnet serving WebSocket endpoint {path}", path=self.app.path)

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
    )
    if options["token_verifier"] is not None:
        app.set_token_verifier(options["token_verifier"])
    service = MultiService()
    _AppService(app).setServiceParent(service)
    site = app.site()  # after set_token_verifier: site() warns if none is set
    for description in options["listen"]:
        strports.service(description, site).setServiceParent(service)
    return service


__all__ = ["Options", "makeService"]
