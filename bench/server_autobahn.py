"""
The raw Autobahn baseline, in its own process: the physical limit of
Twisted + Autobahn for each workload.

    python -m bench.server_autobahn --workload request [--port 0]

C{request}: echo.  C{fanout}: a message from the publisher
(C{?role=pub}) goes to every member (C{?role=member}), framed once with
C{prepareMessage}.  C{direct}: C{"ID payload"} goes to client C{ID} as
C{"SENDER payload"}.  C{idle}: connections that do nothing (with
C{--autoping N}, Autobahn's own WebSocket pings).  Same
WebSocket options as socketnet (sizes, no autoPing, UTF-8 validation,
no compression).  Prints C{READY <port>}.
"""

from __future__ import annotations

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor

from ._serverutil import install_profiler, parse, quiet_twisted_logging, raise_fd_limit, ready


class Baseline(WebSocketServerProtocol):
    def onConnect(self, request):
        params = request.params
        self.role = params.get("role", ["client"])[0]
        self.cid = params.get("id", [""])[0].encode()
        return None

    def onOpen(self):
        f = self.factory
        if self.role == "member":
            f.members.add(self)
        f.by_id[self.cid] = self
        self.onMessage = getattr(self, "on_" + f.workload)

    def on_request(self, payload, is_binary):
        self.sendMessage(payload, is_binary)

    on_idle = on_request

    def on_fanout(self, payload, is_binary):
        prepared = self.factory.prepareMessage(payload, is_binary)
        for member in self.factory.members:
            if member is not self:
                member.sendPreparedMessage(prepared)

    def on_direct(self, payload, is_binary):
        to, _, data = payload.partition(b" ")
        peer = self.factory.by_id.get(to)
        if peer is not None:
            peer.sendMessage(self.cid + b" " + data, is_binary)

    def onClose(self, wasClean, code, reason):
        f = self.factory
        f.members.discard(self)
        if f.by_id.get(getattr(self, "cid", None)) is self:
            del f.by_id[self.cid]


def options(parser) -> None:
    parser.add_argument("--autoping", type=float, default=0.0,
                        help="Autobahn's own WebSocket ping every N seconds (default 0: none, as socketnet sets it)")


def make_factory(workload: str, autoping: float = 0.0, reactor=None) -> WebSocketServerFactory:
    """
    The baseline's factory for C{workload}, with socketnet's WebSocket
    options.
    """
    factory = WebSocketServerFactory(reactor=reactor)
    factory.protocol = Baseline
    factory.noisy = False
    factory.workload = workload
    factory.members = set()
    factory.by_id = {}
    factory.setProtocolOptions(  # as socketnet's _configure sets them
        maxMessagePayloadSize=2**20,
        maxFramePayloadSize=2**20,
        autoPingInterval=autoping,
        autoPingTimeout=2.5 * autoping,
        openHandshakeTimeout=10,
        closeHandshakeTimeout=1,
        utf8validateIncoming=True,
        failByDrop=False,
    )
    return factory


def main() -> None:
    args = parse("python -m bench.server_autobahn", extra=options)
    raise_fd_limit()
    quiet_twisted_logging()
    install_profiler(args)
    factory = make_factory(args.workload, args.autoping, reactor)
    port = reactor.listenTCP(args.port, factory, backlog=1024, interface="127.0.0.1")
    reactor.callWhenRunning(ready, port.getHost().port)
    reactor.run()


if __name__ == "__main__":
    main()
