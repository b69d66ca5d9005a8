"""
The socketnet server under test, in its own process.

    python -m bench.server_socketnet --workload request [--port 0]

A L{ServerApp} at C{/socket} whose verifier accepts everyone, with the
default L{Heartbeat} (client-driven, 10 s) unless told otherwise, and one
C{on_message} handler that answers a request with its data.  C{direct}
and C{fanout} need nothing more: the server routes C{{"to": ...}}
messages and channel messages itself.  Prints C{READY <port>}.
"""

from __future__ import annotations

import argparse

from twisted.internet import reactor

from socketnet import Heartbeat, ServerApp

from ._serverutil import install_profiler, parse, quiet_twisted_logging, raise_fd_limit, ready


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--heartbeat-mode", choices=("client", "server"), default="client")
    parser.add_argument("--heartbeat-interval", type=float, default=10.0)


def make_app(heartbeat: Heartbeat) -> ServerApp:
    app = ServerApp(path="/socket", heartbeat=heartbeat, reactor=reactor)

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
    app = make_app(Heartbeat(mode=args.heartbeat_mode, interval=args.heartbeat_interval))
    d = app.listen(f"tcp:{args.port}:interface=127.0.0.1:backlog=1024")
    d.addCallback(lambda port: ready(port.getHost().port))
    d.addErrback(lambda failure: (print(failure.getTraceback()), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main()
