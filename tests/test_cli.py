"""The ``sasl-kit`` command: respond, mechanisms, selftest, exit statuses, secrets, docs/cli.md."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import vectors
from sasl_kit.cli import main, raw_text
from sasl_kit.vectors import iter_vectors, messages

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Sëcret-pässword-42"
CLI_CLIENT_OPTIONS = {
    "username",
    "password",
    "authzid",
    "realm",
    "service",
    "host",
    "serv_name",
    "cnonce",
    "token",
    "port",
    "trace",
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _respond_argv(vector: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The respond command for a vector's client, and the lines it must print."""
    msgs = messages(vector)
    argv = ["respond", vector["mechanism"]]
    for key, value in vector.get("client", {}).items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    argv += [_b64(m.data) for m in msgs if m.side == "S"]
    expected = [_b64(m.data) for m in msgs if m.side == "C"]
    if msgs[-1].side == "S":  # the client answers the server's last message with nothing
        expected.append("")
    return argv, expected


def _vector(mechanism: str) -> Mapping[str, Any]:
    return next(v for _, v in iter_vectors("exchange") if v["mechanism"] == mechanism)


CLIENT_VECTORS = [
    pytest.param(v, id=v["id"])
    for _, v in iter_vectors("exchange")
    if "client" in v.get("replay", ["client", "server"])
    and set(v.get("client", {})) <= CLI_CLIENT_OPTIONS
]


@pytest.mark.parametrize("vector", CLIENT_VECTORS)
def test_respond_reproduces_every_client_vector(
    vector: Mapping[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv, expected = _respond_argv(vector)
    assert _run(capsys, *argv) == (0, expected, "")


def test_respond_prints_plain_initial_response_first_with_authzid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(
        capsys, "respond", "PLAIN", "--username", "tim", "--password", PASSWORD, "--authzid", "ops"
    )
    assert status == 0
    assert out == [_b64(f"ops\0tim\0{PASSWORD}".encode())]


@pytest.mark.parametrize(
    "prompts", [(b"Username:", b"Password:"), (b"User Name\0", b"Password\0"), (b"who?", b"")]
)
def test_respond_login_answers_by_position(
    prompts: tuple[bytes, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["respond", "LOGIN", "--username", "tim", "--password", PASSWORD]
    status, out, _ = _run(capsys, *argv, *map(_b64, prompts))
    assert (status, out) == (0, [_b64(b"tim"), _b64(PASSWORD.encode())])


def test_respond_raw_shows_escaped_text(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["respond", "PLAIN", "--raw", "--username", "tim", "--password", "a\\b"]
    assert _run(capsys, *argv) == (0, ["\\x00tim\\x00a\\\\b"], "")


def _unraw(text: str) -> bytes:
    """The inverse of ``raw_text``, as docs/cli.md describes the format."""
    out = bytearray()
    for plain, escape in re.findall(r"([^\\]+)|(\\(?:[\\nrt]|x..|u.{4}|U.{8}))", text):
        if plain:
            out += plain.encode()
        elif escape[1] == "x" and int(escape[2:], 16) >= 0x80:
            out.append(int(escape[2:], 16))  # a byte that is not UTF-8
        elif escape[1] in "xuU":
            out += chr(int(escape[2:], 16)).encode()
        else:
            out += {"\\": b"\\", "n": b"\n", "r": b"\r", "t": b"\t"}[escape[1]]
    return bytes(out)


@given(st.one_of(st.binary(), st.text().map(str.encode)))
def test_raw_text_is_one_line_and_loses_nothing(data: bytes) -> None:
    shown = raw_text(data)
    assert shown.isprintable()
    assert _unraw(shown) == data


def test_respond_digest_md5_refuses_a_tampered_rspauth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vector = _vector("DIGEST-MD5")
    argv, expected = _respond_argv(vector)
    assert argv[-1] == _b64(messages(vector)[-2].data)  # the last challenge holds rspauth
    rspauth = base64.b64decode(argv[-1])
    flipped = b"0" if rspauth[-1:] != b"0" else b"1"
    status, out, err = _run(capsys, *argv[:-1], _b64(rspauth[:-1] + flipped))
    assert status == 1
    assert out == expected[:-1]
    assert len(err.splitlines()) == 1 and "rspauth" in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["respond", "CRAM-MD5", "not base64!"], "challenge 1 is not valid base64"),
        (["respond", "CRAM-MD5", "PDE+", "Zm9v"], "challenge 2: the CRAM-MD5 exchange is already"),
        (["respond", "CRAM-MD5", ""], "challenge 1: CRAM-MD5"),
        (["respond", "CRAM-MD5", "--password", "p"], "give its first challenge"),
        (["respond", "LOGIN", "--password", "p"], "LOGIN answers the server"),
        (["respond", "X-NONE"], "'X-NONE'"),
        (["respond", "scram-sha-256-plus"], "respond has none: use SCRAM-SHA-256"),
        (["respond", "PLAIN", "--password-file", "/nonexistent/pw"], "/nonexistent/pw"),
        (["mechanisms", "--verbose"], "--verbose"),
        (["nothing"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_it(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(capsys, *argv)
    assert status == 2
    assert err.count("\n") == 1 and named in err and "Traceback" not in err
    assert "Options." not in err  # a CLI message names options, not ClientOptions' fields


def _failing_commands(tmp_path: Path) -> list[list[str]]:
    pw = ["--username", "tim", "--password", PASSWORD]
    not_utf8 = tmp_path / "latin1"
    not_utf8.write_bytes(PASSWORD.encode("latin-1"))
    digest_challenge = _b64(messages(_vector("DIGEST-MD5"))[0].data)
    return [
        ["respond", "PLAIN", *pw, "!!"],
        ["respond", "PLAIN", *pw, "", ""],
        ["respond", "CRAM-MD5", *pw, PASSWORD],
        ["respond", "LOGIN", *pw, _b64(PASSWORD.encode()), "", ""],
        ["respond", "X-NONE", *pw],
        ["respond", "LOGIN", "--pasword", PASSWORD],
        ["respond", "LOGIN", f"--pasword={PASSWORD}"],
        ["respond", "LOGIN", f"--pass={PASSWORD}"],
        ["respond", "LOGIN", "--password-file", str(not_utf8)],
        ["mechanisms", "--password", PASSWORD],
        ["selftest", PASSWORD],
        ["respond", "DIGEST-MD5", *pw, digest_challenge, _b64(b"rspauth=" + b"0" * 32)],
    ]


def test_no_failing_command_shows_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = PASSWORD.encode()
    forms = [PASSWORD, _b64(raw), raw.hex(), PASSWORD.encode("latin-1").hex(), repr(PASSWORD)]
    for argv in _failing_commands(tmp_path):
        status, _, err = _run(capsys, *argv)
        assert status != 0 and err, argv
        assert not [form for form in forms if form in err], argv


@pytest.mark.parametrize(
    ("argv", "env", "file", "want"),
    [
        ([], {"SASL_KIT_PASSWORD": "from-env"}, None, "from-env"),
        ([], {"SASL_KIT_PASSWORD": "from-env"}, "from-file\nsecond line\n", "from-file"),
        (["--password", "from-arg"], {"SASL_KIT_PASSWORD": "e"}, "from-file\n", "from-arg"),
        ([], {}, "crlf\r\n", "crlf"),
        ([], {}, None, ""),
    ],
)
def test_password_sources_in_order_arg_file_env(
    argv: list[str],
    env: dict[str, str],
    file: str | None,
    want: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("SASL_KIT_PASSWORD", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if file is not None:
        (tmp_path / "pw").write_bytes(file.encode())
        argv = [*argv, "--password-file", str(tmp_path / "pw")]
    status, out, _ = _run(capsys, "respond", "PLAIN", "--username", "tim", *argv)
    assert (status, out) == (0, [_b64(f"\0tim\0{want}".encode())])


def test_username_from_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SASL_KIT_USERNAME", "envuser")
    assert _run(capsys, "respond", "PLAIN", "--raw") == (0, ["\\x00envuser\\x00"], "")
    assert _run(capsys, "respond", "PLAIN", "--raw", "--username", "arg") == (
        0,
        ["\\x00arg\\x00"],
        "",
    )


def test_mechanisms_lists_every_registry_row(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "mechanisms")
    assert status == 0
    assert [line.split()[0] for line in out[1:]] == [i.name for i in sasl_kit.default_registry]
    assert json.loads(_output(capsys, "mechanisms", "--json")) == [
        {
            "name": i.name,
            "client": i.client is not None,
            "server": i.server is not None,
            "strength": i.strength,
            "needs_tls": i.plaintext or i.channel_binding,
        }
        for i in sasl_kit.default_registry
    ]


def _output(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    main(list(argv))
    return capsys.readouterr().out


def test_selftest_passes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "selftest")
    assert status == 0, "\n".join(line for line in out if "FAIL" in line)
    assert re.fullmatch(r"\d+ passed, 0 failed, \d+ skipped", out[-1])
    rows = json.loads(_output(capsys, "selftest", "--json"))
    assert {row["result"] for row in rows} <= {"ok", "skip"}


def test_selftest_fails_on_a_broken_vector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((ROOT / "vectors" / "cram-md5.json").read_text(encoding="utf-8"))
    answer = doc["vectors"][0]["exchange"][-1]
    answer["text"] = answer["text"][:-1] + ("0" if answer["text"][-1] != "0" else "1")
    (tmp_path / "cram-md5.json").write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(vectors, "vectors_dir", lambda: tmp_path)
    status, out, _ = _run(capsys, "selftest")
    assert status == 1
    failed = [line.split()[:2] for line in out if line.startswith("vector") and "FAIL" in line]
    assert failed == [["vector", doc["vectors"][0]["id"]]] * 2


def test_python_m_sasl_kit_runs_the_command() -> None:
    argv, expected = _respond_argv(_vector("CRAM-MD5"))
    done = subprocess.run(
        [sys.executable, "-m", "sasl_kit", *argv], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.splitlines(), done.stderr) == (0, expected, "")


def _console_blocks() -> list[Any]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)```", text, re.DOTALL)
    return [pytest.param(block, id=f"block{n}") for n, block in enumerate(blocks, 1)]


@pytest.mark.parametrize("block", _console_blocks())
def test_docs_cli_examples_run_as_written(block: str, tmp_path: Path) -> None:
    """Each ``$ command`` in docs/cli.md prints what follows it; a line ``...`` stands for any.

    The commands of a block run in order in one fresh directory.
    """
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("SASL_KIT_PASSWORD", None)
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "examples")  # transcripts for verify
    for command in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
        line, _, output = command.partition("\n")
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        pattern = "".join(
            "(?:.*\n)*" if shown == "..." else re.escape(_spaced(shown)) + "\n"
            for shown in output.splitlines()
        )
        got = "".join(_spaced(got) + "\n" for got in done.stdout.splitlines())
        assert re.fullmatch(pattern, got), f"{line}\n{done.stdout}"


def _spaced(line: str) -> str:
    """Table padding varies with the rows; compare words only."""
    return " ".join(line.split())


@pytest.mark.parametrize(
    ("argv", "env", "file", "want"),
    [
        ([], {"SASL_KIT_TOKEN": "from-env"}, None, "from-env"),
        ([], {"SASL_KIT_TOKEN": "from-env"}, "from-file\nsecond\n", "from-file"),
        (["--token", "from-arg"], {"SASL_KIT_TOKEN": "e"}, "from-file\n", "from-arg"),
    ],
)
def test_token_sources_in_order_arg_file_env(
    argv: list[str],
    env: dict[str, str],
    file: str | None,
    want: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if file is not None:
        (tmp_path / "token").write_text(file, encoding="utf-8")
        argv = [*argv, "--token-file", str(tmp_path / "token")]
    status, out, _ = _run(capsys, "respond", "XOAUTH2", "--username", "tim", *argv)
    assert (status, out) == (0, [_b64(f"user=tim\x01auth=Bearer {want}\x01\x01".encode())])


def test_no_failing_oauth_command_shows_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "ya29.Secret_Token-42"
    error = _b64(b'{"status":"invalid_token"}')
    commands = [
        ["respond", "OAUTHBEARER", "--token", token, "!!"],
        ["respond", "OAUTHBEARER", "--token", token + " x"],
        ["respond", "XOAUTH2", "--username", "tim", "--token", token, error, ""],
        ["respond", "XOAUTH2", "--username", "tim", f"--tokn={token}"],
        ["respond", "XOAUTH2", "--username", "tim", "--token-file", str(tmp_path / "none")],
    ]
    for argv in commands:
        status, _, err = _run(capsys, *argv)
        assert status != 0 and err and token not in err and _b64(token.encode()) not in err, argv


# --- exit statuses: the top-level help and docs/cli.md against what the commands use ------

_STATUS_NAME = re.compile(r"EX(IT)?_[A-Z_]+")


def _constants(module: str) -> set[int]:
    """The int constants ``EXIT_*``/``EX_*`` a module of ``sasl_kit.cli`` holds: every
    status a command returns is one of them (none returns a bare number)."""
    from importlib import import_module

    names = vars(import_module(module))
    return {v for k, v in names.items() if _STATUS_NAME.fullmatch(k) and isinstance(v, int)}


def _own_statuses() -> dict[str, set[int]]:
    """Each command's statuses beyond the shared ones, as its module uses them; and each
    module's ``EXIT_STATUSES`` is exactly those."""
    from importlib import import_module

    from sasl_kit.cli import COMMANDS
    from sasl_kit.cli.common import EXIT_STATUSES as SHARED

    own = {}
    for command, name in COMMANDS.items():
        module = f"sasl_kit.cli.{name}"
        own[command] = _constants(module) - set(SHARED)
        assert own[command] == set(getattr(import_module(module), "EXIT_STATUSES", {})), command
    return own


def test_the_top_level_help_lists_every_exit_status_the_commands_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sasl_kit.cli.common import EXIT_STATUSES as SHARED

    own = _own_statuses()
    assert _constants("sasl_kit.cli") <= set(SHARED)  # the dispatcher's: 2, 141
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split()).split("Exit status: ", 1)[1]
    shared, _, rest = shown.partition("; besides, ")
    assert {int(n) for n in re.findall(r"(?:^|, )(\d+) ", shared)} == set(SHARED)
    listed = {
        command: {int(n) for n in re.findall(r"(?:^|, )(\d+) ", statuses)}
        for command, statuses in re.findall(r"([a-z-]+): (.*?)(?:;|\(docs)", rest)
    }
    assert listed == {command: statuses for command, statuses in own.items() if statuses}


def test_the_cli_page_exit_status_table_is_the_statuses_the_commands_use() -> None:
    from sasl_kit.cli.common import EXIT_STATUSES as SHARED

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    table = text.split("\n## Exit status\n", 1)[1].split("\n\n")[1].splitlines()[2:]
    rows = {}
    for row in table:  # | 64, 65, ... | `sendmail` | meaning |
        statuses, commands = (cell.strip() for cell in row.strip("|").split("|")[:2])
        rows[frozenset(int(s) for s in statuses.split(", "))] = commands
    own = _own_statuses()
    expected = {frozenset([status]): "shared" for status in SHARED}
    for status in set().union(*own.values()):
        users = ", ".join(f"`{c}`" for c, statuses in own.items() if status in statuses)
        expected[frozenset([status])] = users
    assert {(status, who) for statuses, who in rows.items() for status in statuses} == {
        (status, who) for statuses, who in expected.items() for status in statuses
    }
