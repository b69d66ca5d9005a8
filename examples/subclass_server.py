"""
A socketnet server built the Twisted way: subclass the protocol and
override its hooks instead of registering handlers.

    python examples/subclass_server.py [ENDPOINT] [TOKENS-FILE]

Clients authorize with an id and token from examples/tokens.txt; every
request is answered with its data reversed, and the server greets each
client once it is authorized.
"""

import hmac
import sys
from pathlib import Path

from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

from socketnet import ServerApp
from socketnet.protocol import SocketnetServerProtocol


def read_tokens(path):
    tokens = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            client_id, token = line.split()
            tokens[client_id] = token
    return tokens


class ReversingProtocol(SocketnetServerProtocol):
    """
    Answers every request with its data reversed.
    """

    _log = Logger()

    def verifyAuthorization(self, authorization):
        expected = self.factory.tokens.get(authorization.id, "")
        return hmac.compare_digest(expected.encode(), authorization.token.encode()) and bool(expected)

    def sessionAuthorized(self, session):
        session.send({"welcome": session.id})

    def messageReceived(self, message):
        if isinstance(message.data, str):
            return message.data[::-1]
        raise TypeError("send me a string")

    def sessionClosed(self, session, reason):
        self._log.info("{id} left: {reason}", id=session.id, reason=reason)


def make_app(tokens, reactor=None):
    app = ServerApp(protocol=ReversingProtocol, reactor=reactor)
    app.factory.tokens = tokens
    return app


def main(reactor, endpoint="tcp:8090", tokens_file=None):
    if tokens_file is None:
        tokens_file = Path(__file__).with_name("tokens.txt")
    app = make_app(read_tokens(tokens_file), reactor)
    return app.listen(endpoint).addCallback(lambda port: Deferred())


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    react(main, sys.argv[1:])
