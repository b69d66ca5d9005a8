"""
Throwaway TLS certificates for the C{wss://} tests, made with
C{cryptography} at test time: a certificate authority, server certificates
it signs, and a second, unrelated authority no client should trust.

Keys are EC P-256, which take microseconds to generate; every certificate
is made once per process and written to a test's C{mktemp()} directory on
demand.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from functools import lru_cache
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.internet.endpoints import quoteStringArgument

#: The names the default server certificate is valid for.
SERVER_NAMES = ("localhost", "127.0.0.1")


class _Authority(NamedTuple):
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


class TLSFiles(NamedTuple):
    """
    PEM files for one server and the authority that signed it.

    @ivar ca: the signing authority's certificate, for C{ca_file}.
    @ivar key: the server's private key (PKCS#8, unencrypted).
    @ivar certificate: the server's certificate.
    """

    ca: str
    key: str
    certificate: str

    def endpoint(self, interface: str = "127.0.0.1") -> str:
        """
        A server endpoint description listening on a free port of
        C{interface} with this certificate.
        """
        return (
            f"ssl:0:interface={interface}"
            f":privateKey={quoteStringArgument(self.key)}"
            f":certKey={quoteStringArgument(self.certificate)}"
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "socketnet tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(
        now + datetime.timedelta(days=1)
    )


@lru_cache(maxsize=None)
def authority(label: str) -> _Authority:
    """
    A self-signed certificate authority, one per C{label} and process.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"socketnet test CA {label}")
    builder = (
        _validity(x509.CertificateBuilder())
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return _Authority(key, builder.sign(key, hashes.SHA256()))


def _alternative_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@lru_cache(maxsize=None)
def _server(names: tuple[str, ...], ca_label: str) -> tuple[bytes, bytes, bytes]:
    ca = authority(ca_label)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _validity(x509.CertificateBuilder())
        .subject_name(_name(names[0]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([_alternative_name(n) for n in names]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    certificate = builder.sign(ca.key, hashes.SHA256())
    return (
        ca.certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        certificate.public_bytes(serialization.Encoding.PEM),
    )


def authority_file(testcase: Any, label: str) -> str:
    """
    Write the certificate of the authority C{label} to a new temporary
    file.

    @return: its path.
    """
    path = testcase.mktemp()
    with open(path, "wb") as f:
        f.write(authority(label).certificate.public_bytes(serialization.Encoding.PEM))
    return path


def server_files(
    testcase: Any, names: tuple[str, ...] = SERVER_NAMES, ca_label: str = "trusted"
) -> TLSFiles:
    """
    Write a server certificate for C{names} (DNS names or IP addresses,
    each a subjectAltName), its key, and the certificate of the authority
    C{ca_label} that signed it, to a new temporary directory.
    """
    ca_pem, key_pem, certificate_pem = _server(names, ca_label)
    directory = testcase.mktemp()
    os.makedirs(directory)
    files = TLSFiles(
        os.path.join(directory, "ca.pem"),
        os.path.join(directory, "key.pem"),
        os.path.join(directory, "cert.pem"),
    )
    for path, data in zip(files, (ca_pem, key_pem, certificate_pem)):
        with open(path, "wb") as f:
            f.write(data)
    return files
