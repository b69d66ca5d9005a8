# -*- test-case-name: tests.test_integration -*-
"""
The server's authorized sessions, by client id.
"""

from __future__ import annotations

from typing import Iterator

from ._session import ServerSession


class SessionRegistry:
    """
    Authorized sessions of this server process, by client id.  Read-only
    to applications: sessions enter when authorized and leave when closed.
    """

    def __init__(self) -> None:
        self._by_id: dict[str, ServerSession] = {}

    def get(self, client_id: str) -> ServerSession | None:
        """
        The authorized session of C{client_id}, or C{None}.
        """
        return self._by_id.get(client_id)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[ServerSession]:
        return iter(list(self._by_id.values()))

    def _add(self, session: ServerSession) -> ServerSession | None:
        """
        Register C{session} under its id; return the session it displaces.
        """
        assert session.id is not None
        old = self._by_id.get(session.id)
        self._by_id[session.id] = session
        return old

    def _remove(self, session: ServerSession) -> None:
        if session.id is not None and self._by_id.get(session.id) is session:
            del self._by_id[session.id]
