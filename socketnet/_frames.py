# -*- test-case-name: tests.test_frames -*-
"""
Wire protocol v1: encode, decode and validate JSON frames.

Pure functions, no I/O.  Every frame is a JSON object with a C{"type"}
member; C{docs/protocol.md} describes each type.  L{decode} accepts only
frames that are fully valid, so the layers above it never check shapes
again; anything else raises L{ProtocolError} with close code 4400 and a
reason that says what was wrong.
"""

from __future__ import annotations

import enum
import json
import re
import uuid
from typing import Any, Callable

import orjson

from .closecodes import CloseCode
from .errors import ProtocolError

#: The WebSocket subprotocol this module speaks.
SUBPROTOCOL = "socketnet.v1"

#: Longest client id, in characters.
MAX_ID_LENGTH = 128
#: Longest token, in characters.
MAX_TOKEN_LENGTH = 4096
#: Request ids are positive integers a JavaScript number holds exactly.
MAX_REQUEST_ID = 2**53 - 1
#: Longest timeout a routed request may announce, in seconds.
MAX_TIMEOUT = 86400

# No white space, no C0 or C1 control characters (C1 holds terminal escapes
# that would reach logs), no lone surrogates (not encodable as UTF-8).
_ID_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,%d}" % MAX_ID_LENGTH)

Frame = dict[str, Any]

# orjson does the common case, about twenty times faster than the json
# module.  It writes NaN and the infinities as null, and refuses what the
# json module accepts (integers beyond 64 bits, non-string keys, subclasses
# of str, int, dict and list, which pass through to the error here), so
# those frames, and every frame with a null in it, are encoded again by
# the json module, which writes them or refuses them as before.
_FAST_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _default(value: object) -> Any:
    # What orjson writes natively beyond the json module: the same here.
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_strict_encode = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
).encode


def encode(frame: Frame) -> bytes:
    """
    Encode a frame as compact UTF-8 JSON.

    UUIDs are written as strings and enumeration members as their values.

    @raise TypeError: if the frame holds a value JSON cannot carry.
    @raise ValueError: if it holds NaN or an infinity, a lone surrogate or
        a reference cycle.
    """
    try:
        out = orjson.dumps(frame, option=_FAST_OPTIONS)
    except TypeError:
        out = None
    if out is None or out.find(b"null") >= 0:  # find is faster than "in" here
        return _strict_encode(frame).encode("utf-8")
    return out


def bad(reason: str) -> ProtocolError:
    """
    The error for a malformed frame, close code 4400.
    """
    return ProtocolError(CloseCode.BAD_FRAME, reason)


def is_valid_id(value: object) -> bool:
    """
    Whether C{value} is a valid client id: a string of 1 to 128
    characters, none of them white space or control characters.
    """
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None


def _string(frame: Frame, name: str, limit: int) -> None:
    value = frame.get(name)
    if not isinstance(value, str):
        raise bad(f"{frame['type']}: field {name!r} must be a string")
    if len(value) > limit:
        raise bad(f"{frame['type']}: field {name!r} is longer than {limit}")


def _request_id(frame: Frame, required: bool) -> None:
    value = frame.get("request")
    if value is None and not required:
        return
    if type(value) is not int or not 0 < value <= MAX_REQUEST_ID:
        raise bad(
            f"{frame['type']}: field 'request' must be an integer "
            f"from 1 to {MAX_REQUEST_ID}"
        )


def _id_field(frame: Frame, name: str) -> None:
    if not is_valid_id(frame.get(name)):
        raise bad(
            f"{frame['type']}: field {name!r} must be a string of 1 to "
            f"{MAX_ID_LENGTH} characters, no spaces or controls"
        )


def _check_auth(frame: Frame) -> None:
    _string(frame, "id", MAX_ID_LENGTH)
    _id_field(frame, "id")
    _string(frame, "token", MAX_TOKEN_LENGTH)


def _check_authorized(frame: Frame) -> None:
    _string(frame, "id", MAX_ID_LENGTH)


def _check_nothing(frame: Frame) -> None:
    pass


def _check_message(frame: Frame) -> None:
    request = frame.get("request")
    if request is not None and (type(request) is not int or not 0 < request <= MAX_REQUEST_ID):
        _request_id(frame, required=False)  # raises with the reason
    if "to" in frame:
        if "channel" in frame:
            raise bad("message: has both 'to' and 'channel'")
        _id_field(frame, "to")
    elif "channel" in frame:
        _id_field(frame, "channel")
    sender = frame.get("from")
    if sender is not None and not isinstance(sender, str):
        raise bad("message: field 'from' must be a string or null")
    timeout = frame.get("timeout")
    if timeout is not None and (
        type(timeout) not in (int, float) or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise bad(f"message: field 'timeout' must be a number of seconds from 0 to {MAX_TIMEOUT}")


def _check_membership(frame: Frame) -> None:
    _request_id(frame, required=True)
    _id_field(frame, "channel")


def _check_error_shape(frame: Frame) -> None:
    error = frame.get("error")
    if not (
        isinstance(error, dict)
        and isinstance(error.get("name"), str)
        and isinstance(error.get("message"), str)
    ):
        raise bad(f"{frame['type']}: field 'error' must be {{name: string, message: string}}")


def _check_error(frame: Frame) -> None:
    _check_error_shape(frame)
    for name in ("to", "channel"):
        if name in frame:
            _id_field(frame, name)


def _check_reply(frame: Frame) -> None:
    _request_id(frame, required=True)
    if "error" in frame:
        if "data" in frame:
            raise bad("reply: has both 'data' and 'error'")
        _check_error_shape(frame)


_CHECKS: dict[str, Callable[[Frame], None]] = {
    "auth": _check_auth,
    "authorized": _check_authorized,
    "ping": _check_nothing,
    "pong": _check_nothing,
    "message": _check_message,
    "reply": _check_reply,
    "join": _check_membership,
    "exit": _check_membership,
    "members": _check_membership,
    "error": _check_error,
}


def decode(payload: bytes) -> Frame:
    """
    Decode and validate one text frame.

    Members a frame type does not define are ignored, so later minor
    versions may add some; unknown frame types are refused.

    @param payload: the UTF-8 bytes of a WebSocket text message.
    @return: the frame, a L{dict} with a valid C{"type"}.
    @raise ProtocolError: (close code 4400) if the payload is not a valid
        frame; the reason says why.
    """
    try:
        # orjson refuses what the protocol refuses: invalid UTF-8, NaN and
        # the infinities, numbers too large for a double, lone surrogates.
        frame = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise bad(f"invalid JSON: {_first_line(e)}") from None
    if not isinstance(frame, dict):
        raise bad("frame must be a JSON object")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise bad("frame has no string field 'type'")
    check = _CHECKS.get(kind)
    if check is None:
        raise bad(f"unknown frame type {kind[:40]!r}")
    check(frame)
    return frame


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:80] if str(error) else type(error).__name__


class SharedFrame(bytes):
    """
    An encoded frame sent unchanged to many sessions (a channel message):
    the WebSocket edge frames it once, as an Autobahn prepared message,
    and reuses that for every plaintext recipient.
    """

    def prepared(self, factory: Any) -> Any:
        """
        The prepared message for C{factory}'s connections, made once.
        """
        cached = self.__dict__.get("_prepared")
        if cached is None or cached[0] is not factory:
            cached = self.__dict__["_prepared"] = (factory, factory.prepareMessage(bytes(self)))
        return cached[1]


# Frame builders: the one place that spells each outgoing frame.

PING = encode({"type": "ping"})
PONG = encode({"type": "pong"})


def auth(client_id: str, token: str, data: Any) -> bytes:
    return encode({"type": "auth", "id": client_id, "token": token, "data": data})


def authorized(client_id: str) -> bytes:
    return encode({"type": "authorized", "id": client_id})


def message(data: Any, request: int | None = None) -> bytes:
    if request is None:
        return encode({"type": "message", "data": data})
    return encode({"type": "message", "data": data, "request": request})


def routed(
    data: Any,
    request: int | None = None,
    *,
    to: str | None = None,
    channel: str | None = None,
    sender: str | None | object = None,
    timeout: float | None = None,
) -> bytes:
    """
    A C{message} frame with routing members: C{to} or C{channel} from a
    client; C{from} (the sender id, or null from the server) and maybe
    C{channel} from the server.  C{sender=None} leaves C{from} out; pass
    L{FROM_SERVER} for C{"from": null}.
    """
    frame: Frame = {"type": "message", "data": data}
    if to is not None:
        frame["to"] = to
    if channel is not None:
        frame["channel"] = channel
    if sender is not None:
        frame["from"] = None if sender is FROM_SERVER else sender
    if request is not None:
        frame["request"] = request
        if timeout is not None:
            frame["timeout"] = timeout
    return encode(frame)


#: The C{sender} of L{routed} for a message the server sent.
FROM_SERVER = object()


def membership(kind: str, channel: str, request: int) -> bytes:
    """
    A C{join}, C{exit} or C{members} frame.
    """
    return encode({"type": kind, "channel": channel, "request": request})


def error(name: str, text: str, **about: str) -> bytes:
    """
    An C{error} frame: something the client sent without asking for a
    reply failed; C{about} names it (C{to} or C{channel}).
    """
    return encode({"type": "error", "error": {"name": name, "message": text}, **about})


def reply(request: int, data: Any) -> bytes:
    return encode({"type": "reply", "request": request, "data": data})


def reply_error(request: int, name: str, text: str) -> bytes:
    return encode(
        {"type": "reply", "request": request, "error": {"name": name, "message": text}}
    )
