"""
What socketnet-enc/1 adds to the server's Python cost per message,
without the kernel: as L{bench._inproc}, socketnet's server protocol is
fed masked WebSocket frames through C{dataReceived} on in-memory
transports, once with C{encrypt="off"} and once with
C{encrypt="required"} (the fixed test key; RSA runs inline here, since
only the per-message cost is timed).  The encrypted client's records are
sealed before the clock starts, so only the server's work is timed
(C{process_time}): opening each record and sealing each answer.

With C{--null-cipher} a third setup runs the same encrypted sessions with
AES-GCM replaced by a copy (L{NullAEAD}), which splits what encryption
adds into the cipher's calls and everything else: the layer, the records
and the longer binary frames.  It measures socketnet's own share, not a
usable cipher.

    python -m bench._inproc_enc [--count 10000] [--rounds 5] [--members 50] [--null-cipher]

Only informs docs/performance.md; the suite does not need it.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from contextlib import contextmanager
from typing import Any, Iterator

from twisted.internet.defer import fail, succeed
from twisted.internet.testing import MemoryReactorClock

from socketnet import Heartbeat, _keys

from ._encargs import RAISED_BURST, RAISED_RATE, SERVER_KEY
from ._encclient import HARD_RECORDS, answer_pubkey, check_ready, hello_message
from ._inproc import Setup, _Transport, compare, connect, frame
from ._inproc import fanout as plain_fanout
from ._inproc import request as plain_request
from ._loadgen import payload
from ._wsclient import _header, apply_mask
from .server_socketnet import make_app


class NullAEAD:
    """
    C{AESGCM}'s interface at the cost of a copy: the record keeps its
    layout (a 16-byte tag of zeros), nothing is secret.
    """

    _TAG = bytes(_keys.TAG_LENGTH)

    def __init__(self, key: bytes):
        pass

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        return bytes(data) + self._TAG

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        return bytes(data[: -_keys.TAG_LENGTH])


@contextmanager
def null_cipher() -> Iterator[None]:
    """
    Records made while this is active (keys are installed when sessions
    are built) use L{NullAEAD}.
    """
    real = _keys.AESGCM
    _keys.AESGCM = NullAEAD  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        _keys.AESGCM = real  # type: ignore[misc]


def _run_now(fn: Any, *args: Any) -> Any:
    try:
        return succeed(fn(*args))
    except Exception:
        return fail()


def binary(data: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    return _header(0x2, len(data)) + mask + apply_mask(data, mask)


def server_messages(data: bytes) -> list[bytes]:
    """
    The payloads of the unmasked frames a server wrote.
    """
    out, pos = [], 0
    while pos < len(data):
        length, head = data[pos + 1] & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
        out.append(data[pos + head : pos + head + length])
        pos += head + length
    return out


def encrypted_app() -> Any:
    app = make_app(Heartbeat(), MemoryReactorClock(), encrypt="required", server_key=SERVER_KEY, run_blocking=_run_now,
                   handshakes_per_second=RAISED_RATE, handshake_burst=RAISED_BURST)  # 51 sessions, one address
    app.prepare()
    return app


def enc_client(factory: Any, cid: str, n: int, join: bool = False) -> tuple[Any, _Transport, _keys.Sealer]:
    """
    An authorized encrypted session (a channel member if C{join}).
    """
    proto, transport = connect(factory, "/socket", "socketnet.v1", n)
    hello = hello_message()
    proto.dataReceived(frame(hello))
    [pubkey] = server_messages(transport.value())
    transport.clear()
    key, c2s, s2c, mac = answer_pubkey(hello, pubkey)
    proto.dataReceived(frame(key))
    [ready] = server_messages(transport.value())
    transport.clear()
    check_ready(ready, mac)
    sealer, opener = _keys.Sealer(c2s), _keys.Opener(s2c, HARD_RECORDS)
    proto.dataReceived(binary(sealer.seal(json.dumps({"type": "auth", "id": cid, "token": "t"}).encode())))
    if join:
        proto.dataReceived(binary(sealer.seal(b'{"type":"join","channel":"bench","request":1}')))
    answers = [opener.open(r) for r in server_messages(transport.value())]
    if not answers or b"authorized" not in answers[0]:
        raise RuntimeError(f"not authorized: {answers!r}")
    transport.clear()
    return proto, transport, sealer


def _under_null_cipher(setup: Setup) -> Setup:
    def built_under_null_cipher() -> Any:
        with null_cipher():
            return setup()

    return built_under_null_cipher


def _setups(plaintext: Setup, encrypted: Setup, split: bool) -> dict[str, Setup]:
    setups = {"plaintext": plaintext, "encrypted": encrypted}
    if split:
        setups["null cipher"] = _under_null_cipher(encrypted)
    return setups


def _sealed(sealer: _keys.Sealer, text: bytes, count: int) -> deque[bytes]:
    return deque(binary(sealer.seal(text)) for _ in range(count))


def request(data: str, total: int, split: bool = False) -> dict[str, Setup]:
    def encrypted():
        app = encrypted_app()
        proto, t, sealer = enc_client(app.factory, "c0", 0)
        frames = _sealed(sealer, json.dumps({"type": "message", "data": data, "request": 1}).encode(), total)
        return (lambda i: proto.dataReceived(frames.popleft())), [t], 1

    return _setups(plain_request(data)["socketnet"], encrypted, split)


def fanout(data: str, members: int, total: int, split: bool = False) -> dict[str, Setup]:
    def encrypted():
        app = encrypted_app()
        ts = [enc_client(app.factory, f"m{i}", i, join=True)[1] for i in range(members)]
        pub, t, sealer = enc_client(app.factory, "pub", members)
        frames = _sealed(sealer, json.dumps({"type": "message", "channel": "bench", "data": data}).encode(), total)
        return (lambda i: pub.dataReceived(frames.popleft())), ts + [t], members

    return _setups(plain_fanout(data, members)["socketnet"], encrypted, split)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._inproc_enc")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--null-cipher", action="store_true",
                        help="also run with AES-GCM replaced by a copy, to split the added cost")
    args = parser.parse_args()
    split = args.null_cipher
    data = payload(args.size)
    fan = max(1, args.count // args.members)
    workloads = {
        "request (per round trip)": (request(data, args.count * args.rounds, split), args.count),
        f"fanout (per delivery, {args.members} members)": (fanout(data, args.members, fan * args.rounds, split), fan),
    }
    print(f"socketnet server CPU µs per message in-process (no kernel, no event loop), {args.size}-byte payload, "
          f"best of {args.rounds} alternating rounds")
    for name, (setups, count) in workloads.items():
        best = compare(setups, count, args.rounds)
        plain, enc = best["plaintext"], best["encrypted"]
        print(f"  {name:36} plaintext {plain:6.1f}  encrypted {enc:6.1f}  added {enc - plain:+6.1f}  ({enc / plain:.2f}×)")
        if split:
            null = best["null cipher"]
            print(f"  {'':36} null cipher {null:6.1f}: socketnet's layer and records {null - plain:+6.1f}, "
                  f"AES-GCM {enc - null:+6.1f}")


if __name__ == "__main__":
    main()
