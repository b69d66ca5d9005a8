"""
A terminal chat: each process is one client, in one room, with direct
messages between clients.

    python examples/chat.py ID TOKEN [--url ws://127.0.0.1:8090/socket] [--room lobby]

Start a server with the demo tokens (ids 1, 2 and 3), then one chat per
terminal:

    twistd -n socketnet --listen tcp:8090:interface=127.0.0.1 --tokens examples/tokens.txt
    python examples/chat.py 1 demo-token-one
    python examples/chat.py 2 demo-token-two

A line you type goes to the room; the other members see `[lobby] 1: text`.

    /msg ID text   a direct message, shown to client ID as `[from 1] text`
    /who           the members of the room
    /quit          leave once the server has answered what came before (so
                   does the end of input, Ctrl-D)

The client reconnects by itself and joins the room again.  The server does
not tell clients who joins or leaves, so neither does the chat: ask /who.
"""

import argparse
import json

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver
from zope.interface import implementer

from socketnet import Authorization, ClientApp, Heartbeat
from socketnet.closecodes import TERMINAL_CODES
from socketnet.errors import NoSuchSession, SessionClosed, SocketnetError

HELP = "* /msg ID text, /who, /quit; any other line goes to the room"


def printable(data):
    # Message data as text, without control characters to drive the terminal.
    text = data if isinstance(data, str) else json.dumps(data)
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


def an_id(text):  # client and channel ids: what the server accepts
    if not 0 < len(text) <= 128 or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise argparse.ArgumentTypeError(f"{text!r}: 1 to 128 characters, no white space")
    return text


def make_app(client_id, token, reactor=None):
    return ClientApp(
        Authorization(client_id, token),
        heartbeat=Heartbeat(mode="client", interval=10.0),  # as twistd socketnet's default
        reconnect=True,
        reactor=reactor,
    )


class Chat:
    """
    The chat without the terminal: lines in through L{line_received}, text
    out through C{output(text)}.  C{done} fires once the chat has quit.
    """

    def __init__(self, app, output, room="lobby"):
        self.app = app
        self.output = output
        self.room = room
        self.session = None  # the newest session; while reconnecting, sends wait in its outbox
        self.channel = None
        self.quitting = False
        self.done = Deferred()
        app.on_session(self._session_opened)

    def _session_opened(self, session):
        # Handlers on a session (and its .sessions) end with its connection,
        # so every new session gets them.  The channel outlives connections,
        # keeps its handlers and joins again by itself: set it up once.
        self.session = session
        session.sessions.on_message(self._direct_message)
        session.on_error(self._error)
        session.on_authorized(lambda s: self.output(f"* connected as {s.id} to room {self.room}"))
        session.on_closed(self._closed)
        if self.channel is None:
            self.channel = session.channel(self.room)
            self.channel.on_message(self._room_message)
            self.channel.join().addErrback(self._failed, f"could not join {self.room}")

    def _room_message(self, message):
        sender = message.sender or "server"  # None: the server sent it
        self.output(f"[{self.room}] {sender}: {printable(message.data)}")

    def _direct_message(self, message):
        self.output(f"[from {message.sender}] {printable(message.data)}")

    def _error(self, error):
        if isinstance(error, NoSuchSession) and error.to is not None:
            self.output(f"! nobody is connected as {error.to}")
        else:
            self.output(f"! {error}")

    def _failed(self, failure, what):
        self.output(f"! {what}: {failure.value}")

    def _closed(self, session, reason):
        if self.quitting:
            return
        if reason.code in TERMINAL_CODES:
            self.output(f"! {reason}; not reconnecting")
            self.quit()
        else:
            self.output(f"! connection lost ({reason}); reconnecting")

    def line_received(self, line):
        line = line.strip()
        if not line or self.quitting:
            return
        if self.session is None:
            self.output("! not connected yet")
            return
        command, _, rest = line.partition(" ")
        try:
            if not line.startswith("/"):
                self.channel.send(line)
            elif command == "/msg":
                to, _, text = rest.strip().partition(" ")
                if not text.strip():
                    self.output("! usage: /msg ID text")
                else:
                    self.session.sessions.to(to).send(text.strip())
            elif command == "/who":
                d = self.channel.members()
                d.addCallback(lambda ids: self.output(f"* in {self.room}: {', '.join(ids)}"))
                d.addErrback(self._failed, "/who")
            elif command == "/quit":
                self.quit()
            else:
                self.output(HELP)
        except (SocketnetError, ValueError) as e:  # QueueFull, a bad id...
            self.output(f"! {e}")

    def quit(self, flush=True):
        if not self.quitting:
            self.quitting = True
            # Closing drops whatever arrives afterwards.  The server answers
            # one client's frames in order, so once it has answered a last
            # request, the answers to earlier ones (a piped /who, a /msg to
            # nobody) have been printed.
            flush = flush and self.app.session is not None
            d = self.channel.members() if flush else succeed(None)
            d.addErrback(lambda failure: None)
            d.addCallback(lambda _: self.app.close())
            d.addErrback(self._failed, "closing")
            d.addBoth(lambda _: self.done.callback(None))
        return self.done


@implementer(IHalfCloseableProtocol)  # so the end of stdin leaves stdout open
class Terminal(LineReceiver):
    delimiter = b"\n"

    def __init__(self):
        self.chat = None
        self.lost = Deferred()

    def write_line(self, text):
        self.transport.write(text.encode("utf-8", "replace") + b"\n")

    def lineReceived(self, line):
        self.chat.line_received(line.decode("utf-8", "replace"))

    def lineLengthExceeded(self, line):
        self.write_line("! line too long, not sent")

    def readConnectionLost(self):
        self.chat.quit()

    def writeConnectionLost(self):
        self.chat.quit()

    def connectionLost(self, reason):
        self.lost.callback(None)


async def main(reactor, *argv):
    parser = argparse.ArgumentParser(description="A socketnet terminal chat.")
    parser.add_argument("id", type=an_id)
    parser.add_argument("token")
    parser.add_argument("--url", default="ws://127.0.0.1:8090/socket")
    parser.add_argument("--room", default="lobby", type=an_id)
    args = parser.parse_args(argv)

    terminal = Terminal()
    stdio = StandardIO(terminal, reactor=reactor)
    stdio.pauseProducing()  # no line is read before there is a session
    app = make_app(args.id, args.token, reactor)
    chat = terminal.chat = Chat(app, terminal.write_line, args.room)
    reactor.addSystemEventTrigger("before", "shutdown", chat.quit, flush=False)  # Ctrl-C
    terminal.write_line(f"* connecting to {args.url} as {args.id}")
    code = 0
    try:
        await app.connect(args.url)
    except SessionClosed:
        pass  # Ctrl-C before the first session
    except SocketnetError as e:  # refused: Unauthorized, ...
        chat.quit()
        terminal.write_line(f"! {type(e).__name__}: {e}")
        code = 1
    else:
        stdio.resumeProducing()
        await chat.done
    stdio.loseConnection()  # once what is left to write is written
    await terminal.lost
    raise SystemExit(code)


if __name__ == "__main__":
    import sys

    react(main, sys.argv[1:])
