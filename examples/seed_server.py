"""
socket.net's example server, ported line by line to socketnet.

    python examples/seed_server.py [ENDPOINT]

ENDPOINT is a Twisted endpoint string, "tcp:8090" by default.  The seed's
commented-out lines stay comments, written in this API.
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

from socketnet import ServerApp

log = Logger(namespace="seed_server")


def make_app(reactor=None):
    sn = ServerApp(path="/socket", reactor=reactor)  # sn.listen("/socket")

    @sn.set_token_verifier
    def verify(data):
        log.info("{id} {token} {data}", id=data.id, token="***", data=data.data)
        return True

    @sn.on_session
    def session_opened(session):
        @session.on_authorized
        def authorized(session):
            session.send("server: no reply expected")
            session.request("server: reply expected").addCallbacks(
                lambda payload: log.info("{payload}", payload=payload),
                lambda failure: log.info("server request failed: {f}", f=failure.value),
            ).addBoth(lambda _: log.info("server: reply expected, done"))

    @sn.on_channel_session_joined
    def joined(channel_id, session):
        log.info("{channel} {id}", channel=channel_id, id=session.id)
        sn.channels.ensure(channel_id).send("channel joined: server to client")
        # sn.channels.get(channel_id).send("server sends to the channel")
        # session.channel(channel_id).request(2345).addBoth(log.info)

    @sn.on_channel_session_exited
    def exited(channel_id, session):
        log.info("{channel} {id}", channel=channel_id, id=session.id)
        sn.channels.ensure(channel_id).send("channel exited: server to client")

    @sn.on_message
    def ask_back(m, session):
        session.request(1234).addCallbacks(
            lambda p: log.info("{p}", p=p),
            lambda failure: log.info("request failed: {f}", f=failure.value),
        ).addBoth(lambda _: log.info("done"))

    @sn.on_message
    def answer(message, session):
        log.info("{data} {reply}", data=message.data, reply=message.reply)
        if message.reply:
            message.reply("client: reply expected, answer 1")

    return sn


def main(reactor, endpoint="tcp:8090"):
    log.info("server run")
    d = make_app(reactor).listen(endpoint)
    d.addCallback(lambda port: Deferred())  # serve until interrupted
    return d


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    react(main, sys.argv[1:])
