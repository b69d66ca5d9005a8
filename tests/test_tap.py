"""
Tests for L{socketnet.tap}, the C{twistd socketnet} plugin.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker, MultiService
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from socketnet import Authorization, ServerApp
from socketnet._keys import fingerprint_der, public_der
from socketnet.tap import Options, makeService

HERE = os.path.dirname(os.path.abspath(__file__))

#: An RSA-4096 PKCS#8 PEM key, so that only one test pays for generating
#: one.
VECTOR_KEY = os.path.join(HERE, "vectors", "test_server_key.pem")


def accept_everyone(authorization: Authorization) -> bool:
    """
    A verifier for L{Options} to import as C{tests.test_tap:accept_everyone}.
    """
    return True


#: Not callable, for the C{--verifier} tests.
not_a_function = 42


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def load_key(path: str) -> rsa.RSAPrivateKey:
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    return fingerprint_der(public_der(key.public_key()))


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{Options}.
    """

    def tokens_file(self, content: str) -> str:
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        return path

    def assertUsageError(self, *argv: str) -> UsageError:
        return self.assertRaises(UsageError, parse, *argv)

    def test_defaults(self) -> None:
        """
        With no arguments the server listens on tcp:8090 at /socket, with a
        client-driven 10 second heartbeat, a 10 second authorization
        timeout, a 1 MiB message limit and no verifier.
        """
        options = parse()
        self.assertEqual(options["listen"], ["tcp:8090"])
        self.assertEqual(options["path"], "/socket")
        self.assertEqual(options["heartbeat-mode"], "client")
        self.assertEqual(options["heartbeat-interval"], 10.0)
        self.assertEqual(options["auth-timeout"], 10.0)
        self.assertEqual(options["max-message-size"], 1048576)
        self.assertEqual(options["upgrades-per-turn"], 2)
        self.assertIsNone(options["tokens"])
        self.assertIsNone(options["verifier"])
        self.assertIsNone(options["token_verifier"])
        self.assertEqual(options["encrypt"], "off")
        self.assertIsNone(options["server-key"])
        self.assertFalse(options["print-fingerprint"])
        self.assertIsNone(options["server_private_key"])

    def test_values(self) -> None:
        """
        Each option sets its value, converted to its type.
        """
        options = parse(
            "--path=/a/b",
            "--heartbeat-mode=server",
            "--heartbeat-interval=2.5",
            "--auth-timeout=3",
            "--max-message-size=1000",
            "--upgrades-per-turn=5",
        )
        self.assertEqual(options["path"], "/a/b")
        self.assertEqual(options["heartbeat-mode"], "server")
        self.assertEqual(options["heartbeat-interval"], 2.5)
        self.assertEqual(options["auth-timeout"], 3.0)
        self.assertEqual(options["max-message-size"], 1000)
        self.assertEqual(options["upgrades-per-turn"], 5)
        app = list(makeService(options))[0].app
        self.assertEqual(app._pacer._per_turn, 5)

    def test_listenRepeated(self) -> None:
        """
        C{--listen} may be given several times; every description is kept,
        in order, and the default is not added.
        """
        options = parse("--listen", "tcp:1234", "--listen", "unix:/tmp/s.sock")
        self.assertEqual(options["listen"], ["tcp:1234", "unix:/tmp/s.sock"])

    def test_tokensAndVerifier(self) -> None:
        """
        Giving both C{--tokens} and C{--verifier} is a usage error.
        """
        path = self.tokens_file("1 one\n")
        error = self.assertUsageError(
            "--tokens", path, "--verifier", "tests.test_tap:accept_everyone"
        )
        self.assertIn("not both", str(error))

    def test_notPositive(self) -> None:
        """
        A zero, negative, infinite or NaN interval, timeout or size is a
        usage error naming the option.
        """
        for name in ("heartbeat-interval", "auth-timeout", "max-message-size", "upgrades-per-turn"):
            for value in ("0", "-1"):
                error = self.assertUsageError(f"--{name}={value}")
                self.assertIn(f"--{name}", str(error))
        for name in ("heartbeat-interval", "auth-timeout"):
            for value in ("inf", "nan"):
                self.assertUsageError(f"--{name}={value}")

    def test_notANumber(self) -> None:
        """
        A value that is not a number is a usage error.
        """
        self.assertUsageError("--heartbeat-interval=soon")
        self.assertUsageError("--max-message-size=1.5")
        self.assertUsageError("--upgrades-per-turn=1.5")

    def test_badHeartbeatMode(self) -> None:
        """
        A heartbeat mode other than client or server is a usage error.
        """
        error = self.assertUsageError("--heartbeat-mode=both")
        self.assertIn("--heartbeat-mode", str(error))

    def test_badPath(self) -> None:
        """
        A path that does not start with a slash, or has an empty segment,
        is a usage error.
        """
        self.assertUsageError("--path=socket")
        self.assertUsageError("--path=/a//b")

    def test_missingTokensFile(self) -> None:
        """
        A tokens file that cannot be read is a usage error naming it.
        """
        path = self.mktemp()
        error = self.assertUsageError("--tokens", path)
        self.assertIn(path, str(error))

    def test_malformedTokenLine(self) -> None:
        """
        A tokens line that is not exactly C{id token} is a usage error
        naming its line number, without echoing the line.
        """
        for line in ("lonely", "1 two tokens"):
            path = self.tokens_file(f"# header\n\n1 one\n{line}\n")
            error = self.assertUsageError("--tokens", path)
            self.assertIn("line 4", str(error))
            self.assertNotIn(line, str(error))

    def test_duplicateTokenId(self) -> None:
        """
        A client id listed twice in the tokens file is a usage error naming
        the second line.
        """
        path = self.tokens_file("1 one\n1 uno\n")
        error = self.assertUsageError("--tokens", path)
        self.assertIn("line 2", str(error))

    def test_invalidTokenId(self) -> None:
        """
        A client id no client could present is a usage error.
        """
        path = self.tokens_file("bad\x01id token\n")
        error = self.assertUsageError("--tokens", path)
        self.assertIn("line 1", str(error))

    def test_verifierBadModule(self) -> None:
        """
        A C{--verifier} whose module cannot be imported is a usage error.
        """
        error = self.assertUsageError("--verifier", "tests.no_such_module:verify")
        self.assertIn("tests.no_such_module", str(error))

    def test_verifierBadAttribute(self) -> None:
        """
        A C{--verifier} naming an attribute the module lacks is a usage
        error.
        """
        error = self.assertUsageError("--verifier", "tests.test_tap:no_such_function")
        self.assertIn("no_such_function", str(error))

    def test_verifierNotCallable(self) -> None:
        """
        A C{--verifier} naming something that cannot be called is a usage
        error.
        """
        error = self.assertUsageError("--verifier", "tests.test_tap:not_a_function")
        self.assertIn("not callable", str(error))

    def test_verifierBadFormat(self) -> None:
        """
        A C{--verifier} that is not C{package.module:function} is a usage
        error.
        """
        for spec in ("tests.test_tap.accept_everyone", "tests.test_tap:", ":f", "a b:f"):
            error = self.assertUsageError("--verifier", spec)
            self.assertIn("package.module:function", str(error))

    def test_verifierLoaded(self) -> None:
        """
        C{--verifier} imports the named function and uses it as the token
        verifier.
        """
        options = parse("--verifier", "tests.test_tap:accept_everyone")
        self.assertIs(options["token_verifier"], accept_everyone)

    def test_help(self) -> None:
        """
        The usage text lists every option, with its default.
        """
        usage = str(Options())
        for option in (
            "--listen",
            "--path",
            "--tokens",
            "--verifier",
            "--heartbeat-mode",
            "--heartbeat-interval",
            "--auth-timeout",
            "--max-message-size",
            "--encrypt",
            "--server-key",
            "--print-fingerprint",
        ):
            self.assertIn(option, usage)
        for default in ("tcp:8090", "/socket", "client", "10.0", "1048576", "refused", "off"):
            self.assertIn(default, usage)


class EncryptionOptionsTests(SynchronousTestCase):
    """
    Tests for C{--encrypt}, C{--server-key} and C{--print-fingerprint}.
    """

    def write(self, data: bytes) -> str:
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_encryptModes(self) -> None:
        """
        C{--encrypt} accepts off, optional and required.
        """
        for mode in ("off", "optional", "required"):
            self.assertEqual(parse("--encrypt", mode)["encrypt"], mode)

    def test_badEncryptMode(self) -> None:
        """
        Any other C{--encrypt} value is a usage error naming the option.
        """
        for mode in ("on", "Required", ""):
            error = self.assertRaises(UsageError, parse, "--encrypt", mode)
            self.assertIn("--encrypt", str(error))

    def test_existingKeyLoaded(self) -> None:
        """
        An existing C{--server-key} file is loaded, not replaced.
        """
        with open(VECTOR_KEY, "rb") as f:
            before = f.read()
        options = parse("--server-key", VECTOR_KEY)
        self.assertEqual(fingerprint(options["server_private_key"]), fingerprint(load_key(VECTOR_KEY)))
        with open(VECTOR_KEY, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_missingKeyCreated(self) -> None:
        """
        A missing C{--server-key} file is created holding a new RSA-4096
        PKCS#8 PEM key, with mode 0600 even under a umask that allows
        everything, and C{--print-fingerprint} prints its fingerprint;
        parsing again loads the same key, so the fingerprint survives a
        restart.  (The one test that generates an RSA-4096 key.)
        """
        self.addCleanup(os.umask, os.umask(0))
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        path = self.mktemp()
        exit = self.assertRaises(SystemExit, parse, "--print-fingerprint", "--server-key", path)
        self.assertEqual(exit.code, 0)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, "rb") as f:
            self.assertTrue(f.read().startswith(b"-----BEGIN PRIVATE KEY-----"))
        created = load_key(path)
        self.assertEqual(created.key_size, 4096)
        self.assertEqual(stdout.getvalue(), fingerprint(created) + "\n")
        again = parse("--encrypt", "required", "--server-key", path)["server_private_key"]
        self.assertEqual(fingerprint(again), fingerprint(created))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_uncreatableKeyFile(self) -> None:
        """
        A C{--server-key} file that cannot be created is a usage error
        naming it: one in a missing directory, or a symbolic link to a
        missing file, which is not followed.
        """
        path = os.path.join(self.mktemp(), "key.pem")
        error = self.assertRaises(UsageError, parse, "--server-key", path)
        self.assertIn(path, str(error))
        link = self.mktemp()
        target = self.mktemp()
        os.symlink(target, link)
        error = self.assertRaises(UsageError, parse, "--server-key", link)
        self.assertIn(link, str(error))
        self.assertFalse(os.path.exists(target))

    def test_badKeyFile(self) -> None:
        """
        A C{--server-key} file that is not an unencrypted RSA-4096 PKCS#8
        PEM key is a usage error naming the file and quoting none of it:
        junk, the same key as PKCS#1, an encrypted PKCS#8 key, an RSA-2048
        key, an EC key, or a directory.
        """
        key = load_key(VECTOR_KEY)
        pem = serialization.Encoding.PEM
        pkcs8 = serialization.PrivateFormat.PKCS8
        bad = {
            "junk": b"-----BEGIN PRIVATE KEY-----\nsecret junk\n-----END PRIVATE KEY-----\n",
            "pkcs1": key.private_bytes(
                pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            ),
            "encrypted": key.private_bytes(
                pem, pkcs8, serialization.BestAvailableEncryption(b"password")
            ),
            "rsa2048": rsa.generate_private_key(65537, 2048).private_bytes(
                pem, pkcs8, serialization.NoEncryption()
            ),
            "ec": ec.generate_private_key(ec.SECP256R1()).private_bytes(
                pem, pkcs8, serialization.NoEncryption()
            ),
        }
        for name, data in bad.items():
            path = self.write(data)
            error = self.assertRaises(UsageError, parse, "--server-key", path)
            self.assertIn("--server-key", str(error), name)
            self.assertIn(path, str(error), name)
            self.assertNotIn("secret junk", str(error))
        directory = self.mktemp()
        os.mkdir(directory)
        error = self.assertRaises(UsageError, parse, "--server-key", directory)
        self.assertIn(directory, str(error))

    def test_printFingerprint(self) -> None:
        """
        C{--print-fingerprint} prints C{sha256:<hex>} of the server key's
        SubjectPublicKeyInfo DER, and nothing else, then exits with status
        0.
        """
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        exit = self.assertRaises(SystemExit, parse, "--print-fingerprint", "--server-key", VECTOR_KEY)
        self.assertEqual(exit.code, 0)
        self.assertEqual(stdout.getvalue(), fingerprint(load_key(VECTOR_KEY)) + "\n")

    def test_printFingerprintNeedsKey(self) -> None:
        """
        C{--print-fingerprint} without C{--server-key} is a usage error.
        """
        error = self.assertRaises(UsageError, parse, "--print-fingerprint")
        self.assertIn("--server-key", str(error))

    def test_twistdPrintFingerprint(self) -> None:
        """
        End to end, C{twistd socketnet --print-fingerprint --server-key K}
        prints the fingerprint and exits with status 0 without starting a
        server; a usage error exits with status 1.
        """
        env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
        twistd = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "socketnet"]
        done = subprocess.run(
            [*twistd, "--print-fingerprint", "--server-key", VECTOR_KEY],
            env=env,
            capture_output=True,
            timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.decode("ascii"), fingerprint(load_key(VECTOR_KEY)) + "\n")
        done = subprocess.run(
            [*twistd, "--print-fingerprint"], env=env, capture_output=True, timeout=60
        )
        self.assertEqual(done.returncode, 1)
        self.assertIn(b"--print-fingerprint needs --server-key", done.stdout + done.stderr)


class TokenVerifierTests(SynchronousTestCase):
    """
    Tests for the verifier C{--tokens} builds.
    """

    def setUp(self) -> None:
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write("# id token\n\n   \n1 one\n  2\tdos  \nélan ünïcode-tøken\n")
        self.verify = parse("--tokens", path)["token_verifier"]

    def test_acceptsRightToken(self) -> None:
        """
        A client presenting the token listed for its id is accepted;
        surrounding white space in the file is ignored and tokens may be
        any Unicode.
        """
        self.assertIs(self.verify(Authorization("1", "one")), True)
        self.assertIs(self.verify(Authorization("2", "dos")), True)
        self.assertIs(self.verify(Authorization("élan", "ünïcode-tøken")), True)

    def test_refusesWrongToken(self) -> None:
        """
        A client presenting another id's token, a prefix of its own, or
        nothing, is refused.
        """
        for token in ("dos", "on", "one!", ""):
            self.assertIs(self.verify(Authorization("1", token)), False)

    def test_refusesUnknownId(self) -> None:
        """
        An id not in the file is refused, even with a listed token.
        """
        self.assertIs(self.verify(Authorization("3", "one")), False)
        self.assertIs(self.verify(Authorization("#", "one")), False)


class MakeServiceTests(SynchronousTestCase):
    """
    Tests for L{makeService}.
    """

    def test_serviceTree(self) -> None:
        """
        L{makeService} returns a L{MultiService} holding the application
        service, then one L{StreamServerEndpointService} per C{--listen},
        all sharing the application's site; nothing is started.
        """
        service = makeService(
            parse("--listen", "tcp:0:interface=127.0.0.1", "--listen", "tcp:0", "--path=/ws")
        )
        self.assertIsInstance(service, MultiService)
        app_service, *listeners = list(service)
        self.assertIsInstance(app_service.app, ServerApp)
        self.assertEqual(app_service.app.path, "/ws")
        self.assertEqual(len(listeners), 2)
        for listener in listeners:
            self.assertIsInstance(listener, StreamServerEndpointService)
            self.assertIs(listener.factory, listeners[0].factory)
            self.assertFalse(listener.running)
        self.assertFalse(service.running)

    def test_settings(self) -> None:
        """
        The options reach the application's factory.
        """
        options = parse(
            "--heartbeat-mode=server",
            "--heartbeat-interval=4",
            "--auth-timeout=7",
            "--verifier=tests.test_tap:accept_everyone",
        )
        factory = list(makeService(options))[0].app.factory
        self.assertEqual(factory.heartbeat.mode, "server")
        self.assertEqual(factory.heartbeat.interval, 4.0)
        self.assertEqual(factory.auth_timeout, 7.0)
        self.assertIs(factory.verifier, accept_everyone)

    def test_encryptOffByDefault(self) -> None:
        """
        Without C{--encrypt} the application does not encrypt.
        """
        app = list(makeService(parse("--verifier=tests.test_tap:accept_everyone")))[0].app
        self.assertEqual(app.factory.encrypt, "off")

    def test_encryptionSettings(self) -> None:
        """
        C{--encrypt required --server-key K} builds an application that
        requires encryption with the key in C{K}: its fingerprint is known
        as soon as the service is built.
        """
        options = parse(
            "--encrypt",
            "required",
            "--server-key",
            VECTOR_KEY,
            "--verifier=tests.test_tap:accept_everyone",
        )
        app = list(makeService(options))[0].app
        self.assertEqual(app.factory.encrypt, "required")
        self.assertEqual(app.server_key_fingerprint, fingerprint(load_key(VECTOR_KEY)))

    def test_noVerifier(self) -> None:
        """
        Without C{--tokens} or C{--verifier} the service is still built,
        with no verifier, so that every client is refused; one warning
        says so.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        app = list(makeService(parse()))[0].app
        self.assertIsNone(app.factory.verifier)
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertIn("every client will be refused", formatEvent(warnings[0]))

    def test_stopServiceClosesApp(self) -> None:
        """
        Stopping the application service closes the L{ServerApp}; with no
        connections the returned L{Deferred} has already fired.
        """
        app_service = list(makeService(parse("--verifier=tests.test_tap:accept_everyone", "--no-gc-freeze")))[0]
        app_service.startService()
        self.assertIsNone(self.successResultOf(app_service.stopService()))
        self.assertFalse(app_service.running)

    def test_gcFreezeOnStart(self) -> None:
        """
        By default the application service calls C{gc.freeze} once the
        server is ready; C{--no-gc-freeze} leaves the collector alone.
        """
        import gc

        self.assertIs(list(makeService(parse()))[0]._freeze, gc.freeze)
        self.assertIsNone(list(makeService(parse("--no-gc-freeze")))[0]._freeze)
        app_service = list(makeService(parse("--no-gc-freeze")))[0]
        frozen: list[None] = []
        app_service._freeze = lambda: frozen.append(None)
        app_service.startService()
        self.assertEqual(frozen, [None])
        self.successResultOf(app_service.stopService())


class PluginTests(SynchronousTestCase):
    """
    Tests for the C{twistd} plugin.
    """

    def test_pluginFound(self) -> None:
        """
        L{getPlugins} finds the socketnet L{IServiceMaker}, which uses
        L{socketnet.tap}.
        """
        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
        self.assertIn("socketnet", makers)
        self.assertIs(makers["socketnet"].options, Options)
        self.assertIs(makers["socketnet"].makeService, makeService)
