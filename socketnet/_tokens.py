# -*- test-case-name: tests.test_tap -*-
"""
Client tokens from a file, for C{twistd socketnet --tokens}.
"""

from __future__ import annotations

import hmac

from . import _frames
from ._authorization import Authorization


class TokenVerifier:
    """
    A token verifier: accepts a client whose token is the one listed for
    its id, compared in constant time.
    """

    def __init__(self, tokens: dict[str, str]):
        """
        @param tokens: the token of each client id.
        """
        self._tokens = {client_id: token.encode("utf-8") for client_id, token in tokens.items()}

    def __call__(self, authorization: Authorization) -> bool:
        presented = authorization.token.encode("utf-8")
        expected = self._tokens.get(authorization.id)
        # An unknown id still costs a comparison, against the token itself.
        matches = hmac.compare_digest(presented, presented if expected is None else expected)
        return matches and expected is not None


def parse_tokens(path: str) -> dict[str, str]:
    """
    Read a tokens file: one C{id token} pair a line; blank lines and lines
    starting with C{#} are ignored.

    @return: the token of each client id.
    @raise ValueError: if the file cannot be read, or a line is
        malformed (the message names the line, never its token).
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read tokens file {path}: {e}") from e
    tokens: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        where = f"tokens file {path}, line {number}"
        if len(fields) != 2:
            raise ValueError(f"{where}: expected 'id token', found {len(fields)} fields")
        client_id, token = fields
        if not _frames.is_valid_id(client_id):
            raise ValueError(f"{where}: invalid client id")
        if len(token) > _frames.MAX_TOKEN_LENGTH:
            raise ValueError(f"{where}: token longer than {_frames.MAX_TOKEN_LENGTH} characters")
        if client_id in tokens:
            raise ValueError(f"{where}: client id {client_id!r} listed twice")
        tokens[client_id] = token
    return tokens


__all__ = ["TokenVerifier", "parse_tokens"]
