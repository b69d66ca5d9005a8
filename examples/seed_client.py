"""
socket.net's example client, ported line by line to socketnet.

    python examples/seed_client.py [URL]

URL is "ws://127.0.0.1:8090/socket" by default; the demo server accepts
any token.  The seed's client-to-client and channel lines arrive with the
routing issue; they are left out here, not stubbed.
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

from socketnet import Authorization, ClientApp, Heartbeat

log = Logger(namespace="seed_client")


def make_app(reactor=None):
    app = ClientApp(
        authorization=Authorization(id="1", token="123", data={}),
        heartbeat=Heartbeat(mode="client", interval=10.0),  # duration: 10 * 1000 ms
        reactor=reactor,
    )

    @app.on_session
    def session_opened(session):
        @session.on_message
        def server_message(m):
            log.info("{data} {reply}", data=m.data, reply=m.reply)
            if m.reply:
                m.reply("server: reply expected, answer 1")

        @session.on_authorized
        def authorized(session):
            session.send("client: no reply expected")
            session.request("client: reply expected").addCallbacks(
                lambda payload: log.info("{payload}", payload=payload),
                lambda failure: log.info("request failed: {f}", f=failure.value),
            ).addBoth(lambda _: log.info("client: reply expected, done"))

    return app


def main(reactor, url="ws://127.0.0.1:8090/socket"):
    make_app(reactor).connect(url)  # app.conn(url)
    return Deferred()  # run until interrupted


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    react(main, sys.argv[1:])
