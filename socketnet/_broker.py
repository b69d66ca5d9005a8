# -*- test-case-name: tests.test_broker,tests.test_routing -*-
"""
The in-process broker: routing between sessions of one server process.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from .interfaces import IBroker, IRouter


@implementer(IBroker)
class InProcessBroker:
    """
    Every session lives in this process: delivery is a method call and
    membership a dict of sets.  Its L{Deferred}s have always fired.
    """

    node_id = "local"

    def __init__(self) -> None:
        self._router: IRouter | None = None
        self._members: dict[str, set[str]] = {}

    def attach(self, router: IRouter) -> None:
        self._router = router

    def register(self, client_id: str) -> Deferred[None]:
        return succeed(None)

    def unregister(self, client_id: str) -> Deferred[None]:
        return succeed(None)

    def send_to_client(self, client_id: str, envelope: dict[str, Any]) -> Deferred[bool]:
        assert self._router is not None
        return succeed(self._router.deliver_to_client(client_id, envelope))

    def send_to_node(self, node_id: str, envelope: dict[str, Any]) -> Deferred[None]:
        assert self._router is not None
        self._router.deliver_to_node(envelope)
        return succeed(None)

    def publish(
        self, channel_id: str, envelope: dict[str, Any], exclude: str | None
    ) -> Deferred[int]:
        assert self._router is not None
        members = self._members.get(channel_id, ())
        recipients = [m for m in members if m != exclude]
        return succeed(self._router.deliver_to_members(channel_id, recipients, envelope))

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
