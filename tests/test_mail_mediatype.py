"""sasl_kit.mail.mediatype: the same guess as mimetypes.guess_type, without loading every table."""

from __future__ import annotations

import mimetypes
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit.mail import mediatype
from sasl_kit.mail.mediatype import OneNameTypes

ODD_NAMES = [
    "report.PDF",  # types are looked up in lower case
    "backup.tar.gz",  # an encoding (gzip), then the type of what is inside
    "backup.tgz",  # suffix_map: .tgz is .tar.gz
    "drawing.svgz",
    "archive.Z",  # encodings are case-sensitive
    "archive.z",
    "noextension",
    ".bashrc",
    "a.b.c.docx",
    "trailing.",
    "data:text/html,<p>",  # guess_type reads a data: URL
    "with space.p df",
]


@pytest.fixture(autouse=True)
def _fresh_mimetypes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``mimetypes`` as a fresh interpreter has it, whatever ran before in this process:
    tables not loaded, its maps the built-in ones. Lookups are forgotten afterwards."""
    monkeypatch.setattr(mimetypes, "inited", False)
    for name in ("types_map", "encodings_map", "suffix_map"):
        monkeypatch.setattr(mimetypes, name, getattr(mimetypes, f"_{name}_default"))
    yield
    mediatype.table_type.cache_clear()


def _use_tables(monkeypatch: pytest.MonkeyPatch, folder: Path, text: str) -> None:
    """``mimetypes.knownfiles``: a file that is missing, then one holding ``text``."""
    table = folder / "mime.types"
    table.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(mimetypes, "knownfiles", [str(folder / "absent"), str(table)])
    mediatype.table_type.cache_clear()


def _as_init_loads(files: Iterable[str | os.PathLike[str]]) -> mimetypes.MimeTypes:
    """The database ``mimetypes.init`` builds: the built-in tables, then each file that exists."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            mimetypes, "inited", True
        )  # else MimeTypes() runs init(), which sets the maps
        return mimetypes.MimeTypes(filenames=[f for f in files if os.path.isfile(f)])


def test_every_extension_of_the_system_tables_gets_the_type_mimetypes_gives() -> None:
    reference = _as_init_loads(mimetypes.knownfiles)
    extensions = set(reference.types_map[True]) | set(reference.types_map[False])
    names = [f"file{e}" for e in sorted(extensions)] + [f"FILE{e.upper()}" for e in extensions]
    for name in [*names, *ODD_NAMES]:
        assert OneNameTypes().guess_type(name) == reference.guess_type(name), name


def test_a_table_is_read_as_mimetypes_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_tables(
        monkeypatch,
        tmp_path,
        "# a comment line: text/x-comment cmt\n"
        "text/x-first pdf  # a later line wins\n"
        "application/x-later   zip pdf\n"
        "image/x-upper PNG\n"  # never found: lookups are in lower case
        "text/x-cut doc # docx\n"  # docx is in a comment
        "pdfx x-word\n"  # pdf inside a word, and a type that is a suffix elsewhere
        "\tzip leading-whitespace\n"
        "text/x-cr a\rtext/x-after-cr b\r\n"  # universal newlines end lines at CR too
        "text/x-odd\x0bvt\u00a0nbsp\n"  # str.split() whitespace
        "text/x-last-line last",  # no newline at the end
    )
    reference = _as_init_loads(mimetypes.knownfiles)
    for suffix in ["pdf", "zip", "png", "PNG", "doc", "docx", "cmt", "x-word", "a", "b", "vt"]:
        for name in (f"f.{suffix}", f"f.{suffix.upper()}"):
            assert OneNameTypes().guess_type(name) == reference.guess_type(name), name
    assert OneNameTypes().guess_type("f.nbsp") == reference.guess_type("f.nbsp")
    assert OneNameTypes().guess_type("f.last") == ("text/x-last-line", None)


WORDS = st.sampled_from(["pdf", "PDF", "a", "ab", "text/x-t", "#", "#pdf", "apdf", "pdfa", ".pdf"])
SPACES = st.sampled_from([" ", "\t", "  ", "\x0c", "\u2003"])
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def table_texts(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.lists(WORDS, max_size=5), max_size=8))
    return "".join(draw(SPACES).join(words) + draw(LINE_ENDS) for words in lines)


@settings(max_examples=150, deadline=None)
@given(text=table_texts())
def test_any_table_gives_the_type_mimetypes_gives(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _use_tables(monkeypatch, tmp_path_factory.mktemp("tables"), text)
        reference = _as_init_loads(mimetypes.knownfiles)
        for name in ("f.pdf", "f.a", "f.ab", "f.apdf", "f.pdfa", "f.x"):
            assert OneNameTypes().guess_type(name) == reference.guess_type(name), name


def test_compose_guesses_without_loading_the_mimetypes_tables() -> None:
    # A fresh interpreter: mimetypes is not loaded there until someone asks it.
    script = textwrap.dedent(
        """
        import mimetypes
        from sasl_kit.mail import Attachment, compose

        message = compose(
            sender="a@example.org", to="b@example.org", subject="s",
            attachments=[Attachment(data=b"x", filename="report.pdf")],
        )
        raw = b"".join(message.chunks())
        print(mimetypes.inited, b"Content-Type: application/pdf" in raw)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]


def test_once_mimetypes_has_its_tables_it_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mimetypes, "inited", True)
    monkeypatch.setattr(mimetypes, "guess_type", lambda name: ("x/from-mimetypes", None))
    assert mediatype.guess_type("f.pdf") == ("x/from-mimetypes", None)
