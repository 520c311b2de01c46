"""Cost of one client response: sasl-kit next to pure-sasl and the stdlib floor.

Run from the repository root: ``python bench/mechanisms.py [--quick] [--json]``.
What the rows measure, the targets and the latest numbers are in docs/bench.md.

Rules of this script:
- A row times one thing, in one of two works. ``answer``: a client answering
  one server challenge, the client object (``sasl_kit.client``, pure-sasl's
  ``SASLClient``) created before the clock starts, for both libraries alike.
  ``create + answer``: the same with the client's creation under the clock,
  what a login pays; the floor has no object to create, so its two works are
  the same code. What creating a client alone costs is printed under the tables.
- The floor is the same response computed with ``hmac``/``hashlib`` and string
  formatting alone: no object, no parsing (DIGEST-MD5's floor knows the nonce
  and realm), no checks, no escaping.
- DIGEST-MD5: each library makes its cnonce inside the timed call, as in
  production (sasl-kit from ``secrets``, pure-sasl from ``random.random()``);
  the floor takes a fixed one.
- Before anything is timed, every response is checked against the floor's; a
  mismatch means the rows would measure different work, and the script exits 1.
- Timing follows ``timeit`` (``perf_counter``, garbage collector off, best of
  several batches), but each response needs a fresh client, so a batch is a run
  of chunks of ``CHUNK`` clients made untimed and then stepped under the clock.
  Batches of all rows are interleaved, so that a busy moment of the machine
  hits every row alike.
- ``create + answer`` is also timed in pairs, as issue 16's table is: a small
  batch of sasl-kit's calls right next to the same number of calls of the
  row it is judged against (CRAM-MD5: the floor; DIGEST-MD5: pure-sasl), the
  order alternating from pair to pair, many pairs; the median of the per-pair
  ratios, with its quartiles, is printed beside the best-batch numbers. Both
  sides of a pair meet the same moment of a shared machine, which a best of
  batches taken seconds apart does not (it drifts by more than a target's
  margin). **The target verdicts of the ``create + answer`` rows read the
  paired median**; those of the ``answer`` rows read the best batches.
  Targets are reported, never asserted: the exit status says nothing about speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import gc
import hashlib
import hmac
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pairs import Paired, text_table, time_pairs

import sasl_kit

# RFC 2195 section 2.
CRAM_USER = "tim"
CRAM_PASSWORD = "tanstaaftanstaaf"
CRAM_HOST = "postoffice.reston.mci.net"
CRAM_CHALLENGE = b"<1896.697170952@postoffice.reston.mci.net>"

# RFC 2831 section 4, the first challenge: md5-sess, qop=auth, charset=utf-8.
DIGEST_USER = "chris"
DIGEST_PASSWORD = "secret"
DIGEST_SERVICE = "imap"
DIGEST_HOST = "elwood.innosoft.com"
DIGEST_REALM = "elwood.innosoft.com"
DIGEST_NONCE = "OA6MG9tEQGm2hh"
DIGEST_CNONCE = "OA6MHXh6VqTrRk"
DIGEST_CHALLENGE = (
    b'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",'
    b"algorithm=md5-sess,charset=utf-8"
)

CRAM, DIGEST = "CRAM-MD5", "DIGEST-MD5"
FLOOR, SASL_KIT, PURE_SASL = "floor (stdlib)", "sasl-kit", "pure-sasl"
CRAM_TARGET = 1.5  # sasl-kit at most this many times the floor
DIGEST_TARGET = 10.0  # pure-sasl at least this many times sasl-kit
CHUNK = 1000  # clients made, then stepped under the clock, at a time
# Paired create + answer: calls a batch, the same on both sides (about 0.5 ms of
# sasl-kit's, so that a pair fits between two interruptions of a busy machine), and
# pairs; --quick takes QUICK_PAIRS of each.
PAIRED = {CRAM: (200, 1000), DIGEST: (50, 300)}
QUICK_PAIRS = 20
ANSWER, END_TO_END = "answer", "create + answer"
WORKS = {
    ANSWER: "client made before the clock starts (leaves its creation out)",
    END_TO_END: "client created under the clock: what a login pays",
}
HEADER = (
    "mechanism",
    "implementation",
    "us/response",
    "x floor",
    "pure-sasl/sasl-kit",
    "target",
    "met",
)
PAIRED_HEADER = "paired (p25-p75)"  # after "pure-sasl/sasl-kit", in the create + answer table
PAIRED_NOTE = (
    "paired: median of per-pair ratios (p25-p75), sasl-kit/floor for CRAM-MD5 and "
    "pure-sasl/sasl-kit for DIGEST-MD5, each pair two adjacent batches of the same calls; "
    "the verdict of these rows reads it"
)

Respond = Callable[[bytes], object]  # takes the server's challenge, returns the client's answer


class BenchMismatch(Exception):
    """Two implementations gave different responses: the rows would not be comparable."""


def cram_md5_floor(challenge: bytes) -> bytes:
    """RFC 2195 2: ``username SP hex(HMAC-MD5(password, challenge))``."""
    digest = hmac.new(CRAM_PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
    return f"{CRAM_USER} {digest}".encode()


def digest_md5_floor(challenge: bytes, cnonce: str = DIGEST_CNONCE) -> bytes:
    """RFC 2831 2.1.2.1 (md5-sess, qop=auth) and the directives of the digest-response.

    ``challenge`` is not parsed: the floor knows its realm and nonce.
    """
    # S324 is silenced below: DIGEST-MD5 is defined over MD5.
    digest_uri = f"{DIGEST_SERVICE}/{DIGEST_HOST}"
    user_realm_password = f"{DIGEST_USER}:{DIGEST_REALM}:{DIGEST_PASSWORD}".encode()
    a1 = hashlib.md5(user_realm_password).digest() + f":{DIGEST_NONCE}:{cnonce}".encode()  # noqa: S324
    a2 = f"AUTHENTICATE:{digest_uri}".encode()
    ha1 = hashlib.md5(a1).hexdigest()  # noqa: S324
    ha2 = hashlib.md5(a2).hexdigest()  # noqa: S324
    kd = f"{ha1}:{DIGEST_NONCE}:00000001:{cnonce}:auth:{ha2}"
    response = hashlib.md5(kd.encode()).hexdigest()  # noqa: S324
    return (
        f'charset=utf-8,username="{DIGEST_USER}",realm="{DIGEST_REALM}",'
        f'nonce="{DIGEST_NONCE}",nc=00000001,cnonce="{cnonce}",'
        f'digest-uri="{digest_uri}",response={response},qop=auth'
    ).encode()


def sasl_kit_cram_md5() -> sasl_kit.ClientMechanism:
    return sasl_kit.client(CRAM, username=CRAM_USER, password=CRAM_PASSWORD)


DIGEST_OPTIONS = {
    "username": DIGEST_USER,
    "password": DIGEST_PASSWORD,
    "service": DIGEST_SERVICE,
    "host": DIGEST_HOST,
}


def sasl_kit_digest_md5(cnonce: str | None = None) -> sasl_kit.ClientMechanism:
    return sasl_kit.client(DIGEST, cnonce=cnonce, **DIGEST_OPTIONS)


@dataclass(frozen=True)
class PureSasl:
    """pure-sasl, when it is installed: responders of fresh clients, and making a client."""

    cram_md5: Callable[[], Respond]
    digest_md5: Callable[[], Respond]
    make_digest_md5: Callable[[], object]
    created: Callable[[str], Callable[[], Respond]]
    """For a mechanism, a responder that creates its client and answers, in one call."""


def pure_sasl() -> PureSasl | None:
    try:
        module: Any = importlib.import_module("puresasl.client")
    except ImportError:
        return None
    client_class = module.SASLClient

    def make_digest_md5() -> Any:
        return client_class(
            DIGEST_HOST,
            DIGEST_SERVICE,
            mechanism=DIGEST,
            username=DIGEST_USER,
            password=DIGEST_PASSWORD,
        )

    def cram_md5() -> Any:
        client = client_class(
            CRAM_HOST, "imap", mechanism=CRAM, username=CRAM_USER, password=CRAM_PASSWORD
        )
        return client.process

    def digest_md5() -> Any:
        return make_digest_md5().process

    def cram_md5_created(challenge: bytes) -> Any:
        return cram_md5()(challenge)

    def digest_md5_created(challenge: bytes) -> Any:
        return make_digest_md5().process(challenge)

    created = {CRAM: cram_md5_created, DIGEST: digest_md5_created}
    return PureSasl(cram_md5, digest_md5, make_digest_md5, lambda name: lambda: created[name])


def directives(response: object) -> dict[str, str]:
    """The directives of a digest-response from one of the rows (no escapes in them)."""
    if not isinstance(response, bytes):
        raise BenchMismatch(f"expected a digest-response as bytes, got {response!r}")
    pairs = (item.partition("=") for item in response.decode().split(","))
    return {key.strip(): value.strip('"') for key, _, value in pairs}


def check(mechanism: str, implementation: str, response: object) -> None:
    """The response is the floor's (DIGEST-MD5: for the cnonce the implementation chose)."""
    if mechanism == CRAM:
        if response != cram_md5_floor(CRAM_CHALLENGE):
            raise BenchMismatch(f"{CRAM}: {implementation} answered {response!r}")
        return
    theirs = directives(response)
    ours = directives(digest_md5_floor(DIGEST_CHALLENGE, theirs.get("cnonce", "")))
    for key in ("username", "realm", "nonce", "nc", "qop", "digest-uri", "response"):
        if theirs.get(key) != ours[key]:
            raise BenchMismatch(
                f"{DIGEST}: {implementation} sent {key}={theirs.get(key)!r}, "
                f"the floor {key}={ours[key]!r}"
            )


@dataclass
class Row:
    """One timed thing; ``fresh`` makes a responder untimed (``None``: not installed)."""

    mechanism: str
    implementation: str
    challenge: bytes
    fresh: Callable[[], Respond] | None
    work: str = ANSWER
    us_per_response: float | None = None
    times_floor: float | None = None
    pure_sasl_over_sasl_kit: float | None = None
    target: str = ""
    met: bool | None = None
    paired: Paired | None = None  # create + answer, sasl-kit rows: what the verdict reads

    def as_json(self) -> dict[str, Any]:
        return {
            "work": self.work,
            "mechanism": self.mechanism,
            "implementation": self.implementation,
            "us_per_response": self.us_per_response,
            "times_floor": self.times_floor,
            "pure_sasl_over_sasl_kit": self.pure_sasl_over_sasl_kit,
            "target": self.target or None,
            "met": self.met,
            "paired": None if self.paired is None else dataclasses.asdict(self.paired),
        }


def _creating(make: Callable[[], object]) -> Callable[[], Respond]:
    """A row that times making a client (the challenge is ignored)."""

    def respond(challenge: bytes) -> object:
        return make()

    return lambda: respond


def sasl_kit_cram_md5_created(challenge: bytes) -> object:
    """Create + answer in one call, as deep as the floor's (no wrapper under the clock)."""
    return sasl_kit.client(CRAM, username=CRAM_USER, password=CRAM_PASSWORD).step(challenge)


def sasl_kit_digest_md5_created(challenge: bytes) -> object:
    return sasl_kit.client(DIGEST, **DIGEST_OPTIONS).step(challenge)


def build_rows() -> tuple[list[Row], list[Row], list[str]]:
    """The response rows and the client-creation rows, checked to do the same work."""
    notes: list[str] = []
    pure = pure_sasl()
    if pure is None:
        notes.append("pure-sasl is not installed, so its rows are empty: pip install -e '.[bench]'")
    answers = [
        Row(CRAM, FLOOR, CRAM_CHALLENGE, lambda: cram_md5_floor),
        Row(CRAM, SASL_KIT, CRAM_CHALLENGE, lambda: sasl_kit_cram_md5().step),
        Row(CRAM, PURE_SASL, CRAM_CHALLENGE, None if pure is None else pure.cram_md5),
        Row(DIGEST, FLOOR, DIGEST_CHALLENGE, lambda: digest_md5_floor),
        Row(DIGEST, SASL_KIT, DIGEST_CHALLENGE, lambda: sasl_kit_digest_md5().step),
        Row(DIGEST, PURE_SASL, DIGEST_CHALLENGE, None if pure is None else pure.digest_md5),
    ]
    created = (lambda name: None) if pure is None else pure.created
    end_to_end = [
        Row(CRAM, FLOOR, CRAM_CHALLENGE, lambda: cram_md5_floor, END_TO_END),
        Row(CRAM, SASL_KIT, CRAM_CHALLENGE, lambda: sasl_kit_cram_md5_created, END_TO_END),
        Row(CRAM, PURE_SASL, CRAM_CHALLENGE, created(CRAM), END_TO_END),
        Row(DIGEST, FLOOR, DIGEST_CHALLENGE, lambda: digest_md5_floor, END_TO_END),
        Row(DIGEST, SASL_KIT, DIGEST_CHALLENGE, lambda: sasl_kit_digest_md5_created, END_TO_END),
        Row(DIGEST, PURE_SASL, DIGEST_CHALLENGE, created(DIGEST), END_TO_END),
    ]
    rows = [*answers, *end_to_end]
    creation = [
        Row(CRAM, SASL_KIT, b"", _creating(sasl_kit_cram_md5)),
        Row(DIGEST, SASL_KIT, b"", _creating(sasl_kit_digest_md5)),
        Row(DIGEST, PURE_SASL, b"", None if pure is None else _creating(pure.make_digest_md5)),
    ]
    # With its cnonce fixed, sasl-kit must send the floor's directives exactly.
    theirs = directives(sasl_kit_digest_md5(DIGEST_CNONCE).step(DIGEST_CHALLENGE))
    ours = directives(digest_md5_floor(DIGEST_CHALLENGE))
    if theirs != ours:
        raise BenchMismatch(f"{DIGEST}: sasl-kit sent {theirs}, the floor {ours}")
    for row in rows:
        if row.fresh is not None:
            check(row.mechanism, row.implementation, row.fresh()(row.challenge))
    return rows, creation, notes


def _time_chunk(row: Row) -> float:
    """Seconds for ``CHUNK`` responses, each by a fresh responder made before the clock starts."""
    assert row.fresh is not None
    responders = [row.fresh() for _ in range(CHUNK)]
    challenge = row.challenge
    collecting = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for respond in responders:
            respond(challenge)
        return time.perf_counter() - start
    finally:
        if collecting:
            gc.enable()


def time_rows(rows: list[Row], batch_seconds: float, batches: int) -> None:
    """Best of ``batches`` per row; a batch is as many chunks as fill ``batch_seconds``."""
    timed = [row for row in rows if row.fresh is not None]
    chunks = [max(1, round(batch_seconds / _time_chunk(row))) for row in timed]
    best = [float("inf")] * len(timed)
    for _ in range(batches):
        for i, row in enumerate(timed):
            elapsed = sum(_time_chunk(row) for _ in range(chunks[i]))
            best[i] = min(best[i], elapsed / (chunks[i] * CHUNK))
    for row, seconds in zip(timed, best, strict=True):
        row.us_per_response = seconds * 1e6


def _time_calls(respond: Respond, challenge: bytes, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        respond(challenge)
    return time.perf_counter() - start


def time_paired(rows: list[Row], quick: bool) -> None:
    """The paired ratio of each ``create + answer`` sasl-kit row (``Paired``).

    CRAM-MD5: sasl-kit over the floor. DIGEST-MD5: pure-sasl over sasl-kit, so
    that both read as the target does; not measured without pure-sasl.
    """
    made = {(row.mechanism, row.implementation): row for row in rows if row.work == END_TO_END}
    for mechanism, (upper, lower) in {
        CRAM: (SASL_KIT, FLOOR),
        DIGEST: (PURE_SASL, SASL_KIT),
    }.items():
        up, low = made[(mechanism, upper)], made[(mechanism, lower)]
        if up.fresh is None or low.fresh is None:
            continue
        calls, pairs = PAIRED[mechanism]
        pairs = QUICK_PAIRS if quick else pairs
        made[(mechanism, SASL_KIT)].paired = time_pairs(
            functools.partial(_time_calls, up.fresh(), up.challenge, calls),
            functools.partial(_time_calls, low.fresh(), up.challenge, calls),
            pairs,
            f"{upper}/{lower}",
            calls,
        )


def assess(rows: list[Row]) -> None:
    """Fill in the ratios and the verdicts on the targets."""
    cost = {(row.work, row.mechanism, row.implementation): row.us_per_response for row in rows}
    for row in rows:
        floor = cost[(row.work, row.mechanism, FLOOR)]
        if row.us_per_response is not None and floor is not None:
            row.times_floor = row.us_per_response / floor
        if row.implementation != SASL_KIT:
            continue
        pure = cost[(row.work, row.mechanism, PURE_SASL)]
        if row.us_per_response is not None and pure is not None:
            row.pure_sasl_over_sasl_kit = pure / row.us_per_response
        # The verdict reads the paired median where there is one (create + answer).
        if row.mechanism == CRAM:
            row.target = f"<= {CRAM_TARGET:g}x floor"
            ratio = row.times_floor if row.paired is None else row.paired.median
            row.met = None if ratio is None else ratio <= CRAM_TARGET
        else:
            row.target = f">= {DIGEST_TARGET:g}x faster than pure-sasl"
            ratio = row.pure_sasl_over_sasl_kit if row.paired is None else row.paired.median
            row.met = None if ratio is None else ratio >= DIGEST_TARGET


def environment(batch_seconds: float, batches: int, quick: bool) -> dict[str, str]:
    batch = f"~{batch_seconds:g} s" if batch_seconds else f"{CHUNK} responses"
    pairs = ", ".join(
        f"{mechanism} {QUICK_PAIRS if quick else n} pairs of {calls} calls"
        for mechanism, (calls, n) in PAIRED.items()
    )
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min) at the start".format(
            *os.getloadavg()
        ),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "timing": f"best of {batches} batches of {batch} per row, rows interleaved; "
        f"create + answer also in pairs of adjacent batches ({pairs})",
        "measured": "one client response to one server challenge; floor = hmac/hashlib + "
        "formatting",
    }


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cost(row: Row) -> str:
    return "not installed" if row.fresh is None else _cell(row.us_per_response, ".2f")


def _table(rows: list[Row]) -> list[str]:
    paired = any(row.paired for row in rows)
    header = [*HEADER[:5], PAIRED_HEADER, *HEADER[5:]] if paired else list(HEADER)
    table = [header]
    for row in rows:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[row.met]
        line = [
            row.mechanism,
            row.implementation,
            _cost(row),
            _cell(row.times_floor, ".2f"),
            _cell(row.pure_sasl_over_sasl_kit, ".1f"),
            row.target or "-",
            verdict if row.target else "-",
        ]
        if paired:
            line.insert(5, "-" if row.paired is None else row.paired.cell())
        table.append(line)
    return text_table(table, numeric=(2, 3, 4))


def render(rows: list[Row], creation: list[Row], env: dict[str, str], notes: list[str]) -> str:
    sections: list[str] = []
    for work, meaning in WORKS.items():
        table = [r for r in rows if r.work == work]
        sections += ["", f"{work}: {meaning}", *_table(table)]
        if any(row.paired for row in table):
            sections.append(PAIRED_NOTE)
    made = ", ".join(
        f"{row.mechanism} {row.implementation} {_cost(row)}{' us' if row.fresh else ''}"
        for row in creation
    )
    return "\n".join(
        [
            *(f"{key}: {value}" for key, value in env.items()),
            *sections,
            "",
            f"making a client alone: {made}",
            *(f"note: {note}" for note in notes),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: one chunk a batch")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    batch_seconds, batches = (0.0, 2) if args.quick else (0.2, 7)
    try:
        rows, creation, notes = build_rows()
    except BenchMismatch as exc:
        print(f"bench/mechanisms.py: rows would measure different work: {exc}", file=sys.stderr)
        return 1
    env = environment(batch_seconds, batches, args.quick)
    time_rows([*rows, *creation], batch_seconds, batches)
    time_paired(rows, args.quick)
    assess(rows)
    if args.json:
        report = {
            **env,
            "rows": [row.as_json() for row in rows],
            "making_a_client_us": {
                f"{row.mechanism} {row.implementation}": row.us_per_response for row in creation
            },
            "notes": notes,
        }
        print(json.dumps(report, indent=2))
    else:
        print(render(rows, creation, env, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
