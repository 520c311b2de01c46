"""Throughput of DIGEST-MD5's security layers: wrap+unwrap per cipher next to the raw cipher.

Run from the repository root: ``python bench/layers.py [--quick] [--json] [--size N]``.
What the rows measure, the target and the latest numbers are in docs/bench.md.

Rules of this script:
- A row moves one message of ``--size`` octets (64 KiB by default) across a
  layer and back into plaintext, and reports MB/s of message (1 MB = 10**6 octets).
- ``floor``: the raw cipher from ``cryptography`` (via sasl_kit.decrepit.ciphers,
  the same OpenSSL calls) encrypting the message and decrypting it again, with
  running contexts as the layer keeps them; for auth-int, which has no cipher,
  one HMAC-MD5 each way. ``floor + MAC``: the least any RFC 2831 layer must do,
  cipher and HMAC-MD5 both ways. ``sasl-kit``: ``DigestLayer.wrap`` on one side,
  ``unwrap`` on the other. ``sasl-kit framed``: the same through ``Framer.wrap``
  and ``Framer.feed`` (the 4-octet length prefixes of RFC 4422 3.7).
- Before timing, every sasl-kit row's round trip is checked to give the message
  back; a mismatch exits 1. Speed is reported, never asserted: the target
  (sasl-kit within 1.5x of the floor) shows in the ``x floor`` column.
- Timing: ``perf_counter``, garbage collector off, best of several batches; the
  batches of all rows are interleaved so a busy moment hits every row alike.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import hmac
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cryptography

from sasl_kit.decrepit import ciphers as decrepit_ciphers
from sasl_kit.mechanisms.digest_layer import CIPHERS, DigestLayer, sealing_keys, signing_keys
from sasl_kit.mechanisms.digest_md5 import MAX_MAXBUF
from sasl_kit.security_layer import Framer

H_A1 = bytes(range(16))
LAYERS: list[str | None] = [None, *CIPHERS]  # None: auth-int
TARGET = 1.5


@dataclass
class Row:
    layer: str
    implementation: str
    run: Callable[[], None]
    best: float = float("inf")
    times: list[float] = field(default_factory=list)


def _label(cipher: str | None) -> str:
    return "auth-int" if cipher is None else f"auth-conf {cipher}"


def _layers(cipher: str | None) -> tuple[DigestLayer, DigestLayer]:
    qop = "auth-int" if cipher is None else "auth-conf"
    return tuple(  # type: ignore[return-value]
        DigestLayer(H_A1, side=s, qop=qop, cipher=cipher, maxbuf=MAX_MAXBUF, peer_maxbuf=MAX_MAXBUF)
        for s in ("client", "server")
    )


def _raw(cipher: str | None, message: bytes, *, mac: bool) -> Callable[[], None]:
    """The floor: the cipher both ways (block ciphers on whole blocks), optionally the MAC too."""
    kic, _ = signing_keys(H_A1)
    data = message + bytes(-len(message) % 8) if cipher in ("des", "3des") else message
    if cipher is None:

        def run_mac_only() -> None:
            hmac.new(kic, message, hashlib.md5).digest()
            hmac.new(kic, message, hashlib.md5).digest()

        return run_mac_only
    kcc, _ = sealing_keys(H_A1, cipher)
    if cipher.startswith("rc4"):
        encrypt, decrypt = decrepit_ciphers.rc4(kcc), decrepit_ciphers.rc4(kcc)
    else:
        k1, k2 = decrepit_ciphers.des_key(kcc[:7]), decrepit_ciphers.des_key(kcc[7:14])
        if cipher == "des":
            encrypt = decrepit_ciphers.des_cbc(k1, kcc[8:], encrypt=True)
            decrypt = decrepit_ciphers.des_cbc(k1, kcc[8:], encrypt=False)
        else:
            encrypt = decrepit_ciphers.des_ede2_cbc(k1, k2, kcc[8:], encrypt=True)
            decrypt = decrepit_ciphers.des_ede2_cbc(k1, k2, kcc[8:], encrypt=False)

    def run() -> None:
        plain = decrypt.update(encrypt.update(data))
        if mac:
            hmac.new(kic, message, hashlib.md5).digest()
            hmac.new(kic, plain, hashlib.md5).digest()

    return run


def _kit(cipher: str | None, message: bytes, *, framed: bool) -> Callable[[], None]:
    sender, receiver = _layers(cipher)
    if framed:
        send, receive = Framer(sender), Framer(receiver)
        if receive.feed(send.wrap(message)) != [message]:
            raise SystemExit(f"bench/layers.py: framed round trip of {_label(cipher)} differs")

        def run_framed() -> None:
            receive.feed(send.wrap(message))

        return run_framed
    if receiver.unwrap(sender.wrap(message)) != message:
        raise SystemExit(f"bench/layers.py: round trip of {_label(cipher)} differs")

    def run() -> None:
        receiver.unwrap(sender.wrap(message))

    return run


def build_rows(size: int) -> list[Row]:
    message = os.urandom(size)
    rows = []
    for cipher in LAYERS:
        label = _label(cipher)
        rows += [
            Row(label, "floor (cryptography)", _raw(cipher, message, mac=False)),
            Row(label, "floor + MAC", _raw(cipher, message, mac=True)),
            Row(label, "sasl-kit", _kit(cipher, message, framed=False)),
            Row(label, "sasl-kit framed", _kit(cipher, message, framed=True)),
        ]
    return rows


def time_rows(rows: list[Row], loops: int, batches: int) -> None:
    for _ in range(batches):
        for row in rows:
            gc.disable()
            try:
                start = time.perf_counter()
                for _ in range(loops):
                    row.run()
                elapsed = (time.perf_counter() - start) / loops
            finally:
                gc.enable()
            row.times.append(elapsed)
            row.best = min(row.best, elapsed)


def report(rows: list[Row], size: int, loops: int, batches: int) -> dict[str, Any]:
    floors = {r.layer: r.best for r in rows if r.implementation == "floor (cryptography)"}
    return {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "message_octets": size,
        "loops": loops,
        "batches": batches,
        "target": f"sasl-kit within {TARGET}x of the floor",
        "rows": [
            {
                "layer": r.layer,
                "implementation": r.implementation,
                "mb_per_s": round(size / r.best / 1e6, 1),
                "x_floor": round(r.best / floors[r.layer], 2),
            }
            for r in rows
        ],
    }


def render(doc: dict[str, Any]) -> str:
    lines = [
        f"{'layer':<18}{'implementation':<22}{'MB/s':>9}{'x floor':>9}",
    ]
    for row in doc["rows"]:
        lines.append(
            f"{row['layer']:<18}{row['implementation']:<22}{row['mb_per_s']:>9.1f}"
            f"{row['x_floor']:>9.2f}"
        )
    lines.append("")
    lines.append(
        f"{doc['date']}, Python {doc['python']}, cryptography {doc['cryptography']}, "
        f"{doc['machine']}; messages of {doc['message_octets']} octets, best of "
        f"{doc['batches']} batches of {doc['loops']}. Target: {doc['target']}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: numbers are rough")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--size", type=int, default=64 * 1024, help="message octets (64 KiB)")
    args = parser.parse_args(argv)
    loops, batches = (1, 1) if args.quick else (20, 7)
    rows = build_rows(args.size)
    time_rows(rows, loops, batches)
    doc = report(rows, args.size, loops, batches)
    print(json.dumps(doc, indent=2) if args.json else render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
