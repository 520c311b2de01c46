"""Cost of a SCRAM-SHA-256 client login at i=4096: sasl-kit next to scramp and PBKDF2 alone.

Run from the repository root: ``python bench/scram.py [--quick] [--json]``.
What the rows measure, the targets and the latest numbers are in docs/bench.md.

Rules of this script:
- A row times one client login: the client-first message, the client-final
  message for the server-first message, and the check of the server's
  signature. The server's two messages are made once, before anything is timed,
  by sasl-kit's server for the fixed client nonce both clients use; so both
  clients do the same work and verify the same signature.
- The floor is ``hashlib.pbkdf2_hmac`` alone: the SaltedPassword every cold
  login must compute (RFC 5802 3), with nothing around it.
- Cold: sasl-kit's SaltedPassword cache is emptied before each login (untimed).
  Warm: the cache holds the key, as on a repeated login. scramp has no cache, so
  its two rows do the same work; both are measured so each ratio compares rows
  of the same batches.
- Two works. ``steps``: client objects are made before the clock starts, for
  both libraries. ``create + steps``: the client is created under the clock,
  what a login pays; there the cold login gets a fresh salt every time (the
  server's messages for it made untimed, from RFC 5802's formulas), so that no
  cache anywhere can answer, and the floor derives its key from that salt too.
- Before anything is timed, both clients' client-final messages are checked
  against the floor's (the proof recomputed from the floor's SaltedPassword),
  and both must accept the server's signature; a mismatch exits 1.
- Timing: ``perf_counter`` around each login, the garbage collector off,
  batches of all rows interleaved, best batch per row.
- The cold ``create + steps`` row is also timed in pairs, as issue 16's table
  is ("interleaved runs, medians"): each pair is one sasl-kit login (client
  created under the clock, a fresh salt) right next to one floor login over a
  fresh salt of its own, the order alternating from pair to pair, many pairs;
  the median of the per-pair ratios, with its quartiles, is printed beside the
  best-batch numbers. Both logins of a pair meet the same moment of a shared
  machine, which best batches taken seconds apart do not: there the floor's own
  rows drift by more than the target's margin, and a fresh-salt login's cost
  outside PBKDF2 is paid with its caches cold, which a best batch picks the
  luckiest of. **So the verdict of that row reads the paired median**, the
  more honest number; the other rows' verdicts read the best batches.
- sasl-kit's PBKDF2 runs in cryptography's OpenSSL when the process has loaded
  it already, else in hashlib's (``scram.pbkdf2``); the floor is hashlib's
  either way. A plain run loads no cryptography, as a client process that uses
  only ``ssl`` does. ``--cryptography-loaded`` loads it first, as a process
  that uses certificates, NTLM or sasl-kit's server has, and then also pairs
  the cold login with cryptography's own PBKDF2, the floor of that process.
  Targets are reported, never asserted: the exit status says nothing about speed.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import gc
import hashlib
import importlib
import json
import os
import platform
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pairs import Paired, text_table, time_pairs

import sasl_kit
from sasl_kit.mechanisms import scram

MECHANISM, HASH, ITERATIONS = "SCRAM-SHA-256", "sha256", 4096
USER, PASSWORD = "user", "pencil"  # RFC 7677 3's user and password
CNONCE, SNONCE = "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
FLOOR, SASL_KIT, SCRAMP = "floor (pbkdf2_hmac)", "sasl-kit", "scramp"
COLD, WARM = "cold login", "repeated login"
STEPS, END_TO_END = "steps", "create + steps"
KIT_PAIRED = (END_TO_END, COLD, SASL_KIT)  # the row timed in pairs too
WORKS = {
    STEPS: "client made before the clock starts (leaves its creation out); "
    "cold = SaltedPassword cache emptied",
    END_TO_END: "client created under the clock: what a login pays; cold = a fresh salt "
    "every login",
}
FLOOR_TARGET = 1.05  # sasl-kit cold at most this many times the floor
PAIRS, QUICK_PAIRS = 600, 20  # paired cold create + steps: pairs of logins (about 3 s)
PAIRED_HEADER = "paired (p25-p75)"  # after "scramp/sasl-kit", in the create + steps table
SCRAMP_TARGET = 50.0  # scramp at least this many times sasl-kit warm
HEADER = ("case", "implementation", "us/login", "x floor", "scramp/sasl-kit", "target", "met")

Login = Callable[[], None]  # one login, everything untimed already done


class BenchMismatch(Exception):
    """Two rows would not do the same work."""


@dataclass(frozen=True)
class Server:
    """The server's side of the one exchange every row replays."""

    first: bytes
    final: bytes
    client_final: bytes


def server_messages() -> Server:
    """sasl-kit's server, once, for the fixed nonces and salt: its two messages."""
    server = sasl_kit.server(
        MECHANISM, {USER: PASSWORD}, nonce=SNONCE, salt=SALT, iterations=ITERATIONS
    )
    client = sasl_kit.client(MECHANISM, username=USER, password=PASSWORD, cnonce=CNONCE)
    server.step(None)
    first = server.step(client.step(b"")) or b""
    client_final = client.step(first) or b""
    final = server.step(client_final) or b""
    client.step(final)
    if not (server.complete and client.complete):
        raise BenchMismatch("sasl-kit's client and server did not complete the exchange")
    return Server(first, final, client_final)


def floor_client_final(server: Server) -> bytes:
    """The client-final message, from the floor's SaltedPassword and RFC 5802 3's formulas."""
    salted = hashlib.pbkdf2_hmac(HASH, PASSWORD.encode(), SALT, ITERATIONS)
    without_proof = f"c=biws,r={CNONCE}{SNONCE}"
    auth_message = f"n={USER},r={CNONCE},{server.first.decode()},{without_proof}".encode()
    proof = scram.client_proof(HASH, scram.client_key(HASH, salted), auth_message)
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def floor(salt: bytes = SALT) -> Login:
    password = PASSWORD.encode()

    def login() -> None:
        hashlib.pbkdf2_hmac(HASH, password, salt, ITERATIONS)

    return login


def fresh_salt_server() -> Server:
    """The server's messages for a new salt, from RFC 5802 3 (no cache is touched)."""
    salt = os.urandom(16)
    first = f"r={CNONCE}{SNONCE},s={base64.b64encode(salt).decode()},i={ITERATIONS}"
    without_proof = f"c=biws,r={CNONCE}{SNONCE}"
    auth_message = f"n={USER},r={CNONCE},{first},{without_proof}".encode()
    salted = hashlib.pbkdf2_hmac(HASH, PASSWORD.encode(), salt, ITERATIONS)
    signature = scram.server_signature(HASH, scram.server_key(HASH, salted), auth_message)
    return Server(first.encode(), f"v={base64.b64encode(signature).decode()}".encode(), b"")


def created_floor() -> Login:
    """The floor of a fresh-salt login: PBKDF2 over a salt never seen before."""
    return floor(os.urandom(16))


def created_sasl_kit(server: Server) -> Login:
    """Create a client and log in to ``server``, all under the clock."""
    first, final = server.first, server.final

    def login() -> None:
        client = sasl_kit.client(MECHANISM, username=USER, password=PASSWORD, cnonce=CNONCE)
        client.step(b"")
        client.step(first)
        client.step(final)

    return login


def created_scramp(module: Any, server: Server) -> Login:
    """Create a scramp client and log in to ``server``, all under the clock."""
    first, final = server.first.decode(), server.final.decode()

    def login() -> None:
        client = module.ScramClient([MECHANISM], USER, PASSWORD, c_nonce=CNONCE)
        client.get_client_first()
        client.set_server_first(first)
        client.get_client_final()
        client.set_server_final(final)

    return login


def sasl_kit_login(server: Server, *, cold: bool) -> Login:
    client = sasl_kit.client(MECHANISM, username=USER, password=PASSWORD, cnonce=CNONCE)
    if cold:
        scram.SALTED_PASSWORDS.clear()
    first, final = server.first, server.final

    def login() -> None:
        client.step(b"")
        client.step(first)
        client.step(final)

    return login


def scramp_login(module: Any, server: Server) -> Login:
    client = module.ScramClient([MECHANISM], USER, PASSWORD, c_nonce=CNONCE)
    first, final = server.first.decode(), server.final.decode()

    def login() -> None:
        client.get_client_first()
        client.set_server_first(first)
        client.get_client_final()
        client.set_server_final(final)

    return login


def check(server: Server, module: Any | None) -> None:
    """Both clients send the floor's client-final message and accept the signature."""
    want = floor_client_final(server)
    scram.SALTED_PASSWORDS.clear()
    kit = sasl_kit.client(MECHANISM, username=USER, password=PASSWORD, cnonce=CNONCE)
    kit.step(b"")
    if kit.step(server.first) != want:
        raise BenchMismatch("sasl-kit's client-final message is not the floor's")
    kit.step(server.final)
    if not kit.complete:
        raise BenchMismatch("sasl-kit did not accept the server's signature")
    if module is not None:
        client = module.ScramClient([MECHANISM], USER, PASSWORD, c_nonce=CNONCE)
        client.get_client_first()
        client.set_server_first(server.first.decode())
        if client.get_client_final().encode() != want:
            raise BenchMismatch("scramp's client-final message is not the floor's")
        client.set_server_final(server.final.decode())  # raises if the signature is wrong


def check_fresh_salt(module: Any | None) -> None:
    """Both clients accept the signature of a fresh-salt server made by the formulas."""
    server = fresh_salt_server()
    kit = sasl_kit.client(MECHANISM, username=USER, password=PASSWORD, cnonce=CNONCE)
    kit.step(b"")
    kit.step(server.first)
    kit.step(server.final)
    if not kit.complete:
        raise BenchMismatch("sasl-kit did not accept a fresh-salt server's signature")
    if module is not None:
        created_scramp(module, server)()  # raises if the signature is wrong


@dataclass
class Row:
    """One timed thing; ``fresh`` prepares a login untimed (``None``: not installed)."""

    case: str
    implementation: str
    fresh: Callable[[], Login] | None
    work: str = STEPS
    us_per_login: float | None = None
    times_floor: float | None = None
    scramp_over_sasl_kit: float | None = None
    target: str = ""
    met: bool | None = None
    paired: Paired | None = None  # cold create + steps, sasl-kit: what the verdict reads

    def as_json(self) -> dict[str, Any]:
        return {
            "work": self.work,
            "case": self.case,
            "implementation": self.implementation,
            "us_per_login": self.us_per_login,
            "times_floor": self.times_floor,
            "scramp_over_sasl_kit": self.scramp_over_sasl_kit,
            "target": self.target or None,
            "met": self.met,
            "paired": None if self.paired is None else dataclasses.asdict(self.paired),
        }


def build_rows() -> tuple[list[Row], list[str]]:
    notes: list[str] = []
    try:
        module: Any | None = importlib.import_module("scramp")
    except ImportError:
        module = None
        notes.append("scramp is not installed, so its rows are empty: pip install -e '.[bench]'")
    server = server_messages()
    check(server, module)
    scramp_fresh = None if module is None else (lambda: scramp_login(module, server))
    check_fresh_salt(module)
    rows = [
        Row(COLD, FLOOR, floor),
        Row(COLD, SASL_KIT, lambda: sasl_kit_login(server, cold=True)),
        Row(COLD, SCRAMP, scramp_fresh),
        Row(WARM, FLOOR, floor),
        Row(WARM, SASL_KIT, lambda: sasl_kit_login(server, cold=False)),
        Row(WARM, SCRAMP, scramp_fresh),
        Row(COLD, FLOOR, created_floor, END_TO_END),
        Row(COLD, SASL_KIT, lambda: created_sasl_kit(fresh_salt_server()), END_TO_END),
        Row(
            COLD,
            SCRAMP,
            None if module is None else (lambda: created_scramp(module, fresh_salt_server())),
            END_TO_END,
        ),
        Row(WARM, FLOOR, floor, END_TO_END),
        Row(WARM, SASL_KIT, lambda: created_sasl_kit(server), END_TO_END),
        Row(
            WARM,
            SCRAMP,
            None if module is None else (lambda: created_scramp(module, server)),
            END_TO_END,
        ),
    ]
    return rows, notes


def _time_batch(row: Row, logins: int) -> float:
    """Seconds per login over ``logins`` logins, each prepared before its clock starts."""
    assert row.fresh is not None
    collecting = gc.isenabled()
    total = 0.0
    try:
        for _ in range(logins):
            login = row.fresh()
            gc.disable()
            start = time.perf_counter()
            login()
            total += time.perf_counter() - start
            if collecting:
                gc.enable()
    finally:
        if collecting:
            gc.enable()
    return total / logins


def time_rows(rows: list[Row], batch_seconds: float, batches: int) -> None:
    """Best of ``batches`` per row; a batch is as many logins as fill ``batch_seconds``."""
    timed = [row for row in rows if row.fresh is not None]
    sizes = [max(1, round(batch_seconds / _time_batch(row, 1))) for row in timed]
    best = [float("inf")] * len(timed)
    for _ in range(batches):
        for i, row in enumerate(timed):
            best[i] = min(best[i], _time_batch(row, sizes[i]))
    for row, seconds in zip(timed, best, strict=True):
        row.us_per_login = seconds * 1e6


def _timed(login: Login) -> float:
    start = time.perf_counter()
    login()
    return time.perf_counter() - start


def time_paired(
    pairs: int, floor: Callable[[], Login] = created_floor, ratio: str = f"{SASL_KIT}/floor"
) -> Paired:
    """The cold create + steps login over ``floor``, pair by pair (module docstring).

    Each unit makes its fresh-salt server (sasl-kit) or its fresh salt (the
    floor) untimed, then times one login; ``pairs.time_pairs`` alternates them.
    """

    def kit() -> float:
        return _timed(created_sasl_kit(fresh_salt_server()))

    def floor_login() -> float:
        return _timed(floor())

    return time_pairs(kit, floor_login, pairs, ratio)


def created_cryptography_floor() -> Login:
    """As ``created_floor``, in cryptography's PBKDF2: the floor of a process that has
    cryptography loaded (``--cryptography-loaded``)."""
    password, salt = PASSWORD.encode(), os.urandom(16)

    def login() -> None:
        scram.cryptography_pbkdf2(HASH, password, salt, ITERATIONS)

    return login


def assess(rows: list[Row]) -> None:
    cost = {(row.work, row.case, row.implementation): row.us_per_login for row in rows}
    for row in rows:
        floor_cost = cost[(row.work, row.case, FLOOR)]
        if row.us_per_login is not None and floor_cost:
            row.times_floor = row.us_per_login / floor_cost
        if row.implementation != SASL_KIT:
            continue
        theirs = cost[(row.work, row.case, SCRAMP)]
        if row.us_per_login and theirs is not None:
            row.scramp_over_sasl_kit = theirs / row.us_per_login
        if row.case == COLD:
            row.target = f"<= {FLOOR_TARGET:g}x floor"
            ratio = row.times_floor if row.paired is None else row.paired.median
            row.met = ratio is not None and ratio <= FLOOR_TARGET
        else:
            row.target = f">= {SCRAMP_TARGET:g}x faster than scramp"
            ratio = row.scramp_over_sasl_kit
            row.met = None if ratio is None else ratio >= SCRAMP_TARGET


def pbkdf2_in() -> str:
    """Where sasl-kit's PBKDF2 runs in this process (``scram.pbkdf2``)."""
    if scram._CRYPTOGRAPHY_OPENSSL not in sys.modules:
        return f"hashlib's ({ssl.OPENSSL_VERSION}): cryptography not loaded"
    from cryptography.hazmat.backends.openssl import backend

    return f"cryptography's ({backend.openssl_version_text()}): loaded before the bench"


def environment(batch_seconds: float, batches: int, pairs: int) -> dict[str, str]:
    batch = f"~{batch_seconds:g} s" if batch_seconds else "1 login"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min) at the start".format(
            *os.getloadavg()
        ),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssl": ssl.OPENSSL_VERSION,
        "sasl-kit's pbkdf2": pbkdf2_in(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "timing": f"best of {batches} batches of {batch} per row, rows interleaved; "
        f"cold create + steps also in {pairs} pairs of adjacent logins, sasl-kit and floor, "
        "order alternating (paired: median of per-pair ratios, p25-p75; its verdict reads it)",
        "measured": f"one {MECHANISM} client login at i={ITERATIONS} (client-first, "
        "client-final, server signature checked); server messages made untimed",
    }


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _table(rows: list[Row]) -> list[str]:
    paired = any(row.paired for row in rows)
    header = [*HEADER[:5], PAIRED_HEADER, *HEADER[5:]] if paired else list(HEADER)
    table = [header]
    for row in rows:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[row.met]
        line = [
            row.case,
            row.implementation,
            "not installed" if row.fresh is None else _cell(row.us_per_login, ".1f"),
            _cell(row.times_floor, ".3f"),
            _cell(row.scramp_over_sasl_kit, ".1f"),
            row.target or "-",
            verdict if row.target else "-",
        ]
        if paired:
            line.insert(5, "-" if row.paired is None else row.paired.cell(digits=3))
        table.append(line)
    return text_table(table, numeric=(2, 3, 4, 5) if paired else (2, 3, 4))


def render(rows: list[Row], env: dict[str, str], notes: list[str]) -> str:
    sections: list[str] = []
    for work, meaning in WORKS.items():
        sections += ["", f"{work}: {meaning}", *_table([r for r in rows if r.work == work])]
    return "\n".join(
        [
            *(f"{key}: {value}" for key, value in env.items()),
            *sections,
            *(f"note: {note}" for note in notes),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: one login a batch")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--cryptography-loaded",
        action="store_true",
        help="load cryptography first: sasl-kit's PBKDF2 then runs in its OpenSSL",
    )
    args = parser.parse_args(argv)
    if args.cryptography_loaded:
        importlib.import_module(scram._CRYPTOGRAPHY_OPENSSL)
    batch_seconds, batches = (0.0, 2) if args.quick else (0.5, 7)
    pairs = QUICK_PAIRS if args.quick else PAIRS
    try:
        rows, notes = build_rows()
    except BenchMismatch as exc:
        print(f"bench/scram.py: rows would measure different work: {exc}", file=sys.stderr)
        return 1
    env = environment(batch_seconds, batches, pairs)
    time_rows(rows, batch_seconds, batches)
    cold_created = next(r for r in rows if (r.work, r.case, r.implementation) == KIT_PAIRED)
    cold_created.paired = time_paired(pairs)
    assess(rows)
    if args.cryptography_loaded:
        own = time_paired(pairs, created_cryptography_floor, f"{SASL_KIT}/cryptography's pbkdf2")
        notes.append(
            f"cold create + steps, paired with cryptography's own PBKDF2 (this process's "
            f"floor) instead of hashlib's: {own.ratio} {own.cell(digits=3)}, {own.pairs} pairs"
        )
    if args.json:
        report = {**env, "rows": [row.as_json() for row in rows], "notes": notes}
        print(json.dumps(report, indent=2))
    else:
        print(render(rows, env, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
