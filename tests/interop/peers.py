"""Drive a real SASL peer (GNU SASL, Cyrus SASL's sample programs) against a sasl-kit mechanism.

Rules of this module:
- The peers are stdin/stdout programs that print one base64 token per line. No
  sockets and no network: a run is one child process and two pipes.
- Every wait has a deadline (``PEER_TIMEOUT`` per run); a peer that stalls raises
  ``PeerStalled`` with the transcript. Whatever happens, the child's whole
  process group is killed when the run ends, so no test can hang or leak.
- Each child starts in a new session (setsid): it has no terminal, so Cyrus's
  ``getpass()`` prompts on stderr and reads stdin, where the harness answers.
- The harness relays and records; it does not judge. An ``Outcome`` says what the
  peer reported and what sasl-kit raised; the tests assert on it.

Theory of operation: ``run_gsasl_server`` and ``run_cyrus_server`` put a sasl-kit
client mechanism in front of a peer server; ``run_gsasl_client`` and
``run_cyrus_client`` put a peer client in front of a sasl-kit server mechanism.
The line protocols, as observed on Debian 12 (GNU SASL 2.2.0, Cyrus SASL 2.1.28):

GNU SASL (``gsasl --client|--server``): line 1 is the mechanism name, then one
token per line, prompts on stderr. Each side prints a token for *every* step,
the final one included (an empty line when there is nothing to say), and then
reads one more line before it reports "... authentication finished" on stderr.
The client prints an empty line first when it has no initial response.

Cyrus (``sasl-sample-server``/``sasl-sample-client``): tokens are ``S: b64`` and
``C: b64`` lines among chatter. The server sends the mechanism list first; the
client answers ``C: b64(mech [NUL initial-response])``. A final challenge
(DIGEST-MD5 rspauth) goes as an ordinary challenge answered by an empty ``C:``
line, unless the server runs with ``-l`` (then it prints "might need additional
send:" and the token after "Negotiation complete"). After "Negotiation complete"
each side exchanges one security-layer message: the server sends
``"srv message 1\\0"`` and expects ``"client message 1\\0"``; with qop=auth (no
layer) both are sent as they are, with a layer (DIGEST-MD5 auth-int/auth-conf)
as one RFC 4422 3.7 frame, which the harness relays through the sasl-kit
mechanism's ``security_layer``. ``ssf=(min, max)`` passes Cyrus's ``-b`` bounds,
which force a qop and cipher (1: auth-int; 40, 56, 128: rc4-40, rc4-56, rc4;
55: des; 112: 3des).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import sasl_kit
from sasl_kit import ClientMechanism, SASLError, ServerMechanism
from sasl_kit.security_layer import Framer

PEER_TIMEOUT = 10.0

# Where Debian 12's packages put them: gsasl, sasl2-bin (three), coreutils.
GSASL = "/usr/bin/gsasl"
CYRUS_SERVER = "/usr/sbin/sasl-sample-server"
CYRUS_CLIENT = "/usr/bin/sasl-sample-client"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
STDBUF = "/usr/bin/stdbuf"

GSASL_SERVER_DONE = "Server authentication finished"
GSASL_CLIENT_DONE = "Client authentication finished"
CYRUS_DONE = "Negotiation complete"
CYRUS_SERVER_LAST = "might need additional send:"
CYRUS_PASSWORD_PROMPT = b"Password: "
# The sample programs' security-layer check (sample-server.c, sample-client.c).
CYRUS_SERVER_MESSAGE = b"srv message 1\0"
CYRUS_CLIENT_MESSAGE = b"client message 1\0"


def protect(mech: ClientMechanism | ServerMechanism, data: bytes) -> bytes:
    """An application message as sent after authentication: framed and wrapped under a layer."""
    return data if mech.security_layer is None else Framer(mech.security_layer).wrap(data)


def unprotect(mech: ClientMechanism | ServerMechanism, data: bytes) -> bytes | None:
    """The peer's one message after authentication, unwrapped; ``None`` unless exactly one."""
    if mech.security_layer is None:
        return data
    messages = Framer(mech.security_layer).feed(data)
    return messages[0] if len(messages) == 1 else None


def _ssf_argv(ssf: tuple[int, int] | None) -> list[str]:
    return [] if ssf is None else ["-b", f"min={ssf[0]},max={ssf[1]}"]


def _external_argv(external: tuple[int, str] | None) -> list[str]:
    """Cyrus's ``-e ssf=N,id=ID``: a layer below SASL gave N bits and authenticated ID."""
    return [] if external is None else ["-e", f"ssf={external[0]},id={external[1]}"]


def installed(program: str) -> bool:
    return os.access(program, os.X_OK)


@dataclass(frozen=True)
class Account:
    user: str
    password: str = field(repr=False)


ALICE = Account("alice", "tanstaaftanstaaf")
# ASCII name, non-ASCII password: both hashed as ISO 8859-1 by DIGEST-MD5 (RFC 2831 2.1.2.1).
ANNA = Account("anna", "pässwörd")
# Non-ASCII name and password, each representable in ISO 8859-1.
JURGEN = Account("jürgen", "pässwörd")


@dataclass(frozen=True)
class Site:
    """The server every run stands for: what both sides must agree on."""

    realm: str = "EXAMPLE.ORG"
    service: str = "imap"
    host: str = "mail.example.org"
    accounts: tuple[Account, ...] = (ALICE, ANNA, JURGEN)

    @property
    def passwords(self) -> dict[str, str]:
        return {a.user: a.password for a in self.accounts}

    def kit_client(
        self, mechanism: str, account: Account, *, password: str | None = None, **options: object
    ) -> ClientMechanism:
        """A sasl-kit client for ``account`` (or with another ``password``) at this site."""
        return sasl_kit.client(
            mechanism,
            username=account.user,
            password=account.password if password is None else password,
            service=self.service,
            host=self.host,
            **options,
        )

    def kit_server(self, mechanism: str, **options: object) -> ServerMechanism:
        """A sasl-kit server holding this site's accounts."""
        return sasl_kit.server(
            mechanism,
            self.passwords,
            service=self.service,
            host=self.host,
            realms=(self.realm,),
            **options,
        )


SITE = Site()


class PeerStalled(AssertionError):
    """The peer neither answered nor exited before the deadline."""


class PeerProtocolError(AssertionError):
    """The peer printed something the harness cannot relay (not base64, wrong mechanism)."""


@dataclass
class Outcome:
    """What one run showed, from both sides.

    ``peer_ok``: the peer reported a completed authentication (and the security
    layer check, for Cyrus) and exited with status 0. ``peer_user``: the user name
    the peer reports, where it reports one (Cyrus's ``Username:`` line).
    ``kit_error``: what the sasl-kit mechanism raised, if anything.
    """

    peer_ok: bool = False
    peer_user: str | None = None
    kit_error: SASLError | None = None
    returncode: int | None = None
    stderr: str = ""
    transcript: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"peer_ok={self.peer_ok} peer_user={self.peer_user!r} "
            f"kit_error={self.kit_error!r} returncode={self.returncode}\n"
            + "\n".join(self.transcript)
        )


class Peer:
    """One peer program on pipes, with a deadline on every wait.

    ``answer`` is an optional (prompt, reply) pair: whenever the prompt shows up
    on stderr once more, the reply is written to stdin (Cyrus's getpass()).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        outcome: Outcome,
        answer: tuple[bytes, str] | None = None,
        timeout: float = PEER_TIMEOUT,
    ) -> None:
        self._outcome = outcome
        self._answer = answer
        self._answered = 0
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._stdout = bytearray()
        self._stderr = bytearray()
        self.lines: list[str] = []
        self._log("run", " ".join(argv))
        self._proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        self._selector = selectors.DefaultSelector()
        for stream, buffer in (
            (self._proc.stdout, self._stdout),
            (self._proc.stderr, self._stderr),
        ):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            self._selector.register(stream, selectors.EVENT_READ, buffer)

    def __enter__(self) -> Peer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _log(self, who: str, text: str) -> None:
        self._outcome.transcript.append(f"{who:>6} | {text}")

    @property
    def stderr(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def _stalled(self) -> PeerStalled:
        return PeerStalled(f"peer stalled after {self._timeout}s\n{self._outcome}")

    def _pump_once(self) -> None:
        """Wait for output until the deadline, read what came, answer a pending prompt."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._stalled()
        if self._selector.get_map():
            for key, _ in self._selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.extend(chunk)
                else:
                    self._selector.unregister(key.fileobj)
        elif not self._exited():
            time.sleep(min(remaining, 0.01))
        if self._answer is not None:
            prompt, reply = self._answer
            while self._stderr.count(prompt) > self._answered:
                self._answered += 1
                self._log("answer", f"{prompt.decode().strip()} ****")
                self._write(reply)

    def _streams_closed(self) -> bool:
        return not self._selector.get_map()

    def _exited(self) -> bool:
        """Whether the child exited, without reaping it: its pid, the group's id, stays ours."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self._proc.pid, flags) is not None

    def next_line(self, *, stop_on_stderr: str | None = None) -> str | None:
        """The next stdout line; ``None`` at the end or once stderr holds ``stop_on_stderr``."""
        while True:
            newline = self._stdout.find(b"\n")
            if newline >= 0:
                line = self._stdout[:newline].decode("utf-8", "replace")
                del self._stdout[: newline + 1]
                self._log("peer", line)
                self.lines.append(line)
                return line
            if stop_on_stderr is not None and stop_on_stderr in self.stderr:
                return None
            if self._proc.stdout is None or self._proc.stdout not in self._selector.get_map():
                return None
            self._pump_once()

    def next_token(self, prefix: str, *, stop_on_stderr: str | None = None) -> bytes | None:
        """The next line starting with ``prefix``, base64-decoded; chatter lines are skipped."""
        while True:
            line = self.next_line(stop_on_stderr=stop_on_stderr)
            if line is None:
                return None
            if line.startswith(prefix):
                return decode(line[len(prefix) :], self._outcome)

    def _write(self, text: str) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(text.encode("utf-8") + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            self._log("harn", "peer closed its stdin")

    def send(self, text: str) -> None:
        """Write one line to the peer."""
        self._log("kit", text)
        self._write(text)

    def close(self) -> int | None:
        """End of input; wait (to the deadline) for the peer to exit; kill its process group."""
        if self._proc.returncode is not None:
            return self._proc.returncode
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        try:
            while not self._streams_closed() or not self._exited():
                self._pump_once()
        except PeerStalled:
            self._log("harn", "peer did not exit before the deadline; killed")
        finally:
            # Not reaped yet, so the group id cannot have been reused by anyone else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            self._selector.close()
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()
        for line in self._stdout.decode("utf-8", "replace").splitlines():
            self._log("peer", line)
            self.lines.append(line)
        self._stdout.clear()
        self._outcome.stderr = self.stderr
        for line in self._outcome.stderr.splitlines():
            self._log("stderr", line)
        self._outcome.returncode = self._proc.returncode
        return self._proc.returncode


def encode(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode("ascii")


def decode(text: str, outcome: Outcome) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise PeerProtocolError(
            f"peer sent a line that is not base64: {text!r}\n{outcome}"
        ) from None


def peer_env(directory: Path, **extra: str) -> dict[str, str]:
    """A small, fixed environment: UTF-8 locale, private HOME, nothing inherited but PATH."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LC_ALL": "C.UTF-8",
        "HOME": str(directory),
        **extra,
    }


def _expect_mechanism(name: bytes | str | None, mechanism: str, outcome: Outcome) -> None:
    got = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
    if got is None or got.strip().upper() != mechanism.upper():
        raise PeerProtocolError(f"peer announced {got!r}, expected {mechanism}\n{outcome}")


# --- GNU SASL -----------------------------------------------------------------------------


def _gsasl_argv(
    role: str,
    mechanism: str,
    *,
    site: Site,
    user: str,
    password: str,
    authzid: str | None = None,
    qop: str = "qop-auth",
) -> list[str]:
    # Every property a mechanism may ask for is given as a flag: a missing one
    # is prompted for on stdin and would swallow the next token.
    argv = [
        GSASL,
        f"--{role}",
        f"--mechanism={mechanism}",
        f"--authentication-id={user}",
        f"--password={password}",
        f"--realm={site.realm}",
        f"--service={site.service}",
        f"--hostname={site.host}",
        "--anonymous-token=anonymous",
        f"--quality-of-protection={qop}",
    ]
    if authzid is not None:
        argv.append(f"--authorization-id={authzid}")
    return argv


def run_gsasl_server(
    mechanism: str,
    client: ClientMechanism,
    *,
    site: Site,
    password: str,
    workdir: Path,
) -> Outcome:
    """``gsasl --server`` (knowing ``password``) against a sasl-kit client mechanism.

    GNU SASL's server callback ignores the user name: any user with the right
    password is accepted, and it never says which user it accepted.
    """
    outcome = Outcome()
    argv = _gsasl_argv("server", mechanism, site=site, user="unused", password=password)
    with Peer(argv, env=peer_env(workdir), cwd=workdir, outcome=outcome) as peer:
        _expect_mechanism(peer.next_line(), mechanism, outcome)
        try:
            # The server writes first: a challenge, or an empty line asking for the
            # initial response (which is what a client-first mechanism's step(b"") gives).
            while (line := peer.next_line(stop_on_stderr=GSASL_SERVER_DONE)) is not None:
                data = decode(line, outcome)
                if not client.complete:
                    peer.send(encode(client.step(data)))
                elif data:
                    raise PeerProtocolError(
                        f"server sent a token after the client finished\n{outcome}"
                    )
                else:
                    peer.send("")  # the line the server reads after its last step
        except SASLError as exc:
            outcome.kit_error = exc
        done = GSASL_SERVER_DONE in peer.stderr
        outcome.peer_ok = peer.close() == 0 and done
    return outcome


def run_gsasl_client(
    mechanism: str,
    server: ServerMechanism,
    *,
    site: Site,
    account: Account,
    workdir: Path,
    password: str | None = None,
    authzid: str | None = None,
    qop: str = "qop-auth",
) -> Outcome:
    """``gsasl --client`` as ``account`` (or with ``password``) against a sasl-kit server;
    ``qop`` is its ``--quality-of-protection`` (``qop-auth``, ``qop-int``)."""
    outcome = Outcome()
    argv = _gsasl_argv(
        "client",
        mechanism,
        site=site,
        user=account.user,
        password=account.password if password is None else password,
        authzid=authzid,
        qop=qop,
    )
    with Peer(argv, env=peer_env(workdir), cwd=workdir, outcome=outcome) as peer:
        _expect_mechanism(peer.next_line(), mechanism, outcome)
        try:
            line = peer.next_line()
            data = decode(line, outcome) if line else None  # empty: no initial response
            while line is not None:
                out = server.step(data)
                # Sent on completion too: the client reads one line after its last
                # step, and that line carries the additional data with success, if any.
                peer.send(encode(out))
                if server.complete:
                    while peer.next_line(stop_on_stderr=GSASL_CLIENT_DONE) is not None:
                        peer.send("")
                    break
                line = peer.next_line(stop_on_stderr=GSASL_CLIENT_DONE)
                data = decode(line, outcome) if line is not None else None
        except SASLError as exc:
            outcome.kit_error = exc
        done = GSASL_CLIENT_DONE in peer.stderr
        outcome.peer_ok = peer.close() == 0 and done
    return outcome


# --- Cyrus SASL ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CyrusConfig:
    """A private SASL_CONF_PATH directory: ``sample.conf`` over a private sasldb of a site."""

    directory: Path
    site: Site

    @property
    def env(self) -> dict[str, str]:
        return peer_env(self.directory, SASL_CONF_PATH=str(self.directory))


def make_cyrus_config(directory: Path, site: Site, mechanisms: Sequence[str]) -> CyrusConfig:
    """Write ``sample.conf`` and a sasldb holding the site's accounts (plaintext secrets)."""
    directory.mkdir(parents=True, exist_ok=True)
    sasldb = directory / "sasldb2"
    for account in site.accounts:
        subprocess.run(
            [SASLPASSWD2, "-f", str(sasldb), "-c", "-p", "-u", site.realm, account.user],
            input=account.password.encode("utf-8"),
            env=peer_env(directory),
            check=True,
            capture_output=True,
            timeout=PEER_TIMEOUT,
        )
    (directory / "sample.conf").write_text(
        "pwcheck_method: auxprop\n"
        "auxprop_plugin: sasldb\n"
        f"sasldb_path: {sasldb}\n"
        f"mech_list: {' '.join(mechanisms)}\n",
        encoding="utf-8",
    )
    return CyrusConfig(directory, site)


def run_cyrus_server(
    mechanism: str,
    client: ClientMechanism,
    *,
    config: CyrusConfig,
    server_last: bool = False,
    ssf: tuple[int, int] | None = None,
    external: tuple[int, str] | None = None,
) -> Outcome:
    """``sasl-sample-server`` against a sasl-kit client mechanism.

    ``server_last`` (``-l``) makes the server send its last token (DIGEST-MD5
    rspauth) as additional data with success instead of as a challenge.
    ``external`` (``-e``): the (ssf, id) an external layer established, for EXTERNAL.
    """
    outcome = Outcome()
    site = config.site
    argv = [STDBUF, "-oL", CYRUS_SERVER, "-m", mechanism, "-s", site.service, "-d", site.host]
    argv += ["-u", site.realm, *(["-l"] if server_last else []), *_ssf_argv(ssf)]
    argv += _external_argv(external)
    with Peer(argv, env=config.env, cwd=config.directory, outcome=outcome) as peer:
        layer_checked = False
        try:
            _expect_mechanism(peer.next_token("S: "), mechanism, outcome)
            first = mechanism.encode()
            if client.client_first:
                first += b"\0" + (client.step(b"") or b"")
            peer.send("C: " + encode(first))
            negotiated = success_data = False
            while (line := peer.next_line()) is not None:
                if line == CYRUS_DONE:
                    negotiated = True
                elif line == CYRUS_SERVER_LAST:
                    success_data = True
                elif line.startswith("Username: "):
                    outcome.peer_user = line.removeprefix("Username: ")
                elif line.startswith("S: "):
                    data = decode(line[3:], outcome)
                    if success_data:  # checked by the client, never answered
                        client.step(data)
                        success_data = False
                    elif negotiated:
                        layer_checked = unprotect(client, data) == CYRUS_SERVER_MESSAGE
                        peer.send("C: " + encode(protect(client, CYRUS_CLIENT_MESSAGE)))
                    else:
                        peer.send("C: " + encode(client.step(data)))
        except SASLError as exc:
            outcome.kit_error = exc
        outcome.peer_ok = peer.close() == 0 and layer_checked
    return outcome


def run_cyrus_client(
    mechanism: str,
    server: ServerMechanism,
    *,
    config: CyrusConfig,
    account: Account,
    password: str | None = None,
    authzid: str | None = None,
    ssf: tuple[int, int] | None = None,
    external: tuple[int, str] | None = None,
) -> Outcome:
    """``sasl-sample-client`` as ``account`` (typing the password) against a sasl-kit server;
    ``external`` as in ``run_cyrus_server``."""
    outcome = Outcome()
    site = config.site
    argv = [STDBUF, "-oL", CYRUS_CLIENT, "-m", mechanism, "-s", site.service, "-n", site.host]
    argv += ["-r", site.realm, "-a", account.user, *(["-u", authzid] if authzid else [])]
    argv += _ssf_argv(ssf) + _external_argv(external)
    typed = account.password if password is None else password
    with Peer(
        argv,
        env=config.env,
        cwd=config.directory,
        outcome=outcome,
        answer=(CYRUS_PASSWORD_PROMPT, typed),
    ) as peer:
        layer_checked = False
        try:
            peer.send("S: " + encode(mechanism.encode()))
            first = peer.next_token("C: ")
            if first is not None:
                name, nul, initial = first.partition(b"\0")
                _expect_mechanism(name, mechanism, outcome)
                out = server.step(initial if nul else None)
                while not server.complete:
                    peer.send("S: " + encode(out))
                    data = peer.next_token("C: ")
                    if data is None:
                        break
                    out = server.step(data)
            if server.complete:
                if out is not None:
                    # Without server-send-last the last token goes as a challenge; the
                    # client answers it with an empty response the finished mechanism never sees.
                    peer.send("S: " + encode(out))
                    if peer.next_token("C: ") != b"":
                        raise PeerProtocolError(f"non-empty answer to the last token\n{outcome}")
                peer.send("S: " + encode(protect(server, CYRUS_SERVER_MESSAGE)))
                reply = peer.next_token("C: ") or b""
                layer_checked = unprotect(server, reply) == CYRUS_CLIENT_MESSAGE
        except SASLError as exc:
            outcome.kit_error = exc
        returncode = peer.close()
        for line in peer.lines:
            if line.startswith("Username: "):
                outcome.peer_user = line.removeprefix("Username: ")
        outcome.peer_ok = returncode == 0 and layer_checked and CYRUS_DONE in peer.lines
    return outcome
