# -*- test-case-name: tests.test_authorization -*-
"""
The authorization layer.

On the server it keeps every frame away from the application until the
peer's first frame, an C{auth} frame, has been accepted by the verifier,
and closes connections that do not authorize in time.  On the client it
sends the C{auth} frame and waits for the server's C{authorized}.
"""

from __future__ import annotations

from typing import Any, Callable

import attr
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from . import _frames
from .closecodes import CloseCode
from .errors import ProtocolError
from .interfaces import ILayer


@attr.s(frozen=True, auto_attribs=True)
class Authorization:
    """
    What a client presents to be let in.

    @ivar id: the client id; the server stamps it as the C{sender} of every
        message from this client.
    @ivar token: the secret the server's verifier checks.
    @ivar data: any JSON value the verifier or the application may use.
    """

    id: str = attr.ib()
    token: str = attr.ib(repr=False)
    data: Any = None

    @id.validator
    def _check_id(self, attribute: object, value: object) -> None:
        if not _frames.is_valid_id(value):
            raise ValueError(
                f"client id must be 1 to {_frames.MAX_ID_LENGTH} characters "
                f"with no white space or control characters, not {value!r}"
            )

    @token.validator
    def _check_token(self, attribute: object, value: object) -> None:
        if not isinstance(value, str) or len(value) > _frames.MAX_TOKEN_LENGTH:
            raise ValueError(
                f"token must be a string of at most {_frames.MAX_TOKEN_LENGTH} characters"
            )


#: C{verify(authorization) -> bool | Deferred[bool]}; anything but C{True}
#: refuses, and so does an exception (a L{ProtocolError} chooses the close
#: code).
Verifier = Callable[[Authorization], Any]


@implementer(ILayer)
class ServerAuthorizationLayer:
    """
    Lets frames up only once the client is authorized.

    Until then: the first frame must be C{auth} (anything else closes with
    4403); frames that arrive while the verifier runs close with 4403; a
    refusal closes with 4401; no authorization within C{timeout} seconds of
    the connection closes with 4408.
    """

    _log = Logger()

    #: L{write} only forwards: the stack links around it.
    passes_writes = True

    def __init__(
        self,
        verify: Verifier,
        on_authorized: Callable[[Authorization], None],
        timeout: float,
        clock: IReactorTime,
        write_down,
        deliver_up,
        close,
    ):
        self._verify = verify
        self._on_authorized = on_authorized
        self._timeout = timeout
        self._clock = clock
        self._write_down = write_down
        self._deliver_up = deliver_up
        self._close = close
        self._state = "waiting"
        self._deadline: IDelayedCall | None = None
        self._verifying: Deferred[Any] | None = None

    def start(self) -> None:
        self._deadline = self._clock.callLater(self._timeout, self._expired)

    def link_up(self, deliver_up: Callable[[Any], None]) -> None:
        self._deliver_up = deliver_up

    def receive(self, frame: _frames.Frame) -> None:
        if self._state == "authorized":
            if frame["type"] == "auth":
                raise _frames.bad("auth: already authorized")
            self._deliver_up(frame)
        elif self._state == "waiting" and frame["type"] == "auth":
            self._state = "verifying"
            authorization = Authorization(frame["id"], frame["token"], frame.get("data"))
            self._verifying = maybeDeferred(self._verify, authorization)
            self._verifying.addCallbacks(
                self._verified, self._refused, callbackArgs=(authorization,)
            )
        else:
            raise ProtocolError(CloseCode.AUTH_REQUIRED, CloseCode.AUTH_REQUIRED.reason)

    def write(self, frame: bytes) -> None:
        self._write_down(frame)

    def _verified(self, accepted: object, authorization: Authorization) -> None:
        self._verifying = None
        if self._state != "verifying":
            return  # destroyed meanwhile
        if accepted is not True:
            self._refuse(f"the verifier refused client {authorization.id!r}")
            return
        self._state = "authorized"
        self._cancel_deadline()
        self._write_down(_frames.authorized(authorization.id))
        self._on_authorized(authorization)

    def _refused(self, failure: Failure) -> None:
        self._verifying = None
        if self._state != "verifying":
            return
        error = failure.value
        if isinstance(error, ProtocolError):
            self._refuse(f"the verifier refused: {error.reason}", error.code, error.reason)
        else:
            self._refuse(f"the verifier raised {type(error).__name__}")

    def _refuse(
        self, why: str, code: int = CloseCode.UNAUTHORIZED, reason: str = ""
    ) -> None:
        self._state = "refused"
        self._cancel_deadline()
        self._log.warn("authorization refused: {why}", why=why)
        if not reason:
            known = code in CloseCode._value2member_map_
            reason = CloseCode(code).reason if known else CloseCode.UNAUTHORIZED.reason
        self._close(code, reason)

    def _expired(self) -> None:
        self._deadline = None
        self._state = "refused"
        self._close(CloseCode.AUTH_TIMEOUT, CloseCode.AUTH_TIMEOUT.reason)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def destroy(self, reason: Exception) -> None:
        self._state = "destroyed"
        self._cancel_deadline()
        if self._verifying is not None:
            verifying, self._verifying = self._verifying, None
            verifying.cancel()
        self._on_authorized = self._verify = None
        self._write_down = self._deliver_up = self._close = None


@implementer(ILayer)
class ClientAuthorizationLayer:
    """
    Sends the C{auth} frame first and waits for C{authorized}.  The server
    closes the connection if it refuses.
    """

    passes_writes = False  # refuses writes before authorization

    def __init__(
        self,
        authorization: Authorization,
        on_authorized: Callable[[str], None],
        clock: IReactorTime,
        write_down,
        deliver_up,
        close,
    ):
        self._authorization = authorization
        self._on_authorized = on_authorized
        self._write_down = write_down
        self._deliver_up = deliver_up
        self.authorized = False

    def start(self) -> None:
        a = self._authorization
        self._write_down(_frames.auth(a.id, a.token, a.data))

    def link_up(self, deliver_up: Callable[[Any], None]) -> None:
        self._deliver_up = deliver_up

    def receive(self, frame: _frames.Frame) -> None:
        if frame["type"] == "authorized" and not self.authorized:
            self.authorized = True
            self._on_authorized(frame["id"])
        elif self.authorized and frame["type"] != "authorized":
            self._deliver_up(frame)
        else:
            raise _frames.bad(f"{frame['type']}: unexpected before or after 'authorized'")

    def write(self, frame: bytes) -> None:
        if not self.authorized:
            raise RuntimeError("write before the server authorized this client")
        self._write_down(frame)

    def destroy(self, reason: Exception) -> None:
        self._on_authorized = None
        self._write_down = self._deliver_up = None
