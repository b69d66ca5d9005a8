# -*- test-case-name: tests.test_keys -*-
"""
Tests for L{socketnet._keys}: the socketnet-enc/1 known-answer vectors in
C{tests/vectors/enc_v1.json} (written by C{tests/vectors/make_vectors.py},
an implementation independent of L{socketnet}), and property checks of
the key schedule, records and server-key checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import types
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from socketnet import _encryption, _frames, _keys

VECTORS_DIR = Path(__file__).parent / "vectors"
V: dict[str, Any] = json.loads((VECTORS_DIR / "enc_v1.json").read_text("ascii"))


def _hex(value: str) -> bytes:
    return bytes.fromhex(value)


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _load_private(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((VECTORS_DIR / name).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


SERVER_KEY = _load_private(V["server_rsa_key"]["pem_file"])
K = _hex(V["inputs"]["secret_k_hex"])
TH = _hex(V["transcript"]["hash_hex"])
SHARED = _hex(V["ecdh_shared_secret_hex"])
SCHEDULE = V["schedule"]
C2S = _hex(SCHEDULE["c2s_secret_hex"])
S2C = _hex(SCHEDULE["s2c_secret_hex"])
HARD_LIMIT = 2**24


def _ecdh(side: str) -> ec.EllipticCurvePrivateKey:
    scalar = int(V["inputs"][f"{side}_ecdh"]["private_scalar_hex"], 16)
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _message(name: str) -> bytes:
    return _hex(V["handshake"][name]["hex"])


def _records(direction: str) -> list[bytes]:
    return [_hex(r["record_hex"]) for r in V["records"][direction]]


class InputTests(SynchronousTestCase):
    """
    The fixed inputs agree with each other and with L{socketnet._keys}.
    """

    def test_lengths(self) -> None:
        """
        K and both nonces have the protocol's lengths, and the hex and
        base64 spellings of each nonce are the same bytes.
        """
        inputs = V["inputs"]
        self.assertEqual(len(K), _keys.SECRET_LENGTH)
        for side in ("client", "server"):
            nonce = _hex(inputs[f"{side}_nonce_hex"])
            self.assertEqual(len(nonce), _keys.NONCE_LENGTH)
            self.assertEqual(_b64(inputs[f"{side}_nonce_b64"]), nonce)

    def test_ecdh_public_keys(self) -> None:
        """
        Each side's ECDH public key (raw and base64) is what
        L{_keys.ecdh_public_bytes} gives for its fixed scalar, and its JWK
        spells the same scalar and point.
        """
        for side in ("client", "server"):
            described = V["inputs"][f"{side}_ecdh"]
            key = _ecdh(side)
            public = _keys.ecdh_public_bytes(key)
            self.assertEqual(public.hex(), described["public_uncompressed_hex"])
            self.assertEqual(_b64(described["public_uncompressed_b64"]), public)
            jwk = described["jwk"]

            def unurl(text: str) -> bytes:
                return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

            self.assertEqual(unurl(jwk["d"]).hex(), described["private_scalar_hex"])
            self.assertEqual(b"\x04" + unurl(jwk["x"]) + unurl(jwk["y"]), public)

    def test_server_key(self) -> None:
        """
        The test key's SubjectPublicKeyInfo DER and fingerprint are what
        L{_keys.public_der} and L{_keys.fingerprint_der} give, its PKCS#8
        DER is the PEM file's key, and L{_keys.load_server_public_key}
        accepts it when pinned.
        """
        described = V["server_rsa_key"]
        der = _keys.public_der(SERVER_KEY.public_key())
        self.assertEqual(base64.b64encode(der).decode(), described["spki_der_b64"])
        self.assertEqual(_keys.fingerprint_der(der), described["fingerprint"])
        self.assertEqual(described["fingerprint"], "sha256:" + hashlib.sha256(der).hexdigest())
        self.assertEqual(described["modulus_bits"], _keys.RSA_BITS)
        self.assertEqual(described["public_exponent"], SERVER_KEY.public_key().public_numbers().e)
        from_pkcs8 = serialization.load_der_private_key(_b64(described["pkcs8_der_b64"]), password=None)
        self.assertEqual(from_pkcs8.private_numbers(), SERVER_KEY.private_numbers())  # type: ignore[union-attr]
        key = _keys.load_server_public_key(der, frozenset({described["fingerprint"]}))
        self.assertEqual(key.public_numbers(), SERVER_KEY.public_key().public_numbers())

    def test_key_ciphertext_decrypts_to_k(self) -> None:
        """
        The stored RSA-OAEP ciphertext is 512 bytes and
        L{_keys.decrypt_secret} turns it into K with the test key.
        """
        ciphertext = _b64(V["key_transport"]["ciphertext_b64"])
        self.assertEqual(len(ciphertext), _keys.CIPHERTEXT_LENGTH)
        self.assertEqual(V["key_transport"]["ciphertext_length"], _keys.CIPHERTEXT_LENGTH)
        self.assertEqual(_keys.decrypt_secret(SERVER_KEY, ciphertext), K)

    def test_header_constants(self) -> None:
        """
        The vectors' header description matches L{_keys}: 14 bytes, type
        codes, tag size, version and suite.
        """
        header = V["record_header"]
        self.assertEqual(header["size"], _keys.HEADER.size)
        self.assertEqual(
            header["types"], {"data": _keys.RECORD_DATA, "key-update": _keys.RECORD_KEY_UPDATE}
        )
        self.assertEqual(header["tag_size"], _keys.TAG_LENGTH)
        self.assertEqual(V["version"], _keys.VERSION)
        self.assertEqual(V["suite"], _keys.SUITE)
        self.assertEqual(V["hkdf_label_prefix"].encode(), _keys._LABEL)


class HandshakeVectorTests(SynchronousTestCase):
    """
    The handshake messages and everything derived from them.
    """

    def test_message_fields(self) -> None:
        """
        Each handshake message is the compact JSON of its fields, in the
        order L{socketnet._encryption} writes them, carrying the fixed
        inputs; re-encoding the fields with L{_encryption._encode} gives
        the same bytes.
        """
        inputs = V["inputs"]
        expected = {
            "hello": {
                "type": "enc.hello",
                "version": _keys.VERSION,
                "suites": [_keys.SUITE],
                "nonce": inputs["client_nonce_b64"],
            },
            "pubkey": {
                "type": "enc.pubkey",
                "suite": _keys.SUITE,
                "key": V["server_rsa_key"]["spki_der_b64"],
                "nonce": inputs["server_nonce_b64"],
                "ecdh": inputs["server_ecdh"]["public_uncompressed_b64"],
            },
            "key": {
                "type": "enc.key",
                "key": V["key_transport"]["ciphertext_b64"],
                "ecdh": inputs["client_ecdh"]["public_uncompressed_b64"],
            },
            "ready": {"type": "enc.ready", "mac": SCHEDULE["ready_mac_b64"]},
        }
        for name, fields in expected.items():
            message = _message(name)
            self.assertEqual(V["handshake"][name]["text"].encode("ascii"), message)
            self.assertEqual(V["handshake"][name]["length"], len(message))
            self.assertEqual(list(json.loads(message).items()), list(fields.items()), name)
            self.assertEqual(_encryption._encode(fields), message, name)

    def test_transcript_hash(self) -> None:
        """
        L{_keys.transcript_hash} of messages 1-3 is the vector's hash, and
        is SHA-256 of the vector's length-prefixed input.
        """
        messages = [_message(name) for name in V["transcript"]["messages"]]
        self.assertEqual(V["transcript"]["messages"], ["hello", "pubkey", "key"])
        self.assertEqual(_keys.transcript_hash(*messages), TH)
        self.assertEqual(hashlib.sha256(_hex(V["transcript"]["input_hex"])).digest(), TH)
        prefixed = b"".join(len(m).to_bytes(4, "big") + m for m in messages)
        self.assertEqual(prefixed.hex(), V["transcript"]["input_hex"])

    def test_ecdh_shared_secret(self) -> None:
        """
        L{_keys.ecdh_shared} gives the vector's shared secret from either
        side.
        """
        client_public = _hex(V["inputs"]["client_ecdh"]["public_uncompressed_hex"])
        server_public = _hex(V["inputs"]["server_ecdh"]["public_uncompressed_hex"])
        self.assertEqual(_keys.ecdh_shared(_ecdh("client"), server_public), SHARED)
        self.assertEqual(_keys.ecdh_shared(_ecdh("server"), client_public), SHARED)

    def test_prk(self) -> None:
        """
        The PRK is HKDF-Extract(salt = transcript hash, IKM = K || ECDH
        secret), and the one-call HKDF (extract then expand, as WebCrypto
        does it) with each label gives the same secrets as
        L{_keys.schedule}.
        """
        self.assertEqual(_hex(SCHEDULE["ikm_hex"]), K + SHARED)
        self.assertEqual(_hex(SCHEDULE["salt_hex"]), TH)
        self.assertEqual(hmac.new(TH, K + SHARED, hashlib.sha256).hexdigest(), SCHEDULE["prk_hex"])
        for label in ("c2s", "s2c", "finished"):
            info = _hex(SCHEDULE["info"][label]["hex"])
            self.assertEqual(info, _keys._LABEL + label.encode())
            derived = HKDF(hashes.SHA256(), 32, salt=TH, info=info).derive(K + SHARED)
            name = "finished_key_hex" if label == "finished" else f"{label}_secret_hex"
            self.assertEqual(derived.hex(), SCHEDULE[name])

    def test_schedule(self) -> None:
        """
        L{_keys.schedule} gives the vector's c2s, s2c and finished secrets.
        """
        c2s, s2c, finished = _keys.schedule(K, SHARED, TH)
        self.assertEqual(c2s, C2S)
        self.assertEqual(s2c, S2C)
        self.assertEqual(finished.hex(), SCHEDULE["finished_key_hex"])

    def test_ready_mac(self) -> None:
        """
        L{_keys.finished_mac} over the transcript hash is the MAC that the
        vector's C{enc.ready} carries.
        """
        mac = _keys.finished_mac(_hex(SCHEDULE["finished_key_hex"]), TH)
        self.assertEqual(mac.hex(), SCHEDULE["ready_mac_hex"])
        self.assertEqual(_b64(SCHEDULE["ready_mac_b64"]), mac)
        self.assertEqual(_b64(json.loads(_message("ready"))["mac"]), mac)

    def test_epoch_keys(self) -> None:
        """
        L{_keys.epoch_keys} gives each direction's epoch-0 key, IV and next
        secret, and the next secret gives epoch 1's.
        """
        for direction, secret in (("c2s", C2S), ("s2c", S2C)):
            epoch0, epoch1 = V["epochs"][direction]
            self.assertEqual((epoch0["epoch"], epoch1["epoch"]), (0, 1))
            self.assertEqual(_hex(epoch0["secret_hex"]), secret)
            self.assertEqual(epoch1["secret_hex"], epoch0["next_secret_hex"])
            for described in (epoch0, epoch1):
                key, iv, following = _keys.epoch_keys(_hex(described["secret_hex"]))
                self.assertEqual((len(key), len(iv), len(following)), (32, 12, 32))
                self.assertEqual(
                    (key.hex(), iv.hex(), following.hex()),
                    (described["key_hex"], described["iv_hex"], described["next_secret_hex"]),
                )


class HandshakeLayerTests(SynchronousTestCase):
    """
    The encryption layers themselves, with their randomness replaced by
    the fixed inputs, write exactly the vectors' handshake messages and
    records.
    """

    def _patch_randomness(self, outputs: list[bytes], ecdh: ec.EllipticCurvePrivateKey) -> None:
        def urandom(n: int) -> bytes:
            value = outputs.pop(0)
            assert len(value) == n
            return value

        def encrypt_secret(public_key: rsa.RSAPublicKey, secret: bytes) -> bytes:
            assert secret == K
            assert _keys.public_der(public_key) == _b64(V["server_rsa_key"]["spki_der_b64"])
            return _b64(V["key_transport"]["ciphertext_b64"])

        self.patch(_encryption, "os", types.SimpleNamespace(urandom=urandom))
        self.patch(_keys, "ecdh_private", lambda: ecdh)
        self.patch(_keys, "encrypt_secret", encrypt_secret)

    def test_client_layer(self) -> None:
        """
        The client layer writes the vectors' C{enc.hello} and C{enc.key},
        accepts their C{enc.ready}, then seals C{ping} and the auth frame
        into the vectors' first two c2s records and opens the s2c C{pong}.
        """
        self._patch_randomness([_hex(V["inputs"]["client_nonce_hex"]), K], _ecdh("client"))
        written: list[tuple[bytes, bool]] = []
        delivered: list[tuple[bytes, bool]] = []
        encrypted: list[bool] = []
        layer = _encryption.ClientEncryptionLayer(
            frozenset({V["server_rsa_key"]["fingerprint"]}),
            _encryption.EncryptionLimits(),
            lambda: encrypted.append(True),
            self.fail,
            Clock(),
            written.append,
            delivered.append,
            lambda code, reason: self.fail(f"closed {code} {reason}"),
        )
        layer.start()
        layer.write(_hex(V["records"]["c2s"][0]["plaintext_hex"]))
        layer.write(_hex(V["records"]["c2s"][1]["plaintext_hex"]))
        layer.receive((_message("pubkey"), False))
        self.assertEqual(written, [(_message("hello"), False), (_message("key"), False)])
        layer.receive((_message("ready"), False))
        self.assertEqual(encrypted, [True])
        self.assertEqual(written[2:], [(record, True) for record in _records("c2s")[:2]])
        layer.receive((_records("s2c")[0], True))
        self.assertEqual(delivered, [(_hex(V["records"]["s2c"][0]["plaintext_hex"]), False)])

    def test_server_layer(self) -> None:
        """
        The server layer answers the vectors' C{enc.hello} with their
        C{enc.pubkey} and their C{enc.key} with their C{enc.ready}, opens
        the c2s records, and seals C{pong} into the vectors' s2c record.
        """
        self._patch_randomness([_hex(V["inputs"]["server_nonce_hex"])], _ecdh("server"))
        written: list[tuple[bytes, bool]] = []
        delivered: list[tuple[bytes, bool]] = []
        layer = _encryption.ServerEncryptionLayer(
            "required",
            _encryption.ServerKey(SERVER_KEY),
            _encryption.DecryptGate(maybeDeferred),
            _encryption.EncryptionLimits(),
            lambda: None,
            Clock(),
            written.append,
            delivered.append,
            lambda code, reason: self.fail(f"closed {code} {reason}"),
        )
        layer.start()
        layer.receive((_message("hello"), False))
        self.assertEqual(written, [(_message("pubkey"), False)])
        layer.receive((_message("key"), False))
        self.assertEqual(written[1:], [(_message("ready"), False)])
        for record in _records("c2s"):
            layer.receive((record, True))
        self.assertEqual(
            delivered,
            [(_hex(r["plaintext_hex"]), False) for r in V["records"]["c2s"] if r["type"] == "data"],
        )
        layer.write(_hex(V["records"]["s2c"][0]["plaintext_hex"]))
        self.assertEqual(written[2:], [(_records("s2c")[0], True)])


class RecordVectorTests(SynchronousTestCase):
    """
    L{_keys.Sealer} and L{_keys.Opener} against the vectors' records.
    """

    def test_frames(self) -> None:
        """
        The records' plaintexts are what L{socketnet._frames} builds for
        C{ping}, C{auth} and C{pong}.
        """
        c2s = V["records"]["c2s"]
        self.assertEqual(_hex(c2s[0]["plaintext_hex"]), _frames.PING)
        self.assertEqual(_hex(c2s[1]["plaintext_hex"]), _frames.auth("client-1", "s3cret-token", {"name": "Zoë"}))
        self.assertEqual(_hex(V["records"]["s2c"][0]["plaintext_hex"]), _frames.PONG)
        for record in c2s + V["records"]["s2c"]:
            self.assertEqual(record["plaintext_utf8"].encode("utf-8"), _hex(record["plaintext_hex"]))

    def test_headers_and_nonces(self) -> None:
        """
        Each record starts with its 14-byte header (version, type, epoch,
        seq), its nonce is its epoch's IV xor seq, and the rest is
        ciphertext followed by a 16-byte tag.
        """
        for direction in ("c2s", "s2c"):
            for described in V["records"][direction]:
                record = _hex(described["record_hex"])
                header = _hex(described["header_hex"])
                self.assertEqual(
                    header,
                    _keys.HEADER.pack(_keys.VERSION, described["type_code"], described["epoch"], described["seq"]),
                )
                self.assertEqual(record[: _keys.HEADER.size], header)
                self.assertEqual(record[_keys.HEADER.size :].hex(), described["ciphertext_and_tag_hex"])
                plaintext = _hex(described["plaintext_hex"])
                self.assertEqual(len(record), _keys.HEADER.size + len(plaintext) + _keys.TAG_LENGTH)
                iv = int(V["epochs"][direction][described["epoch"]]["iv_hex"], 16)
                self.assertEqual(described["nonce_hex"], (iv ^ described["seq"]).to_bytes(12, "big").hex())

    def test_sealer_reproduces_records(self) -> None:
        """
        L{_keys.Sealer} seals the vectors' plaintexts into exactly their
        records, the key update included, and moves to epoch 1 with
        sequence 0 after it.
        """
        for direction, secret in (("c2s", C2S), ("s2c", S2C)):
            sealer = _keys.Sealer(secret)
            for described in V["records"][direction]:
                self.assertEqual((sealer.epoch, sealer.sequence), (described["epoch"], described["seq"]))
                if described["type"] == "key-update":
                    record = sealer.seal_key_update()
                    self.assertEqual((sealer.epoch, sealer.sequence, sealer.octets), (1, 0, 0))
                else:
                    record = sealer.seal(_hex(described["plaintext_hex"]))
                self.assertEqual(record.hex(), described["record_hex"], described["name"])

    def test_opener_opens_records(self) -> None:
        """
        L{_keys.Opener} opens each of the vectors' records in order: data
        records give their plaintext, the key update gives C{None} and
        moves the opener to epoch 1, where the next record opens.
        """
        for direction, secret in (("c2s", C2S), ("s2c", S2C)):
            opener = _keys.Opener(secret, HARD_LIMIT)
            for described in V["records"][direction]:
                self.assertEqual((opener.epoch, opener.sequence), (described["epoch"], described["seq"]))
                result = opener.open(_hex(described["record_hex"]))
                if described["expect"] == "key-update":
                    self.assertIsNone(result)
                    self.assertEqual((opener.epoch, opener.sequence), (1, 0))
                else:
                    self.assertEqual(result, _hex(described["plaintext_hex"]))
        self.assertEqual(opener.epoch, 0)  # s2c has no key update

    def test_negative_records(self) -> None:
        """
        Every negative vector (flipped bits in header, body and tag,
        replay, reordering, deletion, wrong epoch, reflection, unknown
        version or type, truncation, a key update with a payload) raises
        L{_keys.BadRecord} from an opener that has first opened the
        vector's valid prefix of records.
        """
        self.assertTrue(V["negative_records"])
        secrets = {"c2s": C2S, "s2c": S2C}
        for negative in V["negative_records"]:
            self.assertEqual(negative["expect"], "reject")
            direction = negative["opener"]
            opener = _keys.Opener(secrets[direction], HARD_LIMIT)
            for record in _records(direction)[: negative["after_records"]]:
                opener.open(record)
            state = (opener.epoch, opener.sequence)
            with self.assertRaises(_keys.BadRecord, msg=negative["name"]):
                opener.open(_hex(negative["record_hex"]))
            if negative["name"] != "key update with a payload":
                # Refused before it changed anything.
                self.assertEqual((opener.epoch, opener.sequence), state, negative["name"])

    def test_negative_key_ciphertexts(self) -> None:
        """
        L{_keys.decrypt_secret} raises L{ValueError} for each of the
        vectors' bad key ciphertexts.
        """
        for negative in V["negative_key_ciphertexts"]:
            self.assertEqual(negative["expect"], "reject")
            with self.assertRaises(ValueError, msg=negative["name"]):
                _keys.decrypt_secret(SERVER_KEY, _b64(negative["ciphertext_b64"]))


class PropertyTests(SynchronousTestCase):
    """
    Properties of the key schedule and records beyond the fixed vectors.
    """

    def _session(self, secret: bytes, server_key: rsa.RSAPrivateKey = SERVER_KEY) -> tuple[bytes, bytes, bytes]:
        """
        Derive a session's secrets from C{secret} with fresh nonces and
        ECDH keys, through real handshake messages.
        """
        client_ecdh, server_ecdh = _keys.ecdh_private(), _keys.ecdh_private()
        hello = _encryption._encode(
            {"type": "enc.hello", "version": 1, "suites": [_keys.SUITE], "nonce": _encryption._b64(os.urandom(32))}
        )
        pubkey = _encryption._encode(
            {
                "type": "enc.pubkey",
                "suite": _keys.SUITE,
                "key": _encryption._b64(_keys.public_der(server_key.public_key())),
                "nonce": _encryption._b64(os.urandom(32)),
                "ecdh": _encryption._b64(_keys.ecdh_public_bytes(server_ecdh)),
            }
        )
        key = _encryption._encode(
            {
                "type": "enc.key",
                "key": _encryption._b64(_keys.encrypt_secret(server_key.public_key(), secret)),
                "ecdh": _encryption._b64(_keys.ecdh_public_bytes(client_ecdh)),
            }
        )
        shared = _keys.ecdh_shared(client_ecdh, _keys.ecdh_public_bytes(server_ecdh))
        return _keys.schedule(secret, shared, _keys.transcript_hash(hello, pubkey, key))

    def test_same_k_two_sessions(self) -> None:
        """
        The same K in two sessions (different nonces and ECDH keys) gives
        different secrets, epoch keys and records.
        """
        first, second = self._session(K), self._session(K)
        for a, b in zip(first, second):
            self.assertNotEqual(a, b)
        self.assertNotEqual(_keys.epoch_keys(first[0])[:2], _keys.epoch_keys(second[0])[:2])
        self.assertNotEqual(_keys.Sealer(first[0]).seal(_frames.PING), _keys.Sealer(second[0]).seal(_frames.PING))

    def test_directions_differ(self) -> None:
        """
        The c2s, s2c and finished secrets all differ, and so do the two
        directions' keys, IVs and next secrets, in the vectors and in a
        fresh session.
        """
        for c2s, s2c, finished in (_keys.schedule(K, SHARED, TH), self._session(os.urandom(32))):
            self.assertEqual(len({c2s, s2c, finished}), 3)
            for mine, theirs in zip(_keys.epoch_keys(c2s), _keys.epoch_keys(s2c)):
                self.assertNotEqual(mine, theirs)

    def test_reflected_record(self) -> None:
        """
        A record reflected back to its sender does not open with the
        sender's own opener (the other direction's keys), although epoch
        and sequence number match.
        """
        c2s, s2c, _ = self._session(os.urandom(32))
        client_sealer, client_opener = _keys.Sealer(c2s), _keys.Opener(s2c, HARD_LIMIT)
        server_sealer, server_opener = _keys.Sealer(s2c), _keys.Opener(c2s, HARD_LIMIT)
        record = client_sealer.seal(_frames.PING)
        self.assertRaises(_keys.BadRecord, client_opener.open, record)
        self.assertEqual(server_opener.open(record), _frames.PING)
        record = server_sealer.seal(_frames.PONG)
        self.assertRaises(_keys.BadRecord, server_opener.open, record)
        self.assertEqual(client_opener.open(record), _frames.PONG)

    def test_hard_limit(self) -> None:
        """
        L{_keys.Opener} refuses a record whose sequence number reaches its
        hard limit, even with a valid tag, key updates included; a new
        epoch starts counting again.
        """
        data_sealer, update_sealer = _keys.Sealer(C2S), _keys.Sealer(C2S)
        opener = _keys.Opener(C2S, 3)
        for n in range(3):
            record = data_sealer.seal(b"%d" % n)
            self.assertEqual(update_sealer.seal(b"%d" % n), record)
            self.assertEqual(opener.open(record), b"%d" % n)
        for record in (data_sealer.seal(b"3"), update_sealer.seal_key_update()):
            with self.assertRaises(_keys.BadRecord) as caught:
                opener.open(record)
            self.assertEqual(str(caught.exception), "too many records in one epoch")
        self.assertEqual((opener.epoch, opener.sequence), (0, 3))

        sealer, opener = _keys.Sealer(C2S), _keys.Opener(C2S, 3)
        opener.open(sealer.seal(b"0"))
        opener.open(sealer.seal(b"1"))
        self.assertIsNone(opener.open(sealer.seal_key_update()))
        for n in range(3):
            self.assertEqual(opener.open(sealer.seal(b"%d" % n)), b"%d" % n)
        self.assertRaises(_keys.BadRecord, opener.open, sealer.seal(b"3"))

    def test_record_nonces_distinct(self) -> None:
        """
        Successive records of one epoch use distinct nonces (IV xor seq),
        so the same plaintext seals to different records.
        """
        sealer = _keys.Sealer(C2S)
        records = [sealer.seal(_frames.PING) for _ in range(4)]
        bodies = {record[_keys.HEADER.size :] for record in records}
        self.assertEqual(len(bodies), 4)

    def test_refused_record_changes_nothing(self) -> None:
        """
        After refusing a record (a flipped bit, a replay, the wrong
        epoch), an opener still opens the next valid record and the ones
        after it, across a key update.
        """
        sealer, opener = _keys.Sealer(C2S), _keys.Opener(C2S, HARD_LIMIT)
        first = sealer.seal(b"0")
        self.assertEqual(opener.open(first), b"0")
        second = sealer.seal(b"1")
        damaged = bytearray(second)
        damaged[-1] ^= 0x01
        wrong_epoch = _keys.HEADER.pack(_keys.VERSION, _keys.RECORD_DATA, 1, 1) + second[_keys.HEADER.size :]
        for refused in (bytes(damaged), first, wrong_epoch, second[:-1]):
            self.assertRaises(_keys.BadRecord, opener.open, refused)
            self.assertEqual((opener.epoch, opener.sequence), (0, 1))
        self.assertEqual(opener.open(second), b"1")
        self.assertIsNone(opener.open(sealer.seal_key_update()))
        self.assertRaises(_keys.BadRecord, opener.open, second)
        self.assertEqual(opener.open(sealer.seal(b"2")), b"2")
        self.assertEqual((opener.epoch, opener.sequence), (1, 1))

    def test_large_records(self) -> None:
        """
        Records on both sides of the size where the opener stops copying
        the body (L{_keys._VIEW_FROM}) open, and a flipped bit anywhere
        in a large one is refused.
        """
        sealer, opener = _keys.Sealer(C2S), _keys.Opener(C2S, HARD_LIMIT)
        for size in (_keys._VIEW_FROM - _keys.RECORD_OVERHEAD - 1, _keys._VIEW_FROM - _keys.RECORD_OVERHEAD, 2**20):
            plaintext = os.urandom(size)
            record = sealer.seal(plaintext)
            for position in (0, 13, 14, len(record) // 2, len(record) - 1):
                damaged = bytearray(record)
                damaged[position] ^= 0x80
                self.assertRaises(_keys.BadRecord, opener.open, bytes(damaged))
            self.assertEqual(opener.open(record), plaintext)

    def test_record_buffers(self) -> None:
        """
        An opener takes a record as C{bytes}, C{bytearray} or
        C{memoryview}, small or large.
        """
        sealer, opener = _keys.Sealer(C2S), _keys.Opener(C2S, HARD_LIMIT)
        for plaintext in (b"x", os.urandom(2 * _keys._VIEW_FROM)):
            for kind in (bytes, bytearray, memoryview):
                self.assertEqual(opener.open(kind(sealer.seal(plaintext))), plaintext)
        self.assertIsNone(opener.open(memoryview(sealer.seal_key_update())))
        self.assertEqual(opener.open(memoryview(sealer.seal(b"y"))), b"y")


class ServerKeyTests(SynchronousTestCase):
    """
    L{_keys.load_server_public_key}: RSA-4096, e=65537, pinned.
    """

    def setUp(self) -> None:
        self.der = _keys.public_der(SERVER_KEY.public_key())
        self.pins = frozenset({V["server_rsa_key"]["fingerprint"], "sha256:" + "00" * 32})

    def test_accepts_pinned(self) -> None:
        """
        A pinned RSA-4096 key is accepted, whichever pin of the set matches.
        """
        key = _keys.load_server_public_key(self.der, self.pins)
        self.assertEqual(key.key_size, 4096)

    def test_accepts_unpinned_without_pins(self) -> None:
        """
        Without pins any RSA-4096 key with e=65537 is accepted.
        """
        other = _keys.public_der(_load_private("other_server_key.pem").public_key())
        self.assertEqual(_keys.load_server_public_key(other, None).key_size, 4096)

    def test_refuses_unpinned(self) -> None:
        """
        Another RSA-4096 key is refused when it is not among the pins.
        """
        other = _keys.public_der(_load_private("other_server_key.pem").public_key())
        with self.assertRaises(_keys.BadServerKey) as caught:
            _keys.load_server_public_key(other, self.pins)
        self.assertIn("is not pinned", str(caught.exception))

    def test_refuses_rsa_2048(self) -> None:
        """
        A 2048-bit RSA key is refused, even when pinned.
        """
        der = _keys.public_der(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
        with self.assertRaises(_keys.BadServerKey) as caught:
            _keys.load_server_public_key(der, frozenset({_keys.fingerprint_der(der)}))
        self.assertIn("not an RSA-4096 key", str(caught.exception))

    def test_refuses_other_exponent(self) -> None:
        """
        An RSA-4096 key with e=3 is refused.
        """
        n = SERVER_KEY.public_key().public_numbers().n
        der = _keys.public_der(rsa.RSAPublicNumbers(3, n).public_key())
        with self.assertRaises(_keys.BadServerKey) as caught:
            _keys.load_server_public_key(der, None)
        self.assertIn("e=65537", str(caught.exception))

    def test_refuses_ec_key(self) -> None:
        """
        An EC key is refused, even when pinned.
        """
        der = _keys.ecdh_private().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with self.assertRaises(_keys.BadServerKey) as caught:
            _keys.load_server_public_key(der, frozenset({_keys.fingerprint_der(der)}))
        self.assertIn("not an RSA-4096 key", str(caught.exception))

    def test_refuses_non_der(self) -> None:
        """
        Bytes that are not a key DER are refused with
        L{_keys.BadServerKey}: garbage, nothing, a truncated key and a key
        with trailing bytes.
        """
        for blob in (b"not a key", b"", self.der[:-1], self.der + b"\x00"):
            with self.assertRaises(_keys.BadServerKey) as caught:
                _keys.load_server_public_key(blob, None)
            self.assertIn("not a SubjectPublicKeyInfo DER", str(caught.exception))

    def test_refuses_pkcs1(self) -> None:
        """
        A PKCS#1 RSAPublicKey DER, which browsers cannot import, is refused
        like any other non-SubjectPublicKeyInfo blob.
        """
        pkcs1 = SERVER_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        self.assertRaises(_keys.BadServerKey, _keys.load_server_public_key, pkcs1, None)



class DecryptSecretTests(SynchronousTestCase):
    """
    L{_keys.decrypt_secret}: one error for every bad ciphertext.
    """

    def _bad(self) -> list[bytes]:
        valid = _b64(V["key_transport"]["ciphertext_b64"])
        return [
            valid[:511],
            os.urandom(512),
            _keys.encrypt_secret(SERVER_KEY.public_key(), os.urandom(31)),
        ] + [_b64(n["ciphertext_b64"]) for n in V["negative_key_ciphertexts"]]

    def test_bad_ciphertexts_raise_value_error(self) -> None:
        """
        A 511-byte ciphertext, a 512-byte random blob and a valid OAEP
        ciphertext of a 31-byte secret each raise L{ValueError}.
        """
        for ciphertext in self._bad():
            self.assertRaises(ValueError, _keys.decrypt_secret, SERVER_KEY, ciphertext)

    def test_one_error_message(self) -> None:
        """
        Every bad ciphertext raises L{ValueError} with the same message,
        so nothing tells a padding failure from a length failure.
        """
        messages = set()
        for ciphertext in self._bad():
            try:
                _keys.decrypt_secret(SERVER_KEY, ciphertext)
            except ValueError as e:
                messages.add(str(e))
        self.assertEqual(messages, {"bad key ciphertext"})


    def test_good_ciphertext(self) -> None:
        """
        A fresh OAEP ciphertext of a 32-byte secret decrypts to it.
        """
        secret = os.urandom(32)
        ciphertext = _keys.encrypt_secret(SERVER_KEY.public_key(), secret)
        self.assertEqual(len(ciphertext), 512)
        self.assertEqual(_keys.decrypt_secret(SERVER_KEY, ciphertext), secret)


class VectorFileTests(SynchronousTestCase):
    """
    The stored vectors are what C{make_vectors.py} writes today.
    """

    def test_up_to_date(self) -> None:
        """
        Running C{make_vectors.py}'s builder again gives the stored file
        byte for byte: every input is fixed.
        """
        import importlib.util

        spec = importlib.util.spec_from_file_location("_make_vectors", VECTORS_DIR / "make_vectors.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.assertEqual(module.render(), (VECTORS_DIR / "enc_v1.json").read_text("ascii"))
