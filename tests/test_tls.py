"""
socketnet over TLS (C{wss://}) on real loopback sockets: the server
listens on an C{ssl:} endpoint, the client verifies the certificate and
host name with C{optionsForClientTLS}, trusting a throwaway CA made at
test time (L{tests._certs}).
"""

from __future__ import annotations

import os
from typing import Any

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import reactor
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from socketnet import ServerApp
from socketnet._client import endpoint_for_url
from socketnet.protocol import SocketnetClientProtocol
from socketnet.errors import HandshakeFailed

from ._certs import authority_file, server_files
from ._helpers import check_token, client

SERVER_KEY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors", "test_server_key.pem")

#: Close code Autobahn reports when the connection ends without a closing
#: handshake, as it does when TLS fails.


def recording_protocol(reasons: list[Failure]) -> type[SocketnetClientProtocol]:
    """
    A client protocol class that appends the reason its connection was
    lost to C{reasons}: what TLS reported, before Autobahn turns it into a
    close code.
    """

    class Recording(SocketnetClientProtocol):
        def connectionLost(self, reason: Any) -> None:
            reasons.append(reason)
            super().connectionLost(reason)

    return Recording


class TLSTests(TestCase):
    """
    C{ServerApp.listen("ssl:...")} and C{ClientApp(ca_file=...)} with
    C{wss://} URLs.
    """

    async def start_tls_server(self, files: Any, app: ServerApp | None = None) -> tuple[ServerApp, int]:
        """
        Listen with the certificate in C{files} on a free loopback port;
        stop at the end of the test.

        @return: the app and its port number.
        """
        if app is None:
            app = ServerApp()
        app.set_token_verifier(check_token)
        app.on_message(lambda message, session: {"echo": message.data})
        port = await app.listen(files.endpoint())
        self.addCleanup(app.close)
        return app, port.getHost().port

    async def assert_refused(self, url: str, **kwargs: Any) -> tuple[HandshakeFailed, Failure]:
        """
        Check that a client connecting to C{url} never gets a WebSocket
        and that C{connect()} fails with a terminal L{HandshakeFailed}
        naming the TLS error, so a reconnecting client stops.

        @return: that error and the reason TLS gave for losing the
            connection.
        """
        reasons: list[Failure] = []
        app = client(self, protocol=recording_protocol(reasons), **kwargs)
        opened: list[Any] = []
        app.on_session(opened.append)
        with self.assertRaises(HandshakeFailed) as caught:
            await app.connect(url)
        self.assertTrue(caught.exception.terminal)
        self.assertIn("TLS handshake failed", str(caught.exception))
        self.assertEqual(opened, [])
        self.assertEqual(len(reasons), 1)
        return caught.exception, reasons[0]

    async def test_trusted_ca(self) -> None:
        """
        A C{wss://localhost} client whose C{ca_file} holds the CA that
        signed the server's certificate connects, authorizes, and gets
        replies to its requests; the session is not encrypted by socketnet,
        only by TLS.
        """
        files = server_files(self)
        app, port = await self.start_tls_server(files)
        session = await client(self, ca_file=files.ca).connect(f"wss://localhost:{port}/socket")
        self.assertTrue(session.authorized)
        self.assertEqual(await session.request("ping"), {"echo": "ping"})
        self.assertFalse(session.encrypted)
        self.assertIsNotNone(app.sessions.get("1"))

    async def test_ip_address(self) -> None:
        """
        A C{wss://127.0.0.1} URL is verified against the certificate's IP
        address subjectAltName.
        """
        files = server_files(self, names=("127.0.0.1",))
        app, port = await self.start_tls_server(files)
        session = await client(self, ca_file=files.ca).connect(f"wss://127.0.0.1:{port}/socket")
        self.assertEqual(await session.request(1), {"echo": 1})

    async def test_ca_bundle(self) -> None:
        """
        C{ca_file} may hold several certificates; the client trusts each,
        not only the first.
        """
        files = server_files(self)
        app, port = await self.start_tls_server(files)
        bundle = self.mktemp()
        with open(bundle, "wb") as out:
            for path in (authority_file(self, "unrelated"), files.ca):
                with open(path, "rb") as f:
                    out.write(f.read())
        session = await client(self, ca_file=bundle).connect(f"wss://localhost:{port}/socket")
        self.assertEqual(await session.request("b"), {"echo": "b"})

    async def test_untrusted_ca(self) -> None:
        """
        A server certificate signed by a CA the client does not trust is
        refused: TLS fails with an C{OpenSSL.SSL.Error}, and C{connect()}
        fails with L{HandshakeFailed} saying "certificate verify
        failed".
        """
        files = server_files(self)
        app, port = await self.start_tls_server(files)
        error, reason = await self.assert_refused(
            f"wss://localhost:{port}/socket", ca_file=authority_file(self, "unrelated")
        )
        self.assertIn("certificate verify failed", str(error))
        self.assertIsInstance(reason.value, SSL.Error)
        self.assertIsNone(app.sessions.get("1"))

    async def test_platform_trust_by_default(self) -> None:
        """
        Without C{ca_file} or C{tls_options} the client trusts only the
        platform's CAs, so the throwaway CA's certificate is refused.
        """
        files = server_files(self)
        app, port = await self.start_tls_server(files)
        error, reason = await self.assert_refused(f"wss://localhost:{port}/socket")
        self.assertIn("certificate verify failed", str(error))
        self.assertIsInstance(reason.value, SSL.Error)

    async def test_wrong_host_name(self) -> None:
        """
        A certificate from the trusted CA for another name is refused: TLS
        fails with C{service_identity}'s L{VerificationError} and
        C{connect()} with L{HandshakeFailed}.
        """
        files = server_files(self, names=("other.example",))
        app, port = await self.start_tls_server(files)
        error, reason = await self.assert_refused(f"wss://localhost:{port}/socket", ca_file=files.ca)
        self.assertIsInstance(reason.value, VerificationError)
        self.assertIn("localhost", str(reason.value))
        self.assertIsNone(app.sessions.get("1"))

    async def test_wrong_ip_address(self) -> None:
        """
        A certificate for C{localhost} alone does not cover
        C{wss://127.0.0.1}: an IP address is checked against IP address
        subjectAltNames, not against what the name resolves to.
        """
        files = server_files(self, names=("localhost",))
        app, port = await self.start_tls_server(files)
        error, reason = await self.assert_refused(f"wss://127.0.0.1:{port}/socket", ca_file=files.ca)
        self.assertIsInstance(reason.value, VerificationError)
        self.assertIn("127.0.0.1", str(reason.value))

    async def test_tls_options_win(self) -> None:
        """
        Explicit C{tls_options} are used instead of C{ca_file}: here they
        trust the right CA while C{ca_file} names an unrelated one.
        """
        files = server_files(self)
        app, port = await self.start_tls_server(files)
        with open(files.ca, "rb") as f:
            trusted = Certificate.loadPEM(f.read())
        session = await client(
            self,
            ca_file=authority_file(self, "unrelated"),
            tls_options=optionsForClientTLS("localhost", trustRoot=trusted),
        ).connect(f"wss://localhost:{port}/socket")
        self.assertEqual(await session.request("x"), {"echo": "x"})

    def test_bad_ca_file(self) -> None:
        """
        C{connect()} to a C{wss://} URL raises L{ValueError} naming the
        C{ca_file} when it cannot be read or holds no PEM certificate;
        a C{ws://} URL ignores C{ca_file}.
        """
        missing = self.mktemp()
        not_pem = self.mktemp()
        with open(not_pem, "w") as f:
            f.write("not a certificate\n")
        for path in (missing, not_pem):
            app = client(self, ca_file=path)
            error = self.assertRaises(ValueError, app.connect, "wss://localhost:1/socket")
            self.assertIn(path, str(error))
        self.assertIsInstance(
            endpoint_for_url(reactor, "ws://localhost:1/socket", ca_file=missing), HostnameEndpoint
        )

    async def test_encryption_over_wss(self) -> None:
        """
        socketnet-enc/1 runs on top of TLS: a pinned client of a server
        that requires encryption gets an encrypted session over
        C{wss://}, on both sides, and a request goes through both layers.
        """
        files = server_files(self)
        server = ServerApp(encrypt="required", server_key=SERVER_KEY)
        app, port = await self.start_tls_server(files, server)
        session = await client(
            self,
            ca_file=files.ca,
            encrypt=True,
            server_key_fingerprints=[app.server_key_fingerprint],
        ).connect(f"wss://localhost:{port}/socket")
        self.assertTrue(session.encrypted)
        self.assertEqual(await session.request("secret"), {"echo": "secret"})
        self.assertTrue(app.sessions.get("1").encrypted)
