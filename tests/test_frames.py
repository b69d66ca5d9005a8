"""
Tests for L{socketnet._frames}: wire protocol v1 encoding, decoding and
validation.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from socketnet import _frames
from socketnet.closecodes import CloseCode
from socketnet.errors import ProtocolError

MAX = _frames.MAX_REQUEST_ID
REQUEST_REASON = f"field 'request' must be an integer from 1 to {MAX}"
ID_SHAPE_REASON = "auth: field 'id' must be a string of 1 to 128 characters, no spaces or controls"


def _json(frame: Any) -> bytes:
    """
    Encode C{frame} as JSON the plain way, for building test payloads the
    builders would never produce.
    """
    return json.dumps(frame).encode("utf-8")


def _auth(**members: Any) -> bytes:
    frame = {"type": "auth", "id": "client-1", "token": "secret"}
    frame.update(members)
    return _json({k: v for k, v in frame.items() if v is not _MISSING})


_MISSING = object()


#: Malformed payloads: (payload, a substring the close reason must hold).
# Rows whose reason comes from the JSON decoder (orjson) check only the
# "invalid JSON: " prefix: the detail after it is orjson's wording, which
# is not part of the protocol.
MALFORMED: list[tuple[bytes, str]] = [
    # Not UTF-8.
    (b"\xff", "invalid JSON: "),
    (b'{"type":"ping","x":"\xc3"}', "invalid JSON: "),
    (b'{"type":"ping","x":"\xed\xa0\x80"}', "invalid JSON: "),
    # Not JSON.
    (b"", "invalid JSON: "),
    (b"   ", "invalid JSON: "),
    (b'{"type":', "invalid JSON: "),
    (b'{"type":"ping"', "invalid JSON: "),
    (b"{'type':'ping'}", "invalid JSON: "),
    (b'{"type":"ping"} {}', "invalid JSON: "),
    (b'{"type":"ping",}', "invalid JSON"),
    (b"\xef\xbb\xbf" + b'{"type":"ping"}', "invalid JSON"),
    # The non-standard constants Python's json module would accept.
    (b'{"type":"message","data":NaN}', "invalid JSON: "),
    (b'{"type":"message","data":Infinity}', "invalid JSON: "),
    (b'{"type":"message","data":-Infinity}', "invalid JSON: "),
    (b'{"type":"message","data":[1,{"a":NaN}]}', "invalid JSON: "),
    # Nesting deeper than the decoder's limit of 1024 levels.
    (b"[" * 100000, "invalid JSON: "),
    (b'{"a":' * 100000, "invalid JSON: "),
    (
        b'{"type":"message","data":' + b"[" * 100000 + b"]" * 100000 + b"}",
        "invalid JSON: ",
    ),
    # Integers too long for a double.
    (b'{"type":"message","data":' + b"1" * 5000 + b"}", "invalid JSON: "),
    # Top-level values that are not objects.
    (b"[]", "frame must be a JSON object"),
    (b'[{"type":"ping"}]', "frame must be a JSON object"),
    (b'"ping"', "frame must be a JSON object"),
    (b"0", "frame must be a JSON object"),
    (b"1.5", "frame must be a JSON object"),
    (b"null", "frame must be a JSON object"),
    (b"true", "frame must be a JSON object"),
    # No usable type.
    (b"{}", "frame has no string field 'type'"),
    (b'{"kind":"ping"}', "frame has no string field 'type'"),
    (b'{"type":null}', "frame has no string field 'type'"),
    (b'{"type":1}', "frame has no string field 'type'"),
    (b'{"type":true}', "frame has no string field 'type'"),
    (b'{"type":["ping"]}', "frame has no string field 'type'"),
    (b'{"type":{"name":"ping"}}', "frame has no string field 'type'"),
    # Unknown types; case matters.
    (b'{"type":""}', "unknown frame type ''"),
    (b'{"type":"pingg"}', "unknown frame type 'pingg'"),
    (b'{"type":"PING"}', "unknown frame type 'PING'"),
    (b'{"type":" ping"}', "unknown frame type ' ping'"),
    (b'{"type":"error"}', "error: field 'error' must be"),
    (b'{"type":"subscribe"}', "unknown frame type 'subscribe'"),
    # auth: id.
    (_auth(id=_MISSING), "auth: field 'id' must be a string"),
    (_auth(id=None), "auth: field 'id' must be a string"),
    (_auth(id=7), "auth: field 'id' must be a string"),
    (_auth(id=["a"]), "auth: field 'id' must be a string"),
    (_auth(id="x" * 129), "auth: field 'id' is longer than 128"),
    (_auth(id=""), ID_SHAPE_REASON),
    (_auth(id="a b"), ID_SHAPE_REASON),
    (_auth(id=" a"), ID_SHAPE_REASON),
    (_auth(id="a\tb"), ID_SHAPE_REASON),
    (_auth(id="a\nb"), ID_SHAPE_REASON),
    (_auth(id="a\x00b"), ID_SHAPE_REASON),
    (_auth(id="a\x1fb"), ID_SHAPE_REASON),
    (_auth(id="a\x7fb"), ID_SHAPE_REASON),
    (_auth(id="a\u00a0b"), ID_SHAPE_REASON),
    (_auth(id="a\u2028b"), ID_SHAPE_REASON),
    # auth: token.
    (_auth(token=_MISSING), "auth: field 'token' must be a string"),
    (_auth(token=None), "auth: field 'token' must be a string"),
    (_auth(token=1234), "auth: field 'token' must be a string"),
    (_auth(token={"t": "x"}), "auth: field 'token' must be a string"),
    (_auth(token="t" * 4097), "auth: field 'token' is longer than 4096"),
    # authorized.
    (b'{"type":"authorized"}', "authorized: field 'id' must be a string"),
    (b'{"type":"authorized","id":5}', "authorized: field 'id' must be a string"),
    (
        _json({"type": "authorized", "id": "x" * 129}),
        "authorized: field 'id' is longer than 128",
    ),
    # reply: request id.
    (b'{"type":"reply","data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":null,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":0,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":-0,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":-1,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":1.0,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":1.5,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":1e3,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":true,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":false,"data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":"1","data":1}', "reply: " + REQUEST_REASON),
    (b'{"type":"reply","request":[1],"data":1}', "reply: " + REQUEST_REASON),
    (_json({"type": "reply", "request": MAX + 1, "data": 1}), "reply: " + REQUEST_REASON),
    (_json({"type": "reply", "request": 2**64, "data": 1}), "reply: " + REQUEST_REASON),
    # reply: data and error.
    (
        b'{"type":"reply","request":1,"data":1,"error":{"name":"E","message":"m"}}',
        "reply: has both 'data' and 'error'",
    ),
    (
        b'{"type":"reply","request":1,"data":null,"error":null}',
        "reply: has both 'data' and 'error'",
    ),
    # reply: error of the wrong shape.
    (b'{"type":"reply","request":1,"error":null}', "reply: field 'error' must be"),
    (b'{"type":"reply","request":1,"error":"boom"}', "reply: field 'error' must be"),
    (b'{"type":"reply","request":1,"error":["E","m"]}', "reply: field 'error' must be"),
    (b'{"type":"reply","request":1,"error":{}}', "reply: field 'error' must be"),
    (b'{"type":"reply","request":1,"error":{"name":"E"}}', "reply: field 'error' must be"),
    (
        b'{"type":"reply","request":1,"error":{"message":"m"}}',
        "reply: field 'error' must be",
    ),
    (
        b'{"type":"reply","request":1,"error":{"name":1,"message":"m"}}',
        "reply: field 'error' must be",
    ),
    (
        b'{"type":"reply","request":1,"error":{"name":"E","message":null}}',
        "reply: field 'error' must be",
    ),
    # message: bad request field.
    (b'{"type":"message","data":1,"request":0}', "message: " + REQUEST_REASON),
    (b'{"type":"message","data":1,"request":-7}', "message: " + REQUEST_REASON),
    (b'{"type":"message","data":1,"request":2.5}', "message: " + REQUEST_REASON),
    (b'{"type":"message","data":1,"request":3.0}', "message: " + REQUEST_REASON),
    (b'{"type":"message","data":1,"request":true}', "message: " + REQUEST_REASON),
    (b'{"type":"message","data":1,"request":"3"}', "message: " + REQUEST_REASON),
    (b'{"type":"message","data":1,"request":{}}', "message: " + REQUEST_REASON),
    (
        _json({"type": "message", "data": 1, "request": MAX + 1}),
        "message: " + REQUEST_REASON,
    ),
]


#: Valid payloads: (payload, the frame they decode to).
VALID: list[tuple[bytes, dict[str, Any]]] = [
    (b'{"type":"ping"}', {"type": "ping"}),
    (b'{"type":"pong"}', {"type": "pong"}),
    (b' \n{ "type" : "ping" }\t', {"type": "ping"}),
    (
        b'{"type":"auth","id":"client-1","token":"secret"}',
        {"type": "auth", "id": "client-1", "token": "secret"},
    ),
    (
        b'{"type":"auth","id":"c","token":"","data":{"v":[1,2]}}',
        {"type": "auth", "id": "c", "token": "", "data": {"v": [1, 2]}},
    ),
    (
        _json({"type": "auth", "id": "x" * 128, "token": "t" * 4096}),
        {"type": "auth", "id": "x" * 128, "token": "t" * 4096},
    ),
    (
        '{"type":"auth","id":"\u00fcser-\u2603","token":"\u00e9"}'.encode("utf-8"),
        {"type": "auth", "id": "\u00fcser-\u2603", "token": "\u00e9"},
    ),
    (
        b'{"type":"auth","id":"\\u00fc","token":"t"}',
        {"type": "auth", "id": "\u00fc", "token": "t"},
    ),
    (b'{"type":"authorized","id":"client-1"}', {"type": "authorized", "id": "client-1"}),
    (b'{"type":"message","data":"hi"}', {"type": "message", "data": "hi"}),
    (b'{"type":"message","data":null}', {"type": "message", "data": None}),
    (b'{"type":"message"}', {"type": "message"}),
    (
        b'{"type":"message","data":[1,2.5,true,null,{"k":"v"}],"request":1}',
        {"type": "message", "data": [1, 2.5, True, None, {"k": "v"}], "request": 1},
    ),
    (
        b'{"type":"message","data":1,"request":null}',
        {"type": "message", "data": 1, "request": None},
    ),
    (
        _json({"type": "message", "data": 0, "request": MAX}),
        {"type": "message", "data": 0, "request": MAX},
    ),
    (
        b'{"type":"reply","request":7,"data":{"ok":true}}',
        {"type": "reply", "request": 7, "data": {"ok": True}},
    ),
    (b'{"type":"reply","request":7}', {"type": "reply", "request": 7}),
    (
        _json({"type": "reply", "request": MAX, "data": None}),
        {"type": "reply", "request": MAX, "data": None},
    ),
    (
        b'{"type":"reply","request":2,"error":{"name":"ValueError","message":"bad"}}',
        {"type": "reply", "request": 2, "error": {"name": "ValueError", "message": "bad"}},
    ),
    # Unknown members are accepted and kept, for later minor versions.
    (b'{"type":"ping","extra":1}', {"type": "ping", "extra": 1}),
    (
        b'{"type":"message","data":1,"v":2,"meta":{"a":[]}}',
        {"type": "message", "data": 1, "v": 2, "meta": {"a": []}},
    ),
    (
        b'{"type":"auth","id":"c","token":"t","nonce":"n"}',
        {"type": "auth", "id": "c", "token": "t", "nonce": "n"},
    ),
    (
        b'{"type":"reply","request":3,"error":{"name":"E","message":"m","trace":"x"}}',
        {
            "type": "reply",
            "request": 3,
            "error": {"name": "E", "message": "m", "trace": "x"},
        },
    ),
    # A repeated member: the last one counts, as in Python's json.
    (b'{"type":"nope","type":"ping"}', {"type": "ping"}),
]


#: (value, whether it is a valid client id)
IDS: list[tuple[object, bool]] = [
    ("a", True),
    ("client-1", True),
    ("x" * 128, True),
    ("user@example.com", True),
    ("\u00fcser", True),
    ("\u2603\U0001f600", True),
    ("a.b_c/d:e", True),
    ("", False),
    ("x" * 129, False),
    ("a b", False),
    (" a", False),
    ("a ", False),
    ("a\tb", False),
    ("a\nb", False),
    ("a\rb", False),
    ("a\x00b", False),
    ("\x01", False),
    ("a\x1f", False),
    ("a\x7f", False),
    ("a\u00a0b", False),
    ("a\u2028b", False),
    ("a\u3000b", False),
    (None, False),
    (1, False),
    (b"abc", False),
    (["a"], False),
]


class DecodeMalformedTests(SynchronousTestCase):
    """
    L{_frames.decode} refuses every malformed frame with a L{ProtocolError}
    carrying close code 4400 and a reason that says what was wrong.
    """

    def assertBadFrame(self, payload: bytes, reason: str) -> None:
        """
        Assert that decoding C{payload} raises L{ProtocolError} with close
        code 4400 and a reason containing C{reason}.
        """
        shown = payload[:80]
        try:
            frame = _frames.decode(payload)
        except ProtocolError as e:
            self.assertEqual(e.code, CloseCode.BAD_FRAME, shown)
            self.assertEqual(e.code, 4400, shown)
            self.assertIsInstance(e.reason, str, shown)
            self.assertIn(reason, e.reason, shown)
            self.assertEqual(str(e), e.reason, shown)
        else:
            self.fail(f"{shown!r} decoded to {frame!r}")

    def test_table(self) -> None:
        """
        Every row of the malformed table raises L{ProtocolError} with close
        code 4400 and the row's reason.
        """
        for payload, reason in MALFORMED:
            self.assertBadFrame(payload, reason)

    def test_invalidUTF8NotChained(self) -> None:
        """
        The L{ProtocolError} for undecodable input does not chain the
        underlying exception: its cause and context are suppressed.
        """
        e = self.assertRaises(ProtocolError, _frames.decode, b"\xff")
        self.assertIsNone(e.__cause__)
        self.assertTrue(e.__suppress_context__)

    def test_invalidJSONReasonIsShort(self) -> None:
        """
        The reason for input that is not JSON quotes at most 80 characters
        of the parser's message, so it fits in a WebSocket close frame.
        """
        for payload in [b"[" * 100000, b"\xff" * 200, b"1" * 100000, b'{"' + b"x" * 500]:
            e = self.assertRaises(ProtocolError, _frames.decode, payload)
            self.assertTrue(e.reason.startswith("invalid JSON: "), e.reason)
            self.assertLessEqual(len(e.reason), len("invalid JSON: ") + 80, e.reason)

    def test_unknownTypeTruncated(self) -> None:
        """
        An unknown type is quoted in the reason cut to 40 characters.
        """
        e = self.assertRaises(
            ProtocolError, _frames.decode, _json({"type": "z" * 41 + "TAIL"})
        )
        self.assertEqual(e.code, CloseCode.BAD_FRAME)
        self.assertEqual(e.reason, "unknown frame type %r" % ("z" * 40,))

    def test_bad(self) -> None:
        """
        L{_frames.bad} builds a L{ProtocolError} with close code 4400 and
        the given reason.
        """
        e = _frames.bad("why")
        self.assertIsInstance(e, ProtocolError)
        self.assertEqual(e.code, CloseCode.BAD_FRAME)
        self.assertEqual(e.reason, "why")

    def test_infiniteNumberRefused(self) -> None:
        """
        A number literal too large for a float (C{1e400}) decodes to
        infinity in Python; it is refused like the C{Infinity} constant,
        since no frame that holds it could be encoded again.
        """
        self.assertBadFrame(b'{"type":"message","data":1e400}', "invalid JSON")
        self.assertBadFrame(b'{"type":"message","data":[-1e400]}', "invalid JSON")


    def test_loneSurrogateRefused(self) -> None:
        """
        A C{\\uD800} escape spells a lone surrogate that cannot be
        encoded as UTF-8; the decoder refuses it wherever it is, in an auth
        frame's id as in data, since such a frame could never be sent on.
        """
        self.assertBadFrame(
            b'{"type":"auth","id":"a\\ud800","token":"t"}', "invalid JSON: "
        )
        self.assertBadFrame(
            b'{"type":"message","data":["\\udc00"]}', "invalid JSON: "
        )



class DecodeValidTests(SynchronousTestCase):
    """
    L{_frames.decode} accepts every valid frame and returns it as a dict.
    """

    def test_table(self) -> None:
        """
        Every row of the valid table decodes to exactly the expected dict,
        unknown members included.
        """
        for payload, expected in VALID:
            frame = _frames.decode(payload)
            self.assertIsInstance(frame, dict, payload[:80])
            self.assertEqual(frame, expected, payload[:80])

    def test_requestIdTypes(self) -> None:
        """
        A valid request id decodes as an L{int}, never a float or bool.
        """
        frame = _frames.decode(b'{"type":"reply","request":1,"data":true}')
        self.assertIs(type(frame["request"]), int)
        self.assertIs(frame["data"], True)


class EncodeTests(SynchronousTestCase):
    """
    L{_frames.encode} writes compact UTF-8 JSON and refuses what JSON
    cannot carry.
    """

    def test_compact(self) -> None:
        """
        The encoding has no spaces between members and items.
        """
        self.assertEqual(
            _frames.encode({"type": "message", "data": [1, {"a": None}]}),
            b'{"type":"message","data":[1,{"a":null}]}',
        )

    def test_utf8(self) -> None:
        """
        Non-ASCII text is written as UTF-8, not as C{\\u} escapes.
        """
        self.assertEqual(
            _frames.encode({"type": "message", "data": "\u00e9\u2603"}),
            '{"type":"message","data":"\u00e9\u2603"}'.encode("utf-8"),
        )

    def test_nan(self) -> None:
        """
        NaN and the infinities raise L{ValueError}.
        """
        for value in [float("nan"), float("inf"), float("-inf")]:
            self.assertRaises(
                ValueError, _frames.encode, {"type": "message", "data": value}
            )
            self.assertRaises(
                ValueError, _frames.encode, {"type": "message", "data": [{"x": value}]}
            )

    def test_cycle(self) -> None:
        """
        A reference cycle raises L{ValueError}.
        """
        data: list[Any] = []
        data.append(data)
        self.assertRaises(ValueError, _frames.encode, {"type": "message", "data": data})

    def test_notJSON(self) -> None:
        """
        Values JSON cannot carry raise L{TypeError}.
        """
        for value in [object(), b"bytes", {1, 2}, 1j, {(1, 2): "tuple key"}]:
            self.assertRaises(
                TypeError, _frames.encode, {"type": "message", "data": value}
            )


    def test_nanBesideNull(self) -> None:
        """
        NaN is refused also in a frame that holds C{null} elsewhere, and in
        a frame the fast encoder hands on to the strict one.
        """
        self.assertRaises(
            ValueError, _frames.encode, {"type": "message", "data": [None, float("nan")]}
        )
        self.assertRaises(
            ValueError, _frames.encode, {"type": "message", "data": [2**64, float("-inf")]}
        )

    def test_strictCases(self) -> None:
        """
        What the json module writes and the fast encoder does not is still
        written the same way: C{null}, integers beyond 64 bits, non-string
        keys, subclasses of the JSON types.
        """

        class Text(str):
            pass

        cases = [
            ({"data": None}, b'{"data":null}'),
            ({"data": 2**64}, b'{"data":18446744073709551616}'),
            ({"data": -(2**63) - 1}, b'{"data":-9223372036854775809}'),
            ({"data": {1: "one", None: "none"}}, b'{"data":{"1":"one","null":"none"}}'),
            ({"data": Text("t\u00e9")}, '{"data":"t\u00e9"}'.encode()),
            ({"data": "null"}, b'{"data":"null"}'),
        ]
        for frame, expected in cases:
            self.assertEqual(_frames.encode(frame), expected)

    def test_uuidAndEnum(self) -> None:
        """
        UUIDs are written as strings and enumeration members as their
        values, whichever encoder writes the frame.
        """
        import enum
        import uuid

        class Colour(enum.Enum):
            RED = "red"

        value = uuid.UUID(int=1)
        self.assertEqual(
            _frames.encode({"data": [value, Colour.RED]}),
            b'{"data":["00000000-0000-0000-0000-000000000001","red"]}',
        )
        self.assertEqual(
            _frames.encode({"data": [value, Colour.RED, None]}),
            b'{"data":["00000000-0000-0000-0000-000000000001","red",null]}',
        )

    def test_loneSurrogate(self) -> None:
        """
        A string holding a lone surrogate cannot be UTF-8: L{ValueError}.
        """
        self.assertRaises(ValueError, _frames.encode, {"data": "a\ud800"})


class BuilderTests(SynchronousTestCase):
    """
    Each frame builder produces bytes that L{_frames.decode} accepts and
    turns back into the frame it describes.
    """

    def test_ping(self) -> None:
        """
        L{_frames.PING} decodes to a ping frame.
        """
        self.assertIsInstance(_frames.PING, bytes)
        self.assertEqual(_frames.decode(_frames.PING), {"type": "ping"})

    def test_pong(self) -> None:
        """
        L{_frames.PONG} decodes to a pong frame.
        """
        self.assertIsInstance(_frames.PONG, bytes)
        self.assertEqual(_frames.decode(_frames.PONG), {"type": "pong"})

    def test_auth(self) -> None:
        """
        L{_frames.auth} round-trips id, token and data.
        """
        payload = _frames.auth("client-\u00fc", "tok\u00e9n", {"v": [1, None]})
        self.assertEqual(
            _frames.decode(payload),
            {
                "type": "auth",
                "id": "client-\u00fc",
                "token": "tok\u00e9n",
                "data": {"v": [1, None]},
            },
        )

    def test_authNoData(self) -> None:
        """
        L{_frames.auth} with C{None} data sends a null C{data} member.
        """
        self.assertEqual(
            _frames.decode(_frames.auth("c", "t", None)),
            {"type": "auth", "id": "c", "token": "t", "data": None},
        )

    def test_authorized(self) -> None:
        """
        L{_frames.authorized} round-trips the id.
        """
        self.assertEqual(
            _frames.decode(_frames.authorized("client-1")),
            {"type": "authorized", "id": "client-1"},
        )

    def test_message(self) -> None:
        """
        L{_frames.message} without a request id has no C{request} member.
        """
        self.assertEqual(
            _frames.decode(_frames.message({"hello": ["world", 1.5]})),
            {"type": "message", "data": {"hello": ["world", 1.5]}},
        )

    def test_messageRequest(self) -> None:
        """
        L{_frames.message} with a request id round-trips it.
        """
        for request in [1, 42, MAX]:
            self.assertEqual(
                _frames.decode(_frames.message("q", request)),
                {"type": "message", "data": "q", "request": request},
            )

    def test_messageRefuses(self) -> None:
        """
        L{_frames.message} refuses data JSON cannot carry.
        """
        self.assertRaises(TypeError, _frames.message, object())
        self.assertRaises(ValueError, _frames.message, float("nan"))

    def test_reply(self) -> None:
        """
        L{_frames.reply} round-trips the request id and data.
        """
        self.assertEqual(
            _frames.decode(_frames.reply(9, [1, "two"])),
            {"type": "reply", "request": 9, "data": [1, "two"]},
        )
        self.assertEqual(
            _frames.decode(_frames.reply(1, None)),
            {"type": "reply", "request": 1, "data": None},
        )

    def test_replyError(self) -> None:
        """
        L{_frames.reply_error} round-trips the request id, error name and
        message, with no C{data} member.
        """
        self.assertEqual(
            _frames.decode(_frames.reply_error(3, "ValueError", "bad \u00e9")),
            {
                "type": "reply",
                "request": 3,
                "error": {"name": "ValueError", "message": "bad \u00e9"},
            },
        )


class IsValidIdTests(SynchronousTestCase):
    """
    L{_frames.is_valid_id} accepts strings of 1 to 128 characters with no
    white space or control characters.
    """

    def test_table(self) -> None:
        """
        Every row of the id table gets the expected answer.
        """
        for value, expected in IDS:
            self.assertIs(_frames.is_valid_id(value), expected, repr(value))

    def test_loneSurrogate(self) -> None:
        """
        A string holding a lone surrogate is not a valid id: it cannot be
        encoded as UTF-8.
        """
        self.assertIs(_frames.is_valid_id("a\ud800"), False)

