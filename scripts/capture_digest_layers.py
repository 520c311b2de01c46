"""Produce vectors/digest-md5-layers.json with Cyrus SASL: its sample client against its server.

Run from the repository root on Debian 12 with sasl2-bin installed:
``python scripts/capture_digest_layers.py > vectors/digest-md5-layers.json``.

For each qop/cipher (forced with the programs' ``-b min=N,max=N`` SSF bounds) it
relays ``sasl-sample-client`` and ``sasl-sample-server`` to each other over
pipes, records the DIGEST-MD5 messages and the security-layer frame each side
sends after "Negotiation complete", and writes them as ``function`` vectors
(docs/vectors.md): the layer keys of the session, and each side's frame as the
``wrap`` of its message. Nonces are random, so every run gives new numbers;
no sasl-kit code takes part in producing them.
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.interop.peers import (  # noqa: E402 -- the harness's config writer, not sasl-kit code
    ALICE,
    CYRUS_CLIENT,
    CYRUS_SERVER,
    SITE,
    STDBUF,
    make_cyrus_config,
)

# Cyrus's SSF per cipher; 1 is auth-int. 3des (112) is left out: Cyrus 2.1.28 on Debian 12
# fails to initialise its own 3des ("failed to init cipher '3des'"), Cyrus to Cyrus too.
LAYERS = {"auth-int": 1, "rc4-40": 40, "rc4-56": 56, "des": 55, "rc4": 128}
TIMEOUT = 10.0


def relay(directory: Path, ssf: int) -> dict[str, bytes]:
    """One Cyrus client/server session; the payloads of its S:/C: lines by role."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LC_ALL": "C.UTF-8",
        "HOME": str(directory),
        "SASL_CONF_PATH": str(directory),
    }
    bounds = ["-b", f"min={ssf},max={ssf}"]
    server_argv = [STDBUF, "-oL", CYRUS_SERVER, "-m", "DIGEST-MD5", "-s", SITE.service,
                   "-d", SITE.host, "-u", SITE.realm, *bounds]
    client_argv = [STDBUF, "-oL", CYRUS_CLIENT, "-m", "DIGEST-MD5", "-s", SITE.service,
                   "-n", SITE.host, "-r", SITE.realm, "-a", ALICE.user, *bounds]
    procs = {
        name: subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=directory,
                               start_new_session=True)
        for name, argv in (("server", server_argv), ("client", client_argv))
    }
    selector = selectors.DefaultSelector()
    for name, proc in procs.items():
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ, (name, stream is proc.stdout))
    pending: dict[tuple[str, bool], bytes] = {}
    tokens: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + TIMEOUT
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(0.2):
            name, is_stdout = key.data
            chunk = os.read(key.fd, 65536)
            if not chunk:
                selector.unregister(key.fileobj)
                continue
            *lines, rest = (pending.get((name, is_stdout), b"") + chunk).split(b"\n")
            if not is_stdout and b"Password: " in rest:  # the client's getpass()
                rest = rest.replace(b"Password: ", b"")
                stdin = procs["client"].stdin
                assert stdin is not None
                stdin.write(ALICE.password.encode() + b"\n")
                stdin.flush()
            pending[(name, is_stdout)] = rest
            for line in lines if is_stdout else ():
                prefix, other = (b"S: ", "client") if name == "server" else (b"C: ", "server")
                if line.startswith(prefix):
                    tokens.append((name, base64.b64decode(line[3:])))
                    stdin = procs[other].stdin
                    assert stdin is not None
                    stdin.write(line + b"\n")
                    stdin.flush()
    for proc in procs.values():
        if proc.wait(timeout=TIMEOUT) != 0:
            raise SystemExit(f"Cyrus {proc.args[2]} failed at ssf {ssf}")
    # mechanism list, mechanism choice, challenge, response, rspauth, empty answer, frames.
    server = [t for n, t in tokens if n == "server"]
    client = [t for n, t in tokens if n == "client"]
    return {"challenge": server[1], "response": client[1], "rspauth": server[2],
            "server_frame": server[3], "client_frame": client[3]}


def vectors_for(layer: str, ssf: int, session: dict[str, bytes]) -> list[dict[str, object]]:
    response = session["response"].decode("utf-8")
    source = {
        "document": "Cyrus SASL 2.1.28 (Debian 12 sasl2-bin)",
        "section": f"sasl-sample-client against sasl-sample-server, -b min={ssf},max={ssf}",
        "note": "Produced by scripts/capture_digest_layers.py: Cyrus's sample client and server "
        "relayed to each other over pipes, no sasl-kit code involved. `capture` holds the "
        "server's challenge and last message; the input, the client's digest-response. The "
        "expected frame is what the sender's sasl_encode() gave, length prefix included.",
    }
    capture = {
        "challenge": session["challenge"].decode("utf-8"),
        "rspauth": session["rspauth"].decode("utf-8"),
    }
    base = {"response": response, "password": ALICE.password}
    out: list[dict[str, object]] = []
    for sender, message, frame in (
        ("server", "srv message 1\u0000", session["server_frame"]),
        ("client", "client message 1\u0000", session["client_frame"]),
    ):
        out.append({
            "id": f"cyrus-digest-md5-{layer}-{sender}-frame",
            "source": source,
            "capture": capture,
            "function": "digest_md5_wrap",
            "input": {**base, "sender": sender, "messages": [message]},
            "expected": [base64.b64encode(frame).decode("ascii")],
        })
    return out


def main() -> None:
    vectors = []
    with tempfile.TemporaryDirectory() as tmp:
        config = make_cyrus_config(Path(tmp), SITE, ["DIGEST-MD5"])
        for layer, ssf in LAYERS.items():
            vectors += vectors_for(layer, ssf, relay(config.directory, ssf))
    doc = {
        "title": "DIGEST-MD5 security layers (RFC 2831 2.3, 2.4), produced with Cyrus SASL",
        "kind": "function",
        "vectors": vectors,
    }
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
