"""``sasl-kit serve`` as a user runs it: a subprocess, real sockets, its own log.

``Serve`` starts ``python -m sasl_kit serve --listen 127.0.0.1:0 ...`` in a
directory of its own, reads the three lines it prints (address, certificate,
maildir) and stops it with SIGTERM. ``Wire`` is a client that sends exactly
the bytes it is given and reads replies line by line, for the tests that need
what no SMTP library sends (over-long lines, empty AUTH answers).
"""

from __future__ import annotations

import base64
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from sasl_kit.smtp_server import MailStore, ReceivedMessage

USER, PASSWORD = "alice", "wonderland"
TIMEOUT = 20.0
LISTENING = re.compile(r"listening on (\S+):(\d+) ")


class Serve:
    """One ``sasl-kit serve`` process; ``options`` are its command-line options.

    ``wrapper`` goes before the command (``strace ...``).
    """

    def __init__(
        self,
        directory: Path,
        *options: str,
        maildir: Path | None = None,
        preexec_fn: Callable[[], None] | None = None,
        wrapper: Sequence[str] = (),
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.maildir = maildir or directory / "mail"
        self.log = directory / "serve.log"
        users = directory / "users.txt"
        users.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
        command = [*wrapper, sys.executable, "-m", "sasl_kit", "serve", "--listen", "127.0.0.1:0",
                   "--users", str(users), "--maildir", str(self.maildir), *options]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=preexec_fn
            )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        match = LISTENING.match(first)
        if match is None:
            self.stop()
            raise RuntimeError(f"sasl-kit serve did not start: {first!r} {self.log_text()}")
        self.host, self.port = match[1], int(match[2])
        self.cafile = self.process.stdout.readline().removeprefix("certificate: ").strip()
        self.process.stdout.readline()  # maildir: ...

    def messages(self) -> list[ReceivedMessage]:
        return MailStore(self.maildir).messages()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def status(self, field: str) -> int:
        """A ``/proc/PID/status`` memory field (``VmHWM``, ``VmRSS``) in KiB."""
        text = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        match = re.search(rf"^{field}:\s+(\d+) kB$", text, re.MULTILINE)
        assert match is not None, text
        return int(match[1])

    def wire(self) -> Wire:
        return Wire(self)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Wire:
    """A line-level SMTP client: ``send`` bytes, ``reply`` reads one (multi-line) reply."""

    def __init__(self, server: Serve) -> None:
        self.server = server
        self.sock: socket.socket = socket.create_connection(
            (server.host, server.port), timeout=TIMEOUT
        )
        self._file = self.sock.makefile("rb")

    def __enter__(self) -> Wire:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        """One line as received (b"" once the server has closed)."""
        return self._file.readline()

    def reply(self) -> str:
        """The next reply, its lines joined with newlines; "" once the server has closed."""
        lines: list[str] = []
        while True:
            line = self._file.readline().decode("utf-8", "replace")
            if not line:
                return "\n".join(lines)
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return "\n".join(lines)

    def command(self, line: str | bytes) -> str:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        return self._file.read(1) == b""

    def start(self, tls: bool = True) -> str:
        """Greeting, EHLO and (``tls``) STARTTLS with a second EHLO; the last EHLO reply."""
        assert self.reply().startswith("220 ")
        ehlo = self.command("EHLO client.test")
        if tls:
            assert self.command("STARTTLS").startswith("220 ")
            self.starttls()
            ehlo = self.command("EHLO client.test")
        return ehlo

    def starttls(self) -> None:
        self._file.close()
        context = ssl.create_default_context(cafile=self.server.cafile)
        self.sock = context.wrap_socket(self.sock, server_hostname=self.server.host)
        self._file = self.sock.makefile("rb")

    def login(self) -> None:
        plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
        assert self.command(f"AUTH PLAIN {plain}").startswith("235 "), "login failed"

    def data(self) -> None:
        """MAIL, RCPT and DATA: the server waits for the message data."""
        assert self.command("MAIL FROM:<alice@example.test>").startswith("250 ")
        assert self.command("RCPT TO:<bob@example.test>").startswith("250 ")
        assert self.command("DATA").startswith("354 ")

    def mail(self, data: bytes) -> str:
        """One transaction: ``data()``, the data as given, and the final reply."""
        self.data()
        self.send(data)
        return self.reply()
