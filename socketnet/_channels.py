# -*- test-case-name: tests.test_routing -*-
"""
Server-side channels: C{app.channels} and the L{ServerChannel}s in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from . import _frames
from ._replies import check_timeout

if TYPE_CHECKING:
    from ._router import Router
    from ._session import ServerSession


def check_channel_id(channel_id: object) -> str:
    """
    @raise ValueError: unless C{channel_id} is a valid channel id (the
        same rules as client ids).
    """
    if not _frames.is_valid_id(channel_id):
        raise ValueError(
            f"channel id must be 1 to {_frames.MAX_ID_LENGTH} characters with "
            f"no white space or control characters, not {channel_id!r}"
        )
    return channel_id  # type: ignore[return-value]


class ServerChannel:
    """
    A channel, as the server sees it.

    @ivar id: the channel id.
    """

    def __init__(self, router: Router, channel_id: str):
        self.id = channel_id
        self._router = router
        self._sessions: set[ServerSession] = set()
        self._ensured = False

    def __repr__(self) -> str:
        return f"<ServerChannel {self.id!r} members={sorted(self.members)!r}>"

    @property
    def members(self) -> set[str]:
        """
        The ids of the members connected to this server process.
        """
        return {session.id for session in self._sessions}

    @property
    def sessions(self) -> list[ServerSession]:
        """
        The member sessions connected to this server process.
        """
        return list(self._sessions)

    def send(self, data: Any) -> None:
        """
        Send C{data} to every member, on behalf of the server (C{from} is
        null).

        @raise TypeError: if C{data} holds a value JSON cannot carry.
        """
        self._router.publish(self.id, data)

    def request(self, data: Any, timeout: float | None = 30.0) -> Deferred[Any]:
        """
        Send C{data} to every member and wait for the first reply.

        @return: a L{Deferred} firing with the first reply's data; it fails
            with L{NoSuchSession} when the channel has no member, with
            L{ReplyTimeout}, or with the last member's error when every
            member failed or left.
        """
        check_timeout(timeout)
        return self._router.request_channel(self.id, data, timeout)


class ChannelRegistry:
    """
    The channels of one server: C{app.channels}.
    """

    def __init__(self, router: Router):
        self._router = router
        self._channels: dict[str, ServerChannel] = {}

    def ensure(self, channel_id: str) -> ServerChannel:
        """
        The channel C{channel_id}, made if it does not exist yet (the
        seed's C{channels.assert}); it stays until the server stops.

        @raise ValueError: if C{channel_id} is not a valid channel id.
        """
        channel = self._channels.get(channel_id)
        if channel is None:
            channel = self._channels[channel_id] = ServerChannel(self._router, check_channel_id(channel_id))
        channel._ensured = True
        return channel

    def get(self, channel_id: str) -> ServerChannel | None:
        """
        The channel C{channel_id} if it was ensured or has members here,
        else C{None}.
        """
        return self._channels.get(channel_id)

    def __iter__(self) -> Any:
        return iter(list(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)

    def _add(self, channel_id: str, session: ServerSession) -> None:
        channel = self._channels.get(channel_id)
        if channel is None:
            channel = self._channels[channel_id] = ServerChannel(self._router, channel_id)
        channel._sessions.add(session)

    def _remove(self, channel_id: str, session: ServerSession) -> None:
        channel = self._channels.get(channel_id)
        if channel is None:
            return
        channel._sessions.discard(session)
        if not channel._sessions and not channel._ensured:
            del self._channels[channel_id]


__all__ = ["ServerChannel", "ChannelRegistry", "check_channel_id"]
