"""
socket.net's example client, ported line by line to socketnet.

    python examples/seed_client.py [URL]

URL is "ws://127.0.0.1:8090/socket" by default; the demo server accepts
any token.
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

from socketnet import Authorization, ClientApp, Heartbeat

log = Logger(namespace="seed_client")


def make_app(reactor=None):
    if reactor is None:
        from twisted.internet import reactor
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

        @session.sessions.on_message
        def client_message(m):
            log.info("{data}", data=m.data)
            if m.reply:
                m.reply("client to client: reply expected, answer 1")

        @session.on_authorized
        def authorized(session):
            session.send("client: no reply expected")
            session.request("client: reply expected").addCallbacks(
                lambda payload: log.info("{payload}", payload=payload),
                lambda failure: log.info("request failed: {f}", f=failure.value),
            ).addBoth(lambda _: log.info("client: reply expected, done"))

            session.sessions.to("1").send("client to client: no reply expected")
            session.sessions.to("1").request("client to client: reply expected").addCallbacks(
                lambda payload: log.info("{payload}", payload=payload),
                lambda failure: log.info("request failed: {f}", f=failure.value),
            ).addBoth(lambda _: log.info("client to client: reply expected, done"))

            chan = session.channel("1")
            chan.on_message(lambda m: log.info("{data}", data=m.data))
            chan.send("channel test")

            def joined(_):
                chan.send("channel test")
                later = reactor.callLater(1.0, chan.exit)  # setTimeout(chan.exit, 1000)
                session.on_closed(lambda s, reason: later.active() and later.cancel())

            chan.join().addCallback(joined)

    return app


def main(reactor, url="ws://127.0.0.1:8090/socket"):
    make_app(reactor).connect(url)  # app.conn(url)
    return Deferred()  # run until interrupted


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    react(main, sys.argv[1:])
