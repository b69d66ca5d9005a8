# -*- test-case-name: tests.test_stack -*-
"""
Interfaces of socketnet's protocol layers.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface


class ILayer(Interface):
    """
    One layer of a connection's protocol stack.

    A stack is, from the wire up: transport, encrypt, frame codec,
    heartbeat, authorization, application.  Frames read from the wire go up
    through L{receive}; frames written by the application go down through
    L{write}.  A layer is built with four callables from the stack (and
    then handed the layer above's C{receive} through L{link_up}) and never
    reaches any other layer directly:

      - C{write_down(frame)}: hand a frame to the layer below;
      - C{deliver_up(frame)}: hand a frame to the layer above;
      - C{close(code, reason)}: close the connection with a WebSocket close
        code and a human-readable reason;
      - C{clock}: an L{IReactorTime} for every timer the layer needs.

    Below the codec a frame goes up as a C{(payload: bytes, is_binary:
    bool)} tuple, and down either as that tuple or as L{bytes} alone, which
    is a text message; above it, frames go up as validated L{dict}s and
    down as encoded JSON L{bytes}.
    """

    passes_writes = Attribute(
        """
        C{True} if L{write} always hands its frame unchanged to
        C{write_down}: the stack then wires the layer above straight to
        the layer below, and this layer's L{write} is not called.
        C{False} otherwise.
        """
    )

    def start() -> None:
        """
        The stack is wired; start timers and send any opening frames.
        Called once, bottom layer first.
        """

    def link_up(deliver_up: object) -> None:
        """
        The stack is built: from now on, hand frames to the layer above
        through C{deliver_up}, which replaces the one given to the
        constructor.  The stack calls it once, before L{start}, on every
        layer but the top one, so that frames go up without a hop in
        between.
        """

    def receive(frame: object) -> None:
        """
        A frame arrived from the layer below.

        @raise socketnet.errors.ProtocolError: if the peer broke the
            protocol; the stack closes the connection with its code.
        """

    def write(frame: object) -> None:
        """
        A frame from the layer above is to be sent.
        """

    def destroy(reason: Exception) -> None:
        """
        The connection is gone: cancel timers, fail pending L{Deferred}s
        with an error built from C{reason}, drop references.  Called once;
        the layer is not used afterwards.
        """


class IRouter(Interface):
    """
    What a broker delivers to: the routing of one server process (a
    node).  Envelopes are JSON-able dicts:

      - a message: C{{"data", "from", "channel"?, "route"?}}, where
        C{"from"} is the sender's client id or C{None} for the server, and
        C{"route"} is C{[node_id, token]} when a reply is wanted;
      - a reply: C{{"token", "data"}} or C{{"token", "error": {"name",
        "message"}}}.
    """

    def deliver_to_client(client_id: str, envelope: dict) -> bool:
        """
        Deliver a message to a client connected to this node.

        @return: whether such an authorized session is here.
        """

    def deliver_to_members(channel_id: str, client_ids: list, envelope: dict) -> int:
        """
        Deliver a channel message to those of C{client_ids} connected here.

        @return: how many received it.
        """

    def deliver_to_node(envelope: dict) -> None:
        """
        A reply to a request that this node routed out arrived.
        """


class IBroker(Interface):
    """
    Carries routing between the sessions of one application, wherever
    they are connected.  The in-process broker is the embedded default;
    a message-broker implementation lets several nodes serve one
    application.  Every method that a remote broker would need to wait
    for returns a L{Deferred}.
    """

    node_id = Attribute("This node's id, unique among the nodes of one application.")

    def attach(router: IRouter) -> None:
        """
        Deliver to C{router} from now on.
        """

    def register(client_id: str) -> Deferred:
        """
        A session of C{client_id} is authorized on this node.
        """

    def unregister(client_id: str) -> Deferred:
        """
        This node no longer has a session of C{client_id}.
        """

    def send_to_client(client_id: str, envelope: dict) -> Deferred:
        """
        Deliver a message to C{client_id} on whichever node has it.

        @return: a L{Deferred} firing with whether the client was there.
        """

    def send_to_node(node_id: str, envelope: dict) -> Deferred:
        """
        Deliver a reply envelope to the node that routed the request.
        """

    def publish(channel_id: str, envelope: dict, exclude: str | None) -> Deferred:
        """
        Deliver a message to every member of C{channel_id} but C{exclude}.

        @return: a L{Deferred} firing with how many members received it.
        """

    def join(channel_id: str, client_id: str) -> Deferred:
        """
        Make C{client_id} a member; fires with whether it was not one yet.
        """

    def exit(channel_id: str, client_id: str) -> Deferred:
        """
        Remove C{client_id}; fires with whether it was a member.
        """

    def members(channel_id: str) -> Deferred:
        """
        Fires with the sorted list of the channel's member ids.
        """
