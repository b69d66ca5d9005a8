# -*- test-case-name: tests.test_keys -*-
"""
socketnet-enc/1 cryptography: the server key, the key schedule and
records.  Pure functions and small objects, no I/O, so that known-answer
vectors can check every step (C{tests/vectors/}).

Suite C{P256-RSA4096-AES256GCM-SHA256}: RSA-4096 OAEP(SHA-256) transports
a client-made 32-byte secret K; ephemeral ECDH P-256 adds forward secrecy;
HKDF-SHA256 over both, salted with the transcript hash, gives one secret
per direction and a "finished" key; records are AES-256-GCM with a
14-byte header as associated data.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

SUITE = "P256-RSA4096-AES256GCM-SHA256"
VERSION = 1
RSA_BITS = 4096
#: RSA-OAEP ciphertext length for a 4096-bit key.
CIPHERTEXT_LENGTH = RSA_BITS // 8
SECRET_LENGTH = 32
NONCE_LENGTH = 32

HEADER = struct.Struct(">BBIQ")  # version, type, epoch, sequence: 14 bytes
RECORD_DATA = 0
RECORD_KEY_UPDATE = 1
TAG_LENGTH = 16
#: Bytes a record adds to its plaintext.
RECORD_OVERHEAD = HEADER.size + TAG_LENGTH

_LABEL = b"socketnet-enc/1 "
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class BadRecord(Exception):
    """
    A record that must close the connection: wrong version, type, epoch or
    sequence number, or a tag that does not verify.
    """


class BadServerKey(Exception):
    """
    The server's public key is not an RSA-4096 key with e=65537, or is not
    one of the pinned keys.
    """


# The server key.


def public_der(public_key: rsa.RSAPublicKey) -> bytes:
    """
    The key as SubjectPublicKeyInfo DER, the form browsers import.
    """
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint_der(der: bytes) -> str:
    """
    C{"sha256:<hex>"} of a SubjectPublicKeyInfo DER.
    """
    return "sha256:" + hashlib.sha256(der).hexdigest()


def load_server_public_key(der: bytes, pins: frozenset[str] | None) -> rsa.RSAPublicKey:
    """
    Check the key a server sent.

    @raise BadServerKey: unless it is RSA-4096 with e=65537 and, when
        C{pins} is given, its fingerprint is among them.
    """
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        key = None
    # cryptography also reads PKCS#1; only SubjectPublicKeyInfo is valid
    # here (browsers import nothing else), so the bytes must round-trip.
    if key is None or key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != der:
        raise BadServerKey("the server's key is not a SubjectPublicKeyInfo DER")
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != RSA_BITS:
        raise BadServerKey("the server's key is not an RSA-4096 key")
    if key.public_numbers().e != 65537:
        raise BadServerKey("the server's key does not use e=65537")
    if pins and fingerprint_der(der) not in pins:
        raise BadServerKey(f"the server's key {fingerprint_der(der)} is not pinned")
    return key


def encrypt_secret(public_key: rsa.RSAPublicKey, secret: bytes) -> bytes:
    return public_key.encrypt(secret, _OAEP)


def decrypt_secret(private_key: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes:
    """
    RSA-OAEP decryption: about a millisecond of CPU holding the GIL, so
    call it off the reactor thread.

    @raise ValueError: for any ciphertext that does not decrypt to a
        32-byte secret (one error, whatever went wrong).
    """
    if len(ciphertext) == CIPHERTEXT_LENGTH:
        try:
            secret = private_key.decrypt(ciphertext, _OAEP)
        except ValueError:
            pass
        else:
            if len(secret) == SECRET_LENGTH:
                return secret
    raise ValueError("bad key ciphertext")


# ECDH.


def ecdh_private() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ecdh_public_bytes(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """
    The uncompressed point (65 bytes), WebCrypto's "raw" format.
    """
    return private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def ecdh_shared(private_key: ec.EllipticCurvePrivateKey, peer_public: bytes) -> bytes:
    """
    @raise ValueError: if C{peer_public} is not a valid P-256 point.
    """
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public)
    return private_key.exchange(ec.ECDH(), peer)


# Key schedule.


def transcript_hash(*messages: bytes) -> bytes:
    """
    SHA-256 over each handshake message's exact bytes, each preceded by
    its length as a 4-byte big-endian integer.
    """
    digest = hashlib.sha256()
    for message in messages:
        digest.update(struct.pack(">I", len(message)))
        digest.update(message)
    return digest.digest()


def _expand(secret: bytes, label: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, _LABEL + label).derive(secret)


def schedule(secret: bytes, shared: bytes, transcript: bytes) -> tuple[bytes, bytes, bytes]:
    """
    @return: C{(client_to_server, server_to_client, finished)} secrets:
        HKDF-Extract(salt=transcript hash, IKM = K || ECDH secret), then
        HKDF-Expand with the labels C{"c2s"}, C{"s2c"} and C{"finished"}.
    """
    prk = hmac.new(transcript, secret + shared, hashlib.sha256).digest()
    return _expand(prk, b"c2s", 32), _expand(prk, b"s2c", 32), _expand(prk, b"finished", 32)


def finished_mac(finished_key: bytes, transcript: bytes) -> bytes:
    return hmac.new(finished_key, transcript, hashlib.sha256).digest()


def epoch_keys(secret: bytes) -> tuple[bytes, bytes, bytes]:
    """
    @return: C{(key, iv, next_secret)} of one direction's epoch.
    """
    return _expand(secret, b"key", 32), _expand(secret, b"iv", 12), _expand(secret, b"next", 32)


# Records.

_pack_header = HEADER.pack
_LAST_EPOCH = 2**32 - 1
#: From this record size on, the opener hands AES-GCM a C{memoryview} of
#: the body instead of a copy; for smaller records the view costs more
#: than the copy (measured with cryptography 50).
_VIEW_FROM = 8192


class _Direction:
    """
    One direction's epoch: its AES-GCM key, IV and sequence number.

    @ivar epoch: the current epoch, from 0.
    @ivar sequence: the next record's sequence number in this epoch.
        Read it; only this object changes it.
    """

    # Slots: these are read for every record, on every session.
    __slots__ = ("epoch", "sequence", "_next", "_aead", "_iv")

    def __init__(self, secret: bytes):
        self.epoch = 0
        self.sequence = 0
        self._install(secret)

    def _install(self, secret: bytes) -> None:
        key, iv, self._next = epoch_keys(secret)
        # One AESGCM object per epoch, reused for every record of it.
        self._aead = AESGCM(key)
        # The nonce of record n is (iv xor n) as 12 big-endian bytes.
        self._iv = int.from_bytes(iv, "big")

    def _advance(self) -> None:
        self.epoch += 1
        self.sequence = 0
        self._install(self._next)

    def _nonce(self, sequence: int) -> bytes:
        return (self._iv ^ sequence).to_bytes(12, "big")


class Sealer(_Direction):
    """
    Seals this side's outgoing records: one direction's epoch, sequence
    numbers and rekeying.

    @ivar sequence: records sealed in the current epoch.
    @ivar octets: plaintext bytes sealed in the current epoch.
    """

    __slots__ = ("octets",)

    def __init__(self, secret: bytes):
        super().__init__(secret)
        self.octets = 0

    def seal(self, plaintext: bytes, kind: int = RECORD_DATA) -> bytes:
        # Called for every frame sent: the nonce is computed inline, and
        # the attributes are read once.
        sequence = self.sequence
        header = _pack_header(VERSION, kind, self.epoch, sequence)
        record = header + self._aead.encrypt((self._iv ^ sequence).to_bytes(12, "big"), plaintext, header)
        self.sequence = sequence + 1
        self.octets += len(plaintext)
        return record

    def seal_key_update(self) -> bytes:
        """
        The last record of this epoch; the next one starts after it.
        """
        record = self.seal(b"", RECORD_KEY_UPDATE)
        self._advance()
        self.octets = 0
        return record


class Opener(_Direction):
    """
    Opens the peer's records, accepting only exactly the next one.
    """

    __slots__ = ("_hard_limit", "_expected")

    def __init__(self, secret: bytes, hard_limit: int):
        super().__init__(secret)
        self._hard_limit = hard_limit
        self._expect()

    def _expect(self) -> None:
        # The only header a data record may have next: comparing with it
        # checks version, type, epoch and sequence in one step.  (Past the
        # last epoch a header can name, nothing matches.)
        self._expected = (
            _pack_header(VERSION, RECORD_DATA, self.epoch, self.sequence) if self.epoch <= _LAST_EPOCH else None
        )

    def _advance(self) -> None:
        super()._advance()
        self._expect()

    def open(self, record: bytes) -> bytes | None:
        """
        @param record: the record's bytes.
        @return: a data record's plaintext, or C{None} for a key update
            (after which the next epoch's keys are in use).
        @raise BadRecord: for anything but the next valid record.
        """
        # The usual case, the next data record, in as few steps as
        # possible (14 is HEADER.size).
        header = self._expected
        sequence = self.sequence
        size = len(record)
        if record[:14] != header or size < RECORD_OVERHEAD or sequence >= self._hard_limit:
            # A key update, or a record to refuse: checked one by one.
            return self._open_other(record)
        try:
            plaintext = self._aead.decrypt(
                (self._iv ^ sequence).to_bytes(12, "big"),
                record[14:] if size < _VIEW_FROM else memoryview(record)[14:],
                header,
            )
        except InvalidTag:
            raise BadRecord("record failed authentication") from None
        self.sequence = sequence = sequence + 1
        self._expected = _pack_header(VERSION, RECORD_DATA, self.epoch, sequence)
        return plaintext

    def _open_other(self, record: bytes) -> bytes | None:
        if len(record) < RECORD_OVERHEAD:
            raise BadRecord("record too short")
        header = bytes(record[: HEADER.size])
        version, kind, epoch, sequence = HEADER.unpack(header)
        if version != VERSION or kind not in (RECORD_DATA, RECORD_KEY_UPDATE):
            raise BadRecord("unknown record version or type")
        if epoch != self.epoch or sequence != self.sequence:
            raise BadRecord("record out of order, replayed or from another epoch")
        if sequence >= self._hard_limit:
            raise BadRecord("too many records in one epoch")
        try:
            plaintext = self._aead.decrypt(self._nonce(sequence), record[HEADER.size :], header)
        except InvalidTag:
            raise BadRecord("record failed authentication") from None
        self.sequence += 1
        self._expect()
        if kind == RECORD_KEY_UPDATE:
            if plaintext:
                raise BadRecord("key update with a payload")
            self._advance()
            return None
        return plaintext
