"""Named accounts from a TOML file, for ``send``, ``sendmail`` and ``probe`` (docs/cli.md).

Rules of this module:
- The file is read with ``tomllib`` and checked whole: an unknown key, a value
  of the wrong type, an account that does not exist is ``CommandFailed``
  (exit 2) naming the file and the key, never echoing a value.
- A file that holds a ``password`` and that others may read (any group or
  other permission bit) is refused, as msmtp refuses it; so is such a
  ``password_file``. ``password_command`` (msmtp's ``passwordeval``) runs a
  program that prints the password, so that it can live in a keyring or
  ``pass``: a list is run as it is, a string by ``/bin/sh -c``.
- Options on the command line win over the file: ``fill`` sets only what the
  command line left unset.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sasl_kit.cli.common import CommandFailed
from sasl_kit.cli.common import password as given_password

CONFIG_ENV = "SASL_KIT_CONFIG"
TLS_MODES = ("starttls", "implicit", "none")
_STRINGS = (
    "server", "username", "password", "password_file", "cafile", "tls",
    "channel_binding", "ehlo", "from",
)  # fmt: skip
_KEYS = {*_STRINGS, "password_command", "mechanisms", "allow_plaintext"}
COMMAND_TIMEOUT = 30.0


def default_path() -> Path:
    """``$SASL_KIT_CONFIG``, else ``$XDG_CONFIG_HOME/sasl-kit/config.toml``
    (``~/.config/sasl-kit/config.toml`` without it)."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sasl-kit" / "config.toml"


@dataclass(frozen=True)
class Account:
    """One ``[accounts.NAME]`` table."""

    name: str
    path: Path
    values: Mapping[str, object] = field(repr=False)

    def get(self, key: str) -> object:
        return self.values.get(key)

    def password(self) -> str | None:
        """From ``password``, else ``password_command``, else ``password_file``; None without."""
        if isinstance(self.values.get("password"), str):
            return str(self.values["password"])
        command = self.values.get("password_command")
        if command is not None:
            return _run_password_command(self, command)
        file = self.values.get("password_file")
        if isinstance(file, str):
            return _read_password_file(self, Path(file).expanduser())
        return None


def add_account_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", metavar="NAME", help="take defaults from this account")
    parser.add_argument(
        "--config", metavar="FILE", help="accounts file (default ~/.config/sasl-kit/config.toml)"
    )


def load(args: argparse.Namespace) -> Account | None:
    """The account ``--account`` names (or the file's ``default``), or None."""
    explicit = args.config is not None
    path = Path(args.config) if explicit else default_path()
    if args.account is None and not explicit and not path.exists():
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        if args.account is None and not explicit:
            return None
        raise CommandFailed(f"--config: cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CommandFailed(f"{path}: not a TOML file ({exc})") from None
    accounts = document.get("accounts", {})
    if not isinstance(accounts, dict) or set(document) - {"accounts", "default"}:
        raise CommandFailed(f"{path}: expected 'default' and [accounts.NAME] tables only")
    name = args.account if args.account is not None else document.get("default")
    if name is None:
        return None
    if not isinstance(name, str) or not isinstance(accounts.get(name), dict):
        known = ", ".join(sorted(accounts)) or "none"
        raise CommandFailed(f"{path}: no account {str(name)!r} (accounts: {known})")
    account = Account(name, path, _checked(path, name, accounts[name]))
    if "password" in account.values:
        _refuse_if_others_read(path, "holds a password")
    return account


def _checked(path: Path, name: str, values: dict[str, object]) -> dict[str, object]:
    where = f"{path}: [accounts.{name}]"
    unknown = set(values) - _KEYS
    if unknown:
        raise CommandFailed(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in _STRINGS:
        if key in values and not isinstance(values[key], str):
            raise CommandFailed(f"{where}: {key} must be a string")
    command = values.get("password_command")
    if command is not None and not (
        isinstance(command, str)
        or (isinstance(command, list) and command and all(isinstance(a, str) for a in command))
    ):
        raise CommandFailed(f"{where}: password_command must be a string or a list of strings")
    mechanisms = values.get("mechanisms")
    if mechanisms is not None and not (
        isinstance(mechanisms, list) and all(isinstance(m, str) for m in mechanisms)
    ):
        raise CommandFailed(f"{where}: mechanisms must be a list of names")
    if "allow_plaintext" in values and not isinstance(values["allow_plaintext"], bool):
        raise CommandFailed(f"{where}: allow_plaintext must be true or false")
    if values.get("tls", "starttls") not in TLS_MODES:
        raise CommandFailed(f"{where}: tls must be one of {', '.join(TLS_MODES)}")
    return values


def _refuse_if_others_read(path: Path, what: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CommandFailed(f"cannot check {str(path)!r}: {exc.strerror}") from None
    if mode & 0o077:
        raise CommandFailed(
            f"{path} {what} and others may read it (mode {mode & 0o777:o}): "
            f"chmod 600 {path}, or use password_command"
        )


def _run_password_command(account: Account, command: object) -> str:
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)  # type: ignore[call-overload]
    where = f"{account.path}: [accounts.{account.name}] password_command"
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"{where}: could not run it ({type(exc).__name__})") from None
    if done.returncode != 0:
        raise CommandFailed(f"{where}: exited with status {done.returncode}")
    try:
        lines = done.stdout.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise CommandFailed(f"{where}: printed something that is not UTF-8") from None
    if not lines or not lines[0]:
        raise CommandFailed(f"{where}: printed no password")
    return lines[0]


def _read_password_file(account: Account, path: Path) -> str:
    _refuse_if_others_read(path, "is a password file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise CommandFailed(f"[accounts.{account.name}] password_file: {reason}") from None
    return lines[0] if lines else ""


def fill(args: argparse.Namespace, account: Account | None, keys: Mapping[str, str]) -> None:
    """Set ``args.<attribute>`` from the account for each ``key -> attribute`` the
    command line left unset (``None``, ``False`` or an empty list)."""
    if account is None:
        return
    for key, attribute in keys.items():
        value = account.get(key)
        if value is None or getattr(args, attribute, None) not in (None, False, []):
            continue
        setattr(args, attribute, value)


def password(args: argparse.Namespace, account: Account | None) -> str:
    """--password, else --password-file, else ``$SASL_KIT_PASSWORD``, else the account's."""
    given = given_password(args)
    if given or args.password is not None or args.password_file is not None or account is None:
        return given
    return account.password() or ""
