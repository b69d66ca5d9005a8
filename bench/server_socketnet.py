"""
The socketnet server under test, in its own process.

    python -m bench.server_socketnet --workload request [--port 0]

A L{ServerApp} at C{/socket} whose verifier accepts everyone, with the
default L{Heartbeat} (client-driven, 10 s) unless told otherwise, and one
C{on_message} handler that answers a request with its data.  C{direct}
and C{fanout} need nothing more: the server routes C{{"to": ...}}
messages and channel messages itself.  Prints C{READY <port>}.

With C{--encrypt required --server-key PEM}, socketnet-enc/1 with a fixed
key (the encrypted workloads, C{handshake} and C{burst}); its per-address
handshake rate limit is set with C{--handshakes-per-second} and
C{--handshake-burst} (the library defaults, 20/s after a burst of 40,
unless given).  With C{--pause-monitor}, a timer every millisecond
records the reactor's lateness, steered through stdin (L{bench._pausemon}).
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

from twisted.internet import reactor

from socketnet import Heartbeat, ServerApp

from ._serverutil import install_profiler, parse, quiet_twisted_logging, raise_fd_limit, ready


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--heartbeat-mode", choices=("client", "server"), default="client")
    parser.add_argument("--heartbeat-interval", type=float, default=10.0)
    parser.add_argument("--encrypt", choices=("off", "optional", "required"), default="off")
    parser.add_argument("--server-key", metavar="PEM", help="PKCS#8 RSA-4096 key (encrypt on)")
    parser.add_argument("--handshakes-per-second", type=float, help="per peer address (library default if absent)")
    parser.add_argument("--handshake-burst", type=int, help="per peer address (library default if absent)")
    parser.add_argument("--pause-monitor", action="store_true", help="measure reactor lateness every 1 ms")
    parser.add_argument("--no-gc-freeze", action="store_true", help="do not gc.freeze() once listening, as twistd socketnet does")


def make_app(heartbeat: Heartbeat, clock: Any = None, **encryption: Any) -> ServerApp:
    """
    The benchmark's L{ServerApp}, on C{clock} (the global reactor unless
    given, as in the server process; in-process tools pass a fake).
    """
    app = ServerApp(path="/socket", heartbeat=heartbeat, reactor=reactor if clock is None else clock, **encryption)

    @app.set_token_verifier
    def verify(authorization):
        return True

    @app.on_message
    def echo(message, session):
        return message.data  # the reply to a request; ignored otherwise

    return app


def main() -> None:
    args = parse("python -m bench.server_socketnet", extra=options)
    raise_fd_limit()
    quiet_twisted_logging()
    install_profiler(args)
    encryption: dict[str, Any] = {}
    if args.encrypt != "off":
        encryption = {"encrypt": args.encrypt, "server_key": args.server_key}
        if args.handshakes_per_second is not None:
            encryption["handshakes_per_second"] = args.handshakes_per_second
        if args.handshake_burst is not None:
            encryption["handshake_burst"] = args.handshake_burst
    if args.pause_monitor:
        from ._pausemon import install

        install(reactor)
    app = make_app(Heartbeat(mode=args.heartbeat_mode, interval=args.heartbeat_interval), **encryption)
    d = app.listen(f"tcp:{args.port}:interface=127.0.0.1:backlog=1024")
    if not args.no_gc_freeze:
        d.addCallback(lambda port: (gc.freeze(), port)[1])  # what twistd socketnet does once started
    d.addCallback(lambda port: ready(port.getHost().port))
    d.addErrback(lambda failure: (print(failure.getTraceback()), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main()
