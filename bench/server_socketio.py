"""
The python-socketio baseline on aiohttp, in its own process.

    python -m bench.server_socketio --workload request [--port 0] [--uvloop]

C{request}: an C{echo} event whose handler returns its data (the ack).
C{fanout}: a C{publish} event is emitted to room C{bench} (every member,
the publisher skipped).  C{direct}: a C{direct} event C{{to, data}} is
emitted to that client as C{{from, data}}.  Clients name themselves and
their role in the namespace connect's auth data.  python-socketio's
defaults otherwise (no logging; compression is only used when a client
offers it, and the load generator does not).  Prints C{READY <port>}.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import socketio
from aiohttp import web

from ._serverutil import install_profiler, parse, raise_fd_limit, ready


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's own loop")


def make_server() -> socketio.AsyncServer:
    sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
    names: dict[str, str] = {}  # client id -> sid
    ids: dict[str, str] = {}  # sid -> client id

    @sio.event
    async def connect(sid, environ, auth):
        auth = auth or {}
        cid = auth.get("id", sid)
        names[cid], ids[sid] = sid, cid
        if auth.get("role") == "member":
            await sio.enter_room(sid, "bench")

    @sio.event
    async def disconnect(sid, *args):
        cid = ids.pop(sid, None)
        if names.get(cid) == sid:
            del names[cid]

    @sio.event
    async def echo(sid, data):
        return data

    @sio.event
    async def publish(sid, data):
        await sio.emit("msg", data, room="bench", skip_sid=sid)

    @sio.event
    async def direct(sid, data):
        to = names.get(data["to"])
        if to is not None:
            await sio.emit("direct", {"from": ids[sid], "data": data["data"]}, to=to)

    return sio


async def serve(port: int) -> None:
    app = web.Application()
    make_server().attach(app)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    ready(site._server.sockets[0].getsockname()[1])
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    args = parse("python -m bench.server_socketio", extra=options)
    raise_fd_limit()
    install_profiler(args)
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
