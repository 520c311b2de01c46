"""A private Dovecot 2.3 ManageSieve server (Pigeonhole's managesieved) for the interop tests.

Rules of this module: the instance is ``tests.interop.mta.Dovecot`` with
another protocol, so it keeps that module's rules (one private directory,
loopback only, a free high port, a deadline to start and to stop) and its
passdb (``ACCOUNTS`` with {PLAIN} passwords, so that every shared-secret
mechanism can be verified). Its own ``base_dir`` and ``instance_name`` come
from its own directory; it serves ``protocols = sieve`` and nothing else,
with STARTTLS from the site's self-signed certificate and plaintext logins
allowed, so that the tests see the capability list before and after TLS.
Scripts are stored under the instance's directory, as the mail user.
"""

from __future__ import annotations

import os

from tests.interop.mta import MAIL_USER, Dovecot, MailSite, _ids, free_ports

GREETING = b'"IMPLEMENTATION"'


class DovecotSieve(Dovecot):
    """``dovecot -F`` serving ManageSieve (RFC 5804) on ``sieve_port``."""

    name = "dovecot-sieve"
    protocols = "sieve"

    def __init__(self, site: MailSite) -> None:
        super().__init__(site)
        (self.sieve_port,) = free_ports(1)
        self.scripts = self.directory / "sieve"

    def _protocol_config(self) -> str:
        self.scripts.mkdir(exist_ok=True)
        os.chown(self.scripts, *_ids(MAIL_USER))
        return f"""\
service managesieve-login {{
  inet_listener sieve {{
    address = 127.0.0.1
    port = {self.sieve_port}
  }}
}}
plugin {{
  sieve = file:{self.scripts}/%n;active={self.scripts}/%n.active
}}"""

    def _wait_ready(self) -> None:
        self._wait_for(self.sieve_port, GREETING)
