"""
The yardstick of the C{handshake} workload: RSA-4096 OAEP decryptions per
second that C{cryptography} does on one thread, in a process of its own.

    python -m bench._rsaref [--seconds 2] [--key tests/vectors/test_server_key.pem]

Encrypts one 32-byte secret once, then decrypts that fixed ciphertext in
a loop for about C{--seconds} with the function the server calls
(C{socketnet._keys.decrypt_secret}), and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from time import perf_counter, process_time

from cryptography.hazmat.primitives import serialization

from socketnet import _keys

DEFAULT_KEY = "tests/vectors/test_server_key.pem"


def measure(key_path: str, seconds: float) -> dict[str, float]:
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    ciphertext = _keys.encrypt_secret(key.public_key(), os.urandom(_keys.SECRET_LENGTH))
    _keys.decrypt_secret(key, ciphertext)  # warm up
    count = 0
    t0, c0 = perf_counter(), process_time()
    deadline = t0 + seconds
    while True:
        _keys.decrypt_secret(key, ciphertext)
        count += 1
        now = perf_counter()
        if now >= deadline:
            break
    cpu = process_time() - c0
    wall = now - t0
    return {
        "event": "rsa",
        "decrypts": count,
        "seconds": wall,
        "per_second": count / wall,
        "cpu_us_per_decrypt": 1e6 * cpu / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._rsaref")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--key", default=DEFAULT_KEY)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(measure(args.key, args.seconds)) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
