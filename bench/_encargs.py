"""
How the encrypted workloads start the socketnet server.

Every encrypted workload runs socketnet with C{encrypt="required"} and a
fixed RSA-4096 key, the test key of C{tests/vectors/} (PKCS#8, never used
outside tests and benchmarks), so no run pays for key generation.

socketnet limits the encryption handshakes each peer address may start
(C{ServerApp(handshakes_per_second=20.0, handshake_burst=40)} by default,
1013 past that).  The benchmark measures throughput, so by default
(C{--handshake-limit raised}) it raises both far beyond anything a run
reaches; C{--handshake-limit library} keeps the library's defaults.
"""

from __future__ import annotations

import argparse

#: Encrypted workload -> the plaintext workload it encrypts.
ENCRYPTED = {"request-enc": "request", "fanout-enc": "fanout"}

#: Relative to the project root, the children's working directory.
SERVER_KEY = "tests/vectors/test_server_key.pem"

#: Per-address handshake budget with C{--handshake-limit raised}.
RAISED_RATE = 1_000_000.0
RAISED_BURST = 1_000_000


def encrypted_server_args(opts: argparse.Namespace) -> list[str]:
    args = ["--encrypt", "required", "--server-key", SERVER_KEY]
    if opts.handshake_limit == "raised":
        args += ["--handshakes-per-second", str(RAISED_RATE), "--handshake-burst", str(RAISED_BURST)]
    return args
