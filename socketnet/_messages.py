# -*- test-case-name: tests.test_session -*-
"""
Messages and how handlers answer them: a handler's return value, Deferred,
coroutine or exception becomes the reply.
"""

from __future__ import annotations

from types import CoroutineType
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from . import _frames
from .errors import RemoteError

_log = Logger(namespace="socketnet.session")

#: Longest error name and message a reply carries, in characters.
MAX_ERROR_NAME = 128
MAX_ERROR_MESSAGE = 1024


class Message:
    """
    A message received by a session.

    @ivar type: C{"client"} for a point-to-point message, C{"channel"} for
        a channel message.
    @ivar sender: the sending client's id, or C{None} when the server sent
        it.  The server stamps it; a client cannot choose it.
    @ivar to: the receiving client's id, the channel's id for a channel
        message, or C{None} when it is addressed to the server.
    @ivar channel: the channel's id for a channel message, else C{None}.
    @ivar data: the message's JSON value.
    @ivar reply: when the sender asked for a reply, a callable that sends
        one (C{reply(value)}; only the first reply counts and later calls
        return C{False}); otherwise C{None}.
    """

    __slots__ = ("type", "sender", "to", "channel", "data", "reply", "_request", "_write", "_replied")

    def __init__(
        self,
        data: Any,
        sender: str | None,
        to: str | None,
        request: int | None,
        write: Callable[[bytes], None],
        type: str = "client",
        channel: str | None = None,
    ):
        self.type = type
        self.sender = sender
        self.to = to
        self.channel = channel
        self.data = data
        self._request = request
        self._write = write
        self._replied = False
        self.reply: Callable[[Any], bool] | None = None if request is None else self._reply

    def __repr__(self) -> str:
        return (
            f"<Message type={self.type!r} sender={self.sender!r} to={self.to!r} "
            f"request={self._request!r}>"
        )

    @property
    def replied(self) -> bool:
        """
        Whether a reply (or an error reply) has been sent.
        """
        return self._replied

    def _reply(self, value: Any) -> bool:
        if self._replied:
            return False
        frame = _frames.reply(self._request, value)  # raises before marking
        self._replied = True
        self._write(frame)
        return True

    def _reply_error(self, error: BaseException) -> None:
        if self._replied or self._request is None:
            return
        if isinstance(error, RemoteError):
            name, text = error.name, error.message
        else:
            name, text = type(error).__name__, str(error)
        self._replied = True
        self._write(
            _frames.reply_error(self._request, name[:MAX_ERROR_NAME], text[:MAX_ERROR_MESSAGE])
        )


#: Types a handler's plain return value has in the common case.
_PLAIN = frozenset({str, int, float, bool, list, dict, tuple})


def settle(message: Message, result: Any) -> None:
    """
    Apply what a handler returned to C{message}.

    A value other than C{None} becomes the reply, unless the message
    already has one or wants none; a L{Deferred} or coroutine is waited
    for and its result applied the same way; a failure becomes an error
    reply (L{RemoteError} on the requester's side).
    """
    if result is None:
        return
    if type(result) in _PLAIN:
        # The common case before the isinstance below, which is slow
        # because Deferred is an abstract base class's subclass.
        _answer(result, message)
    elif isinstance(result, Deferred):
        result.addCallbacks(_answer, _answer_failure, (message,), None, (message,))
    elif type(result) is CoroutineType:
        d = Deferred.fromCoroutine(result)
        d.addCallbacks(_answer, _answer_failure, (message,), None, (message,))
    else:
        _answer(result, message)


def run_handler(handler: Callable[..., Any], message: Message, *args: Any) -> None:
    """
    Call C{handler(message, *args)} and L{settle} what it returns.
    """
    try:
        result = handler(message, *args)
    except Exception:
        _answer_failure(Failure(), message)
    else:
        if result is not None:  # most handlers of messages return nothing
            settle(message, result)


def _answer(value: Any, message: Message) -> None:
    if value is None or message._request is None or message._replied:
        return
    try:
        message._reply(value)
    except (TypeError, ValueError) as e:
        _log.warn("handler's reply to {message} is not JSON: {error}", message=message, error=e)
        message._reply_error(TypeError("the reply could not be encoded as JSON"))


def _answer_failure(failure: Failure, message: Message) -> None:
    """
    A handler failed on C{message}: an error reply if a reply is still
    wanted, else the failure is logged.
    """
    if message.reply is None or message.replied:
        _log.failure("message handler failed on {message}", failure, message=message)
        return
    _log.info(
        "handler failed on {message}; the requester gets {error!r}",
        message=message,
        error=failure.value,
    )
    message._reply_error(failure.value)


def call_each(handlers: list[Callable[..., Any]], *args: Any) -> None:
    """
    Call every event handler in order; one that raises is logged and the
    rest still run.
    """
    for handler in list(handlers):
        try:
            result = handler(*args)
        except Exception:
            _log.failure("event handler {handler!r} failed", handler=handler)
        else:
            if isinstance(result, Deferred):
                result.addErrback(
                    lambda f, h=handler: _log.failure("event handler {handler!r} failed", f, handler=h)
                )


def check_close_code(code: int) -> None:
    """
    @raise ValueError: unless C{code} is one an application may close with:
        1000 or 3000 to 4999.
    """
    if code != 1000 and not 3000 <= code <= 4999:
        raise ValueError(f"close code must be 1000 or 3000-4999, not {code!r}")


__all__ = ["Message", "settle", "run_handler", "call_each", "check_close_code"]
