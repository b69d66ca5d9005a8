"""
Tests for L{socketnet.closecodes}: every close code is documented in
C{docs/protocol.md} and carries a reason a close frame can hold.
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from socketnet.closecodes import TERMINAL_CODES, CloseCode

PROTOCOL_DOC = Path(__file__).parent.parent / "docs" / "protocol.md"

#: A close frame's payload is at most 125 bytes, 2 of them the code.
MAX_REASON_BYTES = 123

#: The standard codes socketnet uses; every other code must be private.
STANDARD_CODES = {1000, 1001, 1009, 1013}


class CloseCodeTests(SynchronousTestCase):
    """
    Close codes, their reasons, and their documentation.
    """

    def test_every_code_documented(self) -> None:
        """
        Every L{CloseCode} value appears in C{docs/protocol.md} as a
        whole number.
        """
        text = PROTOCOL_DOC.read_text(encoding="utf-8")
        missing = [
            code for code in CloseCode if not re.search(rf"(?<!\d){code.value}(?!\d)", text)
        ]
        self.assertEqual(missing, [])

    def test_every_code_has_table_row(self) -> None:
        """
        Every L{CloseCode} value starts a row of a table in
        C{docs/protocol.md}, written as a plain number.
        """
        text = PROTOCOL_DOC.read_text(encoding="utf-8")
        missing = [
            code for code in CloseCode if not re.search(rf"^\| {code.value} \|", text, re.M)
        ]
        self.assertEqual(missing, [])

    def test_reason_fits_close_frame(self) -> None:
        """
        Every member has a non-empty reason of at most 123 UTF-8 bytes.
        """
        for code in CloseCode:
            reason = code.reason
            self.assertIsInstance(reason, str, code)
            self.assertTrue(reason, code)
            self.assertLessEqual(len(reason.encode("utf-8")), MAX_REASON_BYTES, code)

    def test_private_codes_in_private_range(self) -> None:
        """
        Every code other than the standard 1000, 1001, 1009 and 1013 is in the
        private range 4000-4999.
        """
        for code in CloseCode:
            if code.value not in STANDARD_CODES:
                self.assertTrue(4000 <= code.value <= 4999, code)

    def test_standard_codes(self) -> None:
        """
        The standard codes socketnet uses are members with their RFC 6455
        values.
        """
        self.assertEqual(
            {CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.MESSAGE_TOO_BIG, CloseCode.TRY_AGAIN_LATER},
            STANDARD_CODES,
        )

    def test_terminal_codes_are_close_codes(self) -> None:
        """
        L{TERMINAL_CODES} is a non-empty subset of L{CloseCode}: refusal,
        the two duplicate-id codes, and a server that requires encryption.
        """
        self.assertTrue(TERMINAL_CODES)
        self.assertLessEqual(set(TERMINAL_CODES), set(CloseCode))
        for code in TERMINAL_CODES:
            self.assertIsInstance(code, CloseCode)
        self.assertEqual(
            set(TERMINAL_CODES),
            {CloseCode.UNAUTHORIZED, CloseCode.ID_IN_USE, CloseCode.REPLACED, CloseCode.ENCRYPTION_REQUIRED},
        )
