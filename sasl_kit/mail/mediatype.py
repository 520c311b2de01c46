"""An attachment's media type guessed from its file name: ``mimetypes.guess_type``'s answer.

Rules of this module:
- The answer is always the one ``mimetypes.guess_type(name)`` gives in this
  process (strict types: the built-in table, overridden by the system's
  tables in ``mimetypes.knownfiles``), and ``mimetypes`` does the guessing:
  this module only changes what is read to answer it.
- Once ``mimetypes`` has loaded its tables (``mimetypes.inited``, after any
  ``guess_type``, ``init`` or ``add_type`` in the process) it is asked
  directly. Before that, ``mimetypes.guess_type`` would first parse every
  line of every table (2,300 lines of /etc/mime.types on Debian, 3.5 ms: half
  the fixed cost of sending a message with an attachment, docs/bench.md);
  ``OneNameTypes`` instead reads a table only for the lines that name the
  extension asked about, each parsed as ``MimeTypes.readfp`` parses a line,
  and leaves ``mimetypes``' own state alone.
- On Windows, where ``mimetypes`` also reads the registry, it is always asked
  directly.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import sys


def guess_type(filename: str) -> tuple[str | None, str | None]:
    """``mimetypes.guess_type(filename)``: (type or None, encoding or None)."""
    if mimetypes.inited or sys.platform == "win32":
        return mimetypes.guess_type(filename)
    return OneNameTypes().guess_type(filename)


class OneNameTypes(mimetypes.MimeTypes):
    """A ``MimeTypes`` for ``guess_type`` (strict) whose types are looked up one extension
    at a time, when asked.

    ``MimeTypes.__init__`` is not called: it loads every table (``mimetypes.init``).
    The maps are the module's own, which before ``init`` are its built-in ones.
    """

    def __init__(self) -> None:
        self.encodings_map = mimetypes.encodings_map
        self.suffix_map = mimetypes.suffix_map
        self.types_map = ({}, _StrictTypes())


class _StrictTypes(dict[str, str]):
    """The strict types map; an extension is looked up in the tables when first tested."""

    def __contains__(self, ext: object) -> bool:
        if isinstance(ext, str) and not super().__contains__(ext):
            found = table_type(ext)
            if found is not None:
                self[ext] = found
        return super().__contains__(ext)


@functools.cache
def table_type(ext: str) -> str | None:
    """The strict type of ``ext`` (".pdf") as ``mimetypes.init`` would record it.

    The built-in table first, then each table file in order, the last line
    that names the extension winning (``MimeTypes.add_type``). Cached, as
    ``mimetypes`` keeps its tables once read.
    """
    found = mimetypes.types_map.get(ext)
    suffix = ext[1:]
    if not ext.startswith(".") or not suffix:
        return found
    for file in mimetypes.knownfiles:
        if not os.path.isfile(file):
            continue
        # open() as MimeTypes.read does: its universal newlines end the lines that
        # readfp's readline reads.
        with open(file, encoding="utf-8") as table:
            text = table.read()
        at = text.find(suffix)
        while at >= 0:
            after = at + len(suffix)
            # Only a word after the first can name it: whitespace before, and after or the end.
            if text[at - 1 : at].isspace() and (after == len(text) or text[after].isspace()):
                start = text.rfind("\n", 0, at) + 1
                end = text.find("\n", after)
                end = len(text) if end < 0 else end
                found = _line_type(text[start:end], suffix) or found
                after = end
            at = text.find(suffix, after)
    return found


def _line_type(line: str, suffix: str) -> str | None:
    """The type a table line gives ``suffix``, read as ``MimeTypes.readfp`` reads it."""
    words = line.split()
    for i, word in enumerate(words):
        if word.startswith("#"):  # a comment runs to the end of the line
            del words[i:]
            break
    return words[0] if suffix in words[1:] else None
