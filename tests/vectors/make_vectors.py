"""
Write C{tests/vectors/enc_v1.json}: known-answer vectors for
socketnet-enc/1 (see C{tests/vectors/README.md}).

Run by hand from the repository root::

    python tests/vectors/make_vectors.py

Every input is fixed, so running it again writes the same file byte for
byte; C{--check} only compares and exits 1 on a difference.  This script
deliberately does not import L{socketnet}: it restates the protocol with
the C{cryptography} primitives directly, so that C{tests/test_keys.py}
checks L{socketnet._keys} against an independent implementation.

RSA-OAEP encryption is randomised.  To keep the stored ciphertext fixed
(and reproducible) the script does the EME-OAEP encoding of RFC 8017
section 7.1.1 itself with a fixed seed and then raises it to the public
exponent; the result is an ordinary OAEP ciphertext, which the script
checks by decrypting it with the test key through C{cryptography}.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "enc_v1.json"
SERVER_KEY_FILE = "test_server_key.pem"

# The protocol, restated (socketnet-enc/1).
PROTOCOL = "socketnet-enc/1"
SUITE = "P256-RSA4096-AES256GCM-SHA256"
VERSION = 1
LABEL_PREFIX = b"socketnet-enc/1 "
HEADER = struct.Struct(">BBIQ")  # version u8, type u8, epoch u32, seq u64
RECORD_TYPES = {"data": 0, "key-update": 1}
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def fixed(name: str, length: int = 32) -> bytes:
    """
    A fixed, random-looking input: SHA-256 of a name, stretched if needed.
    """
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"socketnet-enc/1 test vector {name} {counter}".encode()).digest()
        counter += 1
    return out[:length]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode(frame: dict[str, Any]) -> bytes:
    """
    The handshake messages' encoding: compact JSON, ASCII, keys in the
    order given.
    """
    return json.dumps(frame, separators=(",", ":")).encode("ascii")


def encode_frame(frame: dict[str, Any]) -> bytes:
    """
    The application frames' encoding: compact JSON, UTF-8.
    """
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


# RSA-OAEP(SHA-256, MGF1-SHA-256, empty label) with a chosen seed.


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + struct.pack(">I", counter)).digest()
        counter += 1
    return out[:length]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def oaep_encrypt_with_seed(public_key: rsa.RSAPublicKey, message: bytes, seed: bytes) -> bytes:
    numbers = public_key.public_numbers()
    k = (public_key.key_size + 7) // 8
    h_len = 32
    if len(seed) != h_len or len(message) > k - 2 * h_len - 2:
        raise ValueError("bad OAEP input")
    l_hash = hashlib.sha256(b"").digest()
    db = l_hash + b"\x00" * (k - len(message) - 2 * h_len - 2) + b"\x01" + message
    masked_db = _xor(db, _mgf1(seed, k - h_len - 1))
    masked_seed = _xor(seed, _mgf1(masked_db, h_len))
    em = b"\x00" + masked_seed + masked_db
    return pow(int.from_bytes(em, "big"), numbers.e, numbers.n).to_bytes(k, "big")


# ECDH.


def ecdh_key(name: str) -> ec.EllipticCurvePrivateKey:
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(fixed(name), "big")
    if not 1 <= scalar < order:
        raise ValueError(f"{name}: scalar out of range")
    return ec.derive_private_key(scalar, ec.SECP256R1())


def ecdh_public(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def ecdh_description(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    numbers = key.private_numbers()
    d = numbers.private_value.to_bytes(32, "big")
    x = numbers.public_numbers.x.to_bytes(32, "big")
    y = numbers.public_numbers.y.to_bytes(32, "big")
    public = ecdh_public(key)
    return {
        "private_scalar_hex": d.hex(),
        "public_uncompressed_hex": public.hex(),
        "public_uncompressed_b64": b64(public),
        "jwk": {"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y), "d": b64url(d)},
    }


# Key schedule.


def transcript_input(*messages: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(m)) + m for m in messages)


def expand(secret: bytes, label: str, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, LABEL_PREFIX + label.encode("ascii")).derive(secret)


def info(label: str) -> dict[str, str]:
    data = LABEL_PREFIX + label.encode("ascii")
    return {"text": data.decode("ascii"), "hex": data.hex()}


def epoch_description(epoch: int, secret: bytes) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "secret_hex": secret.hex(),
        "key_hex": expand(secret, "key", 32).hex(),
        "iv_hex": expand(secret, "iv", 12).hex(),
        "next_secret_hex": expand(secret, "next", 32).hex(),
    }


# Records.


def seal(epoch: dict[str, Any], seq: int, kind: str, plaintext: bytes) -> tuple[bytes, bytes, bytes]:
    """
    @return: C{(header, nonce, record)}.
    """
    header = HEADER.pack(VERSION, RECORD_TYPES[kind], epoch["epoch"], seq)
    iv = int.from_bytes(bytes.fromhex(epoch["iv_hex"]), "big")
    nonce = (iv ^ seq).to_bytes(12, "big")
    body = AESGCM(bytes.fromhex(epoch["key_hex"])).encrypt(nonce, plaintext, header)
    return header, nonce, header + body


def record_description(
    name: str, epoch: dict[str, Any], seq: int, kind: str, plaintext: bytes, text: bool = True
) -> dict[str, Any]:
    header, nonce, record = seal(epoch, seq, kind, plaintext)
    return {
        "name": name,
        "epoch": epoch["epoch"],
        "seq": seq,
        "type": kind,
        "type_code": RECORD_TYPES[kind],
        "plaintext_utf8": plaintext.decode("utf-8") if text else None,
        "plaintext_hex": plaintext.hex(),
        "header_hex": header.hex(),
        "nonce_hex": nonce.hex(),
        "ciphertext_and_tag_hex": record[HEADER.size :].hex(),
        "record_hex": record.hex(),
        "expect": "key-update" if kind == "key-update" else "plaintext",
    }


def flip(data: bytes, byte: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[byte] ^= 1 << bit
    return bytes(out)


def build() -> dict[str, Any]:
    # Fixed inputs.
    secret_k = fixed("K")
    client_nonce = fixed("client nonce")
    server_nonce = fixed("server nonce")
    client_ecdh = ecdh_key("client ECDH scalar")
    server_ecdh = ecdh_key("server ECDH scalar")
    oaep_seed = fixed("OAEP seed")

    pem = (HERE / SERVER_KEY_FILE).read_bytes()
    server_key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(server_key, rsa.RSAPrivateKey) and server_key.key_size == 4096
    public = server_key.public_key()
    assert public.public_numbers().e == 65537
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs8 = server_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fingerprint = "sha256:" + hashlib.sha256(spki).hexdigest()

    ciphertext = oaep_encrypt_with_seed(public, secret_k, oaep_seed)
    if server_key.decrypt(ciphertext, OAEP) != secret_k:
        raise AssertionError("the fixed OAEP ciphertext does not decrypt to K")

    # Handshake messages 1-3, in socketnet/_encryption.py's layout.
    hello = encode({"type": "enc.hello", "version": VERSION, "suites": [SUITE], "nonce": b64(client_nonce)})
    pubkey = encode(
        {
            "type": "enc.pubkey",
            "suite": SUITE,
            "key": b64(spki),
            "nonce": b64(server_nonce),
            "ecdh": b64(ecdh_public(server_ecdh)),
        }
    )
    key = encode({"type": "enc.key", "key": b64(ciphertext), "ecdh": b64(ecdh_public(client_ecdh))})

    # Key schedule.
    th_input = transcript_input(hello, pubkey, key)
    th = hashlib.sha256(th_input).digest()
    shared = client_ecdh.exchange(ec.ECDH(), server_ecdh.public_key())
    if shared != server_ecdh.exchange(ec.ECDH(), client_ecdh.public_key()):
        raise AssertionError("ECDH disagrees")
    ikm = secret_k + shared
    prk = hmac.new(th, ikm, hashlib.sha256).digest()
    c2s = expand(prk, "c2s", 32)
    s2c = expand(prk, "s2c", 32)
    finished = expand(prk, "finished", 32)
    for label, value in (("c2s", c2s), ("s2c", s2c), ("finished", finished)):
        # Extract-then-expand in one call (what WebCrypto's HKDF does).
        one_call = HKDF(hashes.SHA256(), 32, salt=th, info=LABEL_PREFIX + label.encode()).derive(ikm)
        if one_call != value:
            raise AssertionError(f"HKDF disagrees for {label}")
    mac = hmac.new(finished, th, hashlib.sha256).digest()
    ready = encode({"type": "enc.ready", "mac": b64(mac)})

    epochs = {}
    for direction, secret in (("c2s", c2s), ("s2c", s2c)):
        e0 = epoch_description(0, secret)
        e1 = epoch_description(1, bytes.fromhex(e0["next_secret_hex"]))
        epochs[direction] = [e0, e1]

    # Records.
    ping = encode_frame({"type": "ping"})
    auth = encode_frame({"type": "auth", "id": "client-1", "token": "s3cret-token", "data": {"name": "Zoë"}})
    message = encode_frame({"type": "message", "data": "first record of epoch 1"})
    pong = encode_frame({"type": "pong"})
    c2s_e0, c2s_e1 = epochs["c2s"]
    s2c_e0 = epochs["s2c"][0]
    records = {
        "c2s": [
            record_description("ping", c2s_e0, 0, "data", ping),
            record_description("auth", c2s_e0, 1, "data", auth),
            record_description("key update", c2s_e0, 2, "key-update", b""),
            record_description("first record of epoch 1", c2s_e1, 0, "data", message),
        ],
        "s2c": [record_description("pong", s2c_e0, 0, "data", pong)],
    }
    c2s_records = [bytes.fromhex(r["record_hex"]) for r in records["c2s"]]
    s2c_records = [bytes.fromhex(r["record_hex"]) for r in records["s2c"]]
    ping_record, auth_record, update_record, epoch1_record = c2s_records
    _, _, update_with_payload = seal(c2s_e0, 0, "key-update", b"x")
    _, _, forged_epoch = seal(c2s_e0, 0, "data", ping)
    forged_epoch = HEADER.pack(VERSION, 0, 1, 0) + forged_epoch[HEADER.size :]

    def negative(name: str, opener: str, after: int, record: bytes, why: str) -> dict[str, Any]:
        return {
            "name": name,
            "opener": opener,
            "after_records": after,
            "record_hex": record.hex(),
            "why": why,
            "expect": "reject",
        }

    negatives = [
        negative("flipped bit in body", "c2s", 0, flip(ping_record, 14), "first ciphertext byte changed: tag fails"),
        negative("flipped bit in tag", "c2s", 0, flip(ping_record, len(ping_record) - 1, 7), "last tag byte changed"),
        negative(
            "flipped bit in header type",
            "c2s",
            0,
            flip(ping_record, 1),
            "data record relabelled as key update: the header is the AAD, so the tag fails",
        ),
        negative("flipped bit in header seq", "c2s", 0, flip(ping_record, 13), "seq 1 where 0 is expected"),
        negative("replayed record", "c2s", 1, ping_record, "seq 0 again where 1 is expected"),
        negative("swapped records", "c2s", 0, auth_record, "seq 1 where 0 is expected (records reordered)"),
        negative("deleted record", "c2s", 1, update_record, "seq 2 where 1 is expected (a record dropped)"),
        negative(
            "wrong epoch: epoch-1 record before the key update",
            "c2s",
            2,
            epoch1_record,
            "epoch 1 where epoch 0 is current",
        ),
        negative(
            "wrong epoch: epoch-0 record after the key update",
            "c2s",
            3,
            ping_record,
            "epoch 0 where epoch 1 is current",
        ),
        negative(
            "wrong epoch: header epoch edited to 1",
            "c2s",
            0,
            forged_epoch,
            "epoch field 1 on a fresh receiver (epoch 0)",
        ),
        negative(
            "reflected record",
            "s2c",
            0,
            ping_record,
            "the client's own c2s record sent back to it: right epoch and seq, wrong direction keys",
        ),
        negative(
            "reflected record (server side)",
            "c2s",
            0,
            s2c_records[0],
            "the server's own s2c record sent back to it",
        ),
        negative("unknown version", "c2s", 0, b"\x02" + ping_record[1:], "version 2"),
        negative("unknown type", "c2s", 0, ping_record[:1] + b"\x02" + ping_record[2:], "record type 2"),
        negative("truncated record", "c2s", 0, ping_record[: HEADER.size + 15], "shorter than header + tag"),
        negative(
            "key update with a payload",
            "c2s",
            0,
            update_with_payload,
            "valid tag, but a key-update record must be empty",
        ),
    ]

    # Bad key ciphertexts: the server must refuse each the same way.
    short = ciphertext[:511]
    garbage = fixed("garbage ciphertext", 512)
    wrong_length_secret = oaep_encrypt_with_seed(public, secret_k[:31], fixed("OAEP seed 31"))
    if server_key.decrypt(wrong_length_secret, OAEP) != secret_k[:31]:
        raise AssertionError("the 31-byte OAEP ciphertext does not decrypt")
    bad_ciphertexts = [
        {"name": "511 bytes", "ciphertext_b64": b64(short), "expect": "reject"},
        {"name": "512 bytes that are not OAEP", "ciphertext_b64": b64(garbage), "expect": "reject"},
        {
            "name": "valid OAEP of a 31-byte secret",
            "ciphertext_b64": b64(wrong_length_secret),
            "expect": "reject",
        },
    ]

    return {
        "protocol": PROTOCOL,
        "description": (
            "Known-answer vectors for socketnet-enc/1, written by tests/vectors/make_vectors.py from fixed inputs. "
            "Byte strings are lowercase hex (*_hex) or standard base64 with padding (*_b64) where the wire uses base64. "
            "See tests/vectors/README.md."
        ),
        "suite": SUITE,
        "version": VERSION,
        "hkdf_label_prefix": info("")["text"],
        "record_header": {
            "layout": "version u8, type u8, epoch u32, seq u64, big-endian, 14 bytes",
            "size": HEADER.size,
            "types": RECORD_TYPES,
            "tag_size": 16,
        },
        "inputs": {
            "secret_k_hex": secret_k.hex(),
            "client_nonce_hex": client_nonce.hex(),
            "client_nonce_b64": b64(client_nonce),
            "server_nonce_hex": server_nonce.hex(),
            "server_nonce_b64": b64(server_nonce),
            "client_ecdh": ecdh_description(client_ecdh),
            "server_ecdh": ecdh_description(server_ecdh),
        },
        "server_rsa_key": {
            "pem_file": SERVER_KEY_FILE,
            "modulus_bits": server_key.key_size,
            "public_exponent": 65537,
            "spki_der_b64": b64(spki),
            "fingerprint": fingerprint,
            "pkcs8_der_b64": b64(pkcs8),
        },
        "key_transport": {
            "scheme": "RSA-OAEP, SHA-256 hash, MGF1-SHA-256, empty label",
            "oaep_seed_hex": oaep_seed.hex(),
            "ciphertext_b64": b64(ciphertext),
            "ciphertext_length": len(ciphertext),
            "decrypts_to": "inputs.secret_k_hex",
        },
        "handshake": {
            name: {"text": data.decode("ascii"), "hex": data.hex(), "length": len(data)}
            for name, data in (("hello", hello), ("pubkey", pubkey), ("key", key), ("ready", ready))
        },
        "transcript": {
            "messages": ["hello", "pubkey", "key"],
            "input_hex": th_input.hex(),
            "hash_hex": th.hex(),
        },
        "ecdh_shared_secret_hex": shared.hex(),
        "schedule": {
            "ikm_hex": ikm.hex(),
            "salt_hex": th.hex(),
            "prk_hex": prk.hex(),
            "info": {label: info(label) for label in ("c2s", "s2c", "finished", "key", "iv", "next")},
            "c2s_secret_hex": c2s.hex(),
            "s2c_secret_hex": s2c.hex(),
            "finished_key_hex": finished.hex(),
            "ready_mac_hex": mac.hex(),
            "ready_mac_b64": b64(mac),
        },
        "epochs": epochs,
        "records": records,
        "negative_records": negatives,
        "negative_key_ciphertexts": bad_ciphertexts,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=True) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the stored file instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text("ascii") != text:
            print(f"{OUTPUT} is out of date", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date")
        return 0
    OUTPUT.write_text(text, "ascii")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
