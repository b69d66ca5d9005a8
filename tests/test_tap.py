"""
Tests for L{socketnet.tap}, the C{twistd socketnet} plugin.
"""

from __future__ import annotations

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker, MultiService
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from socketnet import Authorization, ServerApp
from socketnet.tap import Options, makeService


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
        self.assertIsNone(options["tokens"])
        self.assertIsNone(options["verifier"])
        self.assertIsNone(options["token_verifier"])

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
        )
        self.assertEqual(options["path"], "/a/b")
        self.assertEqual(options["heartbeat-mode"], "server")
        self.assertEqual(options["heartbeat-interval"], 2.5)
        self.assertEqual(options["auth-timeout"], 3.0)
        self.assertEqual(options["max-message-size"], 1000)

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
        for name in ("heartbeat-interval", "auth-timeout", "max-message-size"):
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
        ):
            self.assertIn(option, usage)
        for default in ("tcp:8090", "/socket", "client", "10.0", "1048576", "refused"):
            self.assertIn(default, usage)


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
        app_service = list(makeService(parse("--verifier=tests.test_tap:accept_everyone")))[0]
        app_service.startService()
        self.assertIsNone(self.successResultOf(app_service.stopService()))
        self.assertFalse(app_service.running)


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
