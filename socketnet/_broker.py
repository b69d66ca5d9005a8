# -*- test-case-name: tests.test_router_fastpath,tests.test_routing -*-
"""
The in-process broker: routing between sessions of one server process.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from .interfaces import IBroker, IRouter

#: The L{IBroker} methods that L{InProcessBroker.fast_path} stands in for.
_FAST = ("send_to_client", "send_to_node", "publish")


@implementer(IBroker)
class InProcessBroker:
    """
    Every session lives in this process: delivery is a method call and
    membership a dict of sets.  Its L{Deferred}s have always fired.

    Beyond L{IBroker}, it offers the router a synchronous fast path for
    the routing of each message (see L{fast_path}): the same work, with
    plain return values and no L{Deferred}s.  It is not part of
    L{IBroker}; a broker that has to wait keeps to its L{Deferred}s.
    """

    node_id = "local"

    def __init__(self) -> None:
        self._router: IRouter | None = None
        self._members: dict[str, set[str]] = {}

    def attach(self, router: IRouter) -> None:
        self._router = router

    def fast_path(self) -> InProcessBroker | None:
        """
        What the router may call in place of C{send_to_client},
        C{send_to_node} and C{publish}: L{send_to_client_now},
        L{send_to_node_now} and L{publish_now}.

        @return: this broker; or C{None} when a subclass overrides one of
            the three L{Deferred}-returning methods, so that what it
            changed is kept.
        """
        cls = type(self)
        for name in _FAST:
            if getattr(cls, name) is not getattr(InProcessBroker, name):
                return None
        return self

    def register(self, client_id: str) -> Deferred[None]:
        return succeed(None)

    def unregister(self, client_id: str) -> Deferred[None]:
        return succeed(None)

    def send_to_client(self, client_id: str, envelope: dict[str, Any]) -> Deferred[bool]:
        return succeed(self.send_to_client_now(client_id, envelope))

    def send_to_node(self, node_id: str, envelope: dict[str, Any]) -> Deferred[None]:
        self.send_to_node_now(node_id, envelope)
        return succeed(None)

    def publish(
        self, channel_id: str, envelope: dict[str, Any], exclude: str | None
    ) -> Deferred[int]:
        return succeed(self.publish_now(channel_id, envelope, exclude))

    def send_to_client_now(self, client_id: str, envelope: dict[str, Any]) -> bool:
        """
        L{IBroker.send_to_client}, synchronously.

        @return: whether the client was there.
        """
        assert self._router is not None
        return self._router.deliver_to_client(client_id, envelope)

    def send_to_node_now(self, node_id: str, envelope: dict[str, Any]) -> None:
        """
        L{IBroker.send_to_node}, synchronously: every node is this one.
        """
        assert self._router is not None
        self._router.deliver_to_node(envelope)

    def publish_now(self, channel_id: str, envelope: dict[str, Any], exclude: str | None) -> int:
        """
        L{IBroker.publish}, synchronously.

        @return: how many members received the message.
        """
        assert self._router is not None
        members = self._members.get(channel_id, ())
        recipients = [m for m in members if m != exclude]
        return self._router.deliver_to_members(channel_id, recipients, envelope)

    def join(self, channel_id: str, client_id: str) -> Deferred[bool]:
        members = self._members.setdefault(channel_id, set())
        joined = client_id not in members
        members.add(client_id)
        return succeed(joined)

    def exit(self, channel_id: str, client_id: str) -> Deferred[bool]:
        members = self._members.get(channel_id)
        if members is None or client_id not in members:
            return succeed(False)
        members.discard(client_id)
        if not members:
            del self._members[channel_id]
        return succeed(True)

    def members(self, channel_id: str) -> Deferred[list[str]]:
        return succeed(sorted(self._members.get(channel_id, ())))
