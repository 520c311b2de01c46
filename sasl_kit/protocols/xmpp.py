"""XMPP client-to-server SASL (RFC 6120 section 6), and the XML stream that carries it.

Rules of this module:
- XML is parsed only by the standard library's ``xml.etree.ElementTree.XMLPullParser``,
  fed one ``>`` at a time, so that the bytes after an element the exchange ends
  with (``<success/>``, ``<proceed/>``) stay unparsed in ``XMLStream.pending``
  for the restarted stream or the TLS handshake.
- Restricted XML (RFC 6120 11.1): a DTD (and with it any entity declaration),
  a processing instruction or a comment from the server is a
  ``ProtocolViolation``; so is an entity other than XML's predefined five
  (expat: "undefined entity"). The XML declaration is allowed.
- Limits; a server that passes one is cut off with ``ProtocolViolation``:
  ``MAX_DEPTH`` levels of nesting, the stream element counted;
  ``MAX_ELEMENT_BYTES`` from the end of one top-level element to the end of the
  next (whitespace keepalives count, so an endless stream of them is cut off);
  ``MAX_STREAM_BYTES`` for all a stream carries. sasl-kit leaves or restarts a
  stream once its features and SASL are done, so the last bounds the bytes
  before the features as well.
- Payloads are base64 as element text (6.4.2). ``=`` is a present but empty
  payload; an ``<auth/>`` without text has no initial response. ``=`` is read
  as empty in every SASL element (Prosody sends it in challenges and success).
- Outcomes come from the ``<failure/>`` condition (6.5) through ``CONDITIONS``.
  ``<aborted/>`` answers our ``<abort/>``: the result is then ``CANCELLED``
  with the mechanism's error. A stream error ends the exchange as ``FAILED``.
- Transcript notation: one top-level element per line, written as
  ``serialize`` writes it (double quotes, ``xmlns`` on the element itself).
  The client's lines are exactly what was sent; the server's are its elements
  re-serialized from the parsed tree in that same form, with whitespace-only
  text between child elements dropped. ``read_line`` reads that notation back.

Theory of operation: a driver opens a stream (``open_stream``), feeds the
server's bytes to an ``XMLStream`` and takes its top-level elements one by
one: ``features`` reads ``<stream:features/>``, ``proceeded`` the answer to
``STARTTLS``. An exchange is ``XMPPClientAuth``: it continues the driver's
stream (``XMLStream.continuation``, the server's namespace prefixes kept) or,
without one, reads bare elements as if a stream had been opened (what the
unit tests and ``Profile.mechanisms`` do). After ``<success/>`` the client
opens a new stream (6.4.6); that is the driver's part.
"""

from __future__ import annotations

import collections
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sasl_kit.errors import SASLError, UsageError
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols.base import (
    CLIENT,
    REDACTED,
    SERVER,
    Cancel,
    Challenge,
    Chatter,
    ClientAuth,
    End,
    Event,
    Outcome,
    Profile,
    Response,
    Start,
    b64decode,
    b64encode,
)
from sasl_kit.protocols.errors import ProtocolViolation, ServerRefused

STREAMS_NS = "http://etherx.jabber.org/streams"
CLIENT_NS = "jabber:client"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
STREAM_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-streams"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")

MAX_DEPTH = 16
MAX_ELEMENT_BYTES = 64 * 1024
MAX_STREAM_BYTES = 256 * 1024

DEFAULT_NAMESPACES: Mapping[str, str] = {"": CLIENT_NS, "stream": STREAMS_NS}
"""The prefixes of a stream as RFC 6120 4.8 writes it, for reading bare elements."""

CONDITIONS: Mapping[str, Outcome] = {
    # RFC 6120 6.5, by guilty side
    "not-authorized": Outcome.REJECTED,
    "credentials-expired": Outcome.REJECTED,
    "account-disabled": Outcome.REJECTED,
    "invalid-authzid": Outcome.REJECTED,
    "invalid-mechanism": Outcome.REFUSED,
    "mechanism-too-weak": Outcome.REFUSED,
    "encryption-required": Outcome.TLS_REQUIRED,
    "temporary-auth-failure": Outcome.TEMPORARY,
    # The server blames our message's framing or content: kept as the server's
    # permanent refusal, the condition naming what it disliked.
    "malformed-request": Outcome.FAILED,
    "incorrect-encoding": Outcome.FAILED,
    "aborted": Outcome.CANCELLED,
}
"""``<failure/>`` condition -> outcome; an unknown condition is ``FAILED``."""

STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
CLOSE_STREAM = b"</stream:stream>"


def open_stream(domain: str) -> bytes:
    """The initiating entity's stream header to ``domain`` (RFC 6120 4.7, 4.8)."""
    to = quoteattr(domain)
    return (
        f"<?xml version='1.0'?><stream:stream xmlns='{CLIENT_NS}' "
        f"xmlns:stream='{STREAMS_NS}' to={to} version='1.0'>"
    ).encode()


def _split(tag: str) -> tuple[str, str]:
    """``{ns}local`` -> (ns, local)."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _text(text: str | None) -> str:
    """Element text for one transcript line: escaped, line breaks as references."""
    return escape(text or "", {"\n": "&#10;", "\r": "&#13;"})


def serialize(element: ET.Element, parent_ns: str = "") -> str:
    """One element on one line, in the transcript notation (module rules)."""
    ns, local = _split(element.tag)
    attributes = "" if ns == parent_ns else f" xmlns={quoteattr(ns)}"
    for key, value in element.attrib.items():
        key_ns, key_local = _split(key)
        name = f"xml:{key_local}" if key_ns == XML_NS else key_local
        attributes += f" {name}={quoteattr(value, {chr(10): '&#10;', chr(13): '&#13;'})}"
    inner = "" if not (element.text or "").strip() else _text(element.text)
    for child in element:
        inner += serialize(child, ns)
        if (child.tail or "").strip():
            inner += _text(child.tail)
    if not inner:
        return f"<{local}{attributes}/>"
    return f"<{local}{attributes}>{inner}</{local}>"


def _sasl(local: str, payload: str | None = None, **attributes: str) -> ET.Element:
    element = ET.Element(f"{{{SASL_NS}}}{local}", attributes)
    element.text = payload
    return element


def _payload(data: bytes | None) -> str | None:
    """The element text of a payload: base64, ``=`` for an empty one, ``None`` for none."""
    if data is None:
        return None
    return b64encode(data) if data else "="


def _data(text: str | None, what: str) -> bytes:
    """A payload from its element text (``=`` and no text are empty)."""
    text = (text or "").strip()
    return b"" if text in ("", "=") else b64decode(text, what)


class XMLStream:
    """The server's side of one XML stream: bytes in (``feed``), top-level elements out.

    ``opened``: the stream is taken as already open with these namespace
    prefixes (prefix -> URI), so bare top-level elements can be fed.
    ``header`` holds the stream element's attributes once it has arrived,
    ``namespaces`` the prefixes it declared, ``closed`` turns true at
    ``</stream:stream>``. ``pending`` is what was fed but not parsed yet.
    """

    def __init__(self, opened: Mapping[str, str] | None = None) -> None:
        self._parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(
            ("start", "end", "start-ns", "pi", "comment")
        )
        self._ready: collections.deque[ET.Element] = collections.deque()
        self._root: ET.Element | None = None
        self._depth = 0
        self._head = b""
        self._since_element = 0
        self._total = 0
        self._broken: ProtocolViolation | None = None
        self.pending = b""
        self.header: dict[str, str] | None = None
        self.namespaces: dict[str, str] = {}
        self.closed = False
        if opened is not None:
            self._parser.feed(_stream_start(opened))
            self._handle(self._parser.read_events())

    def continuation(self) -> XMLStream:
        """A stream reader that takes over after this one's last element, with its prefixes."""
        follower = XMLStream(self.namespaces or DEFAULT_NAMESPACES)
        follower.pending = self.pending
        self.pending = b""
        return follower

    def feed(self, data: bytes) -> None:
        self.pending += data

    def next(self) -> ET.Element | None:
        """The next complete top-level element, or ``None`` until more bytes come."""
        while not self._ready and self.pending and not self.closed:
            cut = self.pending.find(b">") + 1 or len(self.pending)
            piece, self.pending = self.pending[:cut], self.pending[cut:]
            self._parse(piece)
        return self._ready.popleft() if self._ready else None

    def _parse(self, piece: bytes) -> None:
        if self._broken is not None:
            raise self._broken
        self._total += len(piece)
        self._since_element += len(piece)
        try:
            if self._total > MAX_STREAM_BYTES:
                raise ProtocolViolation(
                    f"the server's XML stream passed {MAX_STREAM_BYTES} bytes; cut off"
                )
            if self._since_element > MAX_ELEMENT_BYTES:
                raise ProtocolViolation(
                    f"the server sent {MAX_ELEMENT_BYTES} bytes without completing an "
                    "element; cut off"
                )
            if self.header is None:
                self._head += piece
                _check_prolog(self._head)
            try:
                self._parser.feed(piece)
                events = self._parser.read_events()
                self._handle(events)
            except ET.ParseError as exc:
                raise ProtocolViolation(f"the server's XML is not well-formed ({exc})") from None
        except ProtocolViolation as exc:
            self._broken = exc
            raise

    def _handle(self, events: Iterator[tuple[Any, ...]]) -> None:
        for event, item in events:
            if event == "start-ns":
                if self._depth == 0:
                    prefix, uri = item
                    self.namespaces[prefix] = uri
            elif event == "start":
                self._start(item)
            elif event == "end":
                self._depth -= 1
                if self._depth == 1:
                    assert self._root is not None
                    self._root.remove(item)  # the stream keeps no history
                    self._since_element = 0
                    self._ready.append(item)
                elif self._depth == 0:
                    self.closed = True
            else:
                what = "comment" if event == "comment" else "processing instruction"
                raise ProtocolViolation(f"the server sent a {what} (restricted XML, RFC 6120 11.1)")

    def _start(self, element: ET.Element) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ProtocolViolation(f"the server's XML nests deeper than {MAX_DEPTH} levels")
        if self._depth == 1:
            if element.tag != f"{{{STREAMS_NS}}}stream":
                raise ProtocolViolation(
                    f"the server did not open an XMPP stream (<{_split(element.tag)[1]}>)"
                )
            self._root = element
            self.header = dict(element.attrib)
            self._head = b""


def _check_prolog(head: bytes) -> None:
    """Before the stream element: whitespace and the XML declaration, in UTF-8, only."""
    text = head.lstrip(b" \t\r\n")
    declaration = text.partition(b"?>")[0] if text.startswith(b"<?xml ") else b""
    encoding = _ENCODING.search(declaration)
    if (text and text[:1] != b"<") or (encoding and encoding[1].lower() != b"utf-8"):
        raise ProtocolViolation("the server's stream is not in UTF-8 (RFC 6120 11.6)")
    if b"<!" in head:
        raise ProtocolViolation(
            "the server sent a DTD or a comment before its stream (restricted XML, RFC 6120 11.1)"
        )


def _stream_start(namespaces: Mapping[str, str]) -> bytes:
    """A stream element declaring ``namespaces``, to read bare elements within."""
    prefix = next((p for p, uri in namespaces.items() if uri == STREAMS_NS), None)
    declared = dict(namespaces)
    if prefix is None:
        prefix = "stream" if "stream" not in declared else "stream0"
        declared[prefix] = STREAMS_NS
    tag = f"{prefix}:stream" if prefix else "stream"
    attributes = "".join(
        f" xmlns{':' + p if p else ''}={quoteattr(uri)}" for p, uri in declared.items()
    )
    return f"<{tag}{attributes}>".encode()


# --- stream negotiation (for the drivers) -------------------------------------------------


@dataclass(frozen=True)
class Features:
    """What ``<stream:features/>`` offers (RFC 6120 4.3.2, 5.3.1, 6.3.3)."""

    starttls: bool
    tls_required: bool
    mechanisms: tuple[str, ...]
    bind: bool  # resource binding, offered once authenticated (RFC 6120 7.2)


def features(element: ET.Element) -> Features:
    """Read ``<stream:features/>``; a stream error raises ``ServerRefused``."""
    _raise_stream_error(element)
    if element.tag != f"{{{STREAMS_NS}}}features":
        raise ProtocolViolation(
            f"the server sent <{_split(element.tag)[1]}> where its stream features were due"
        )
    tls = element.find(f"{{{TLS_NS}}}starttls")
    return Features(
        starttls=tls is not None,
        tls_required=tls is not None and tls.find(f"{{{TLS_NS}}}required") is not None,
        mechanisms=_mechanisms(element),
        bind=element.find(f"{{{BIND_NS}}}bind") is not None,
    )


def _mechanisms(features: ET.Element) -> tuple[str, ...]:
    listed = features.find(f"{{{SASL_NS}}}mechanisms")
    if listed is None:
        return ()
    names = [(m.text or "").strip() for m in listed.iter(f"{{{SASL_NS}}}mechanism")]
    return tuple(name.upper() for name in names if name)


def proceeded(element: ET.Element) -> None:
    """Check the answer to ``STARTTLS`` (RFC 6120 5.4.2.3, 5.4.2.2)."""
    _raise_stream_error(element)
    if element.tag == f"{{{TLS_NS}}}proceed":
        return
    if element.tag == f"{{{TLS_NS}}}failure":
        raise ServerRefused("the server refused STARTTLS (<failure/>)", code="failure")
    raise ProtocolViolation(f"the server answered STARTTLS with <{_split(element.tag)[1]}>")


def _stream_error(element: ET.Element) -> tuple[str, str] | None:
    """(condition, text) of a ``<stream:error/>`` (RFC 6120 4.9), else ``None``."""
    if element.tag != f"{{{STREAMS_NS}}}error":
        return None
    condition, text = "", ""
    for child in element:
        ns, local = _split(child.tag)
        if ns == STREAM_ERRORS_NS and local == "text":
            text = (child.text or "").strip()
        elif ns == STREAM_ERRORS_NS and not condition:
            condition = local
    return condition, text


def _raise_stream_error(element: ET.Element) -> None:
    error = _stream_error(element)
    if error is not None:
        condition, text = error
        said = f": {text}" if text else ""
        raise ServerRefused(
            f"the server ended the XML stream ({condition}{said})", code=condition, text=text
        )


def _failure(element: ET.Element) -> tuple[str, str]:
    """(condition, text) of a SASL ``<failure/>`` (RFC 6120 6.5)."""
    condition, text = "", ""
    for child in element:
        ns, local = _split(child.tag)
        if ns != SASL_NS:
            continue
        if local == "text":
            text = (child.text or "").strip()
        elif not condition:
            condition = local
    return condition, text


# --- one exchange -------------------------------------------------------------------------


class XMPPClientAuth(ClientAuth):
    """One SASL exchange on an open stream, client side (RFC 6120 6.4).

    ``stream``: the driver's stream past its features (``XMLStream.continuation``);
    without one, the server's bare elements are read (``DEFAULT_NAMESPACES``).
    The mechanism is stepped by ``ClientAuth``'s helpers; ``_error`` set means
    our ``<abort/>`` is out.
    """

    def __init__(
        self, name: str, mechanism: ClientMechanism, stream: XMLStream | None = None
    ) -> None:
        super().__init__(name, mechanism)
        self.stream = stream if stream is not None else XMLStream(DEFAULT_NAMESPACES)

    def continue_stream(self, stream: XMLStream) -> None:
        """Read the server's elements from ``stream`` (a driver's, past its features)."""
        if self._started:
            raise UsageError("continue_stream() after start(): the exchange has begun")
        self.stream = stream

    def _start(self) -> bytes:
        initial = self._mechanism_initial()
        if self.result is not None:
            return b""  # the mechanism could not start: nothing goes out
        return self._send(_sasl("auth", _payload(initial), mechanism=self.name))

    def _receive(self, data: bytes) -> bytes:
        self.stream.feed(data)
        out = b""
        while self.result is None and (element := self.stream.next()) is not None:
            self._record_server(element)
            out += self._on(element)
        if self.result is not None:
            self.leftover = self.stream.pending
        elif self.stream.closed:
            raise ProtocolViolation(f"the server closed the XML stream during {self.name}")
        return out

    def _on(self, element: ET.Element) -> bytes:
        error = _stream_error(element)
        if error is not None:
            self._conclude(Outcome.FAILED, *error)
            return b""
        ns, local = _split(element.tag)
        if ns != SASL_NS or local not in ("challenge", "success", "failure"):
            raise ProtocolViolation(f"the server sent <{local}> during {self.name}")
        if local == "failure":
            condition, text = _failure(element)
            outcome = CONDITIONS.get(condition, Outcome.FAILED)
            if outcome is Outcome.CANCELLED and self._error is None:
                outcome = Outcome.FAILED  # "aborted" that we never asked for
            self._conclude(outcome, condition, text)
            return b""
        if self._error is not None:
            return b""  # crossed our <abort/> on the wire; its <failure/> follows
        try:
            data = _data(element.text, f"the server's <{local}>")
        except ProtocolViolation as exc:
            self._error = exc
            data = b""
        if local == "success":  # RFC 6120 6.4.6: additional data goes to the mechanism
            self._conclude(Outcome.SUCCESS, "success", "", data or None)  # '=' is none
            return b""
        answer = None if self._error else self._mechanism_answer(data)
        if answer is None:  # RFC 6120 6.4.5: cancel; <failure><aborted/></failure> ends it
            return self._send(_sasl("abort"))
        return self._send(_sasl("response", b64encode(answer) if answer else None))

    def _send(self, element: ET.Element) -> bytes:
        line = serialize(element)
        if element.text and element.text != "=":
            local = _split(element.tag)[1]
            self._record(
                CLIENT,
                line,
                shown=line.replace(f">{element.text}</{local}>", f">{REDACTED}</{local}>"),
            )
        else:
            self._record(CLIENT, line)
        return line.encode("utf-8")

    def _record_server(self, element: ET.Element) -> None:
        line = serialize(element)
        local = _split(element.tag)[1]
        if local in ("challenge", "success") and (element.text or "").strip() not in ("", "="):
            self._record(
                SERVER, line, shown=f"<{local} xmlns={quoteattr(SASL_NS)}>{REDACTED}</{local}>"
            )
        else:
            self._record(SERVER, line)


# --- the profile --------------------------------------------------------------------------


class XMPPProfile(Profile):
    name = "xmpp"
    service = "xmpp"  # RFC 6120 6.3.8

    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        """The ``<mechanism/>`` names in ``<stream:features/>``: the bytes from the
        stream header on, or the features element alone (with the usual prefixes)."""
        opened = (
            None
            if capabilities.lstrip().startswith((b"<?xml", b"<stream:stream"))
            else (DEFAULT_NAMESPACES)
        )
        stream = XMLStream(opened)
        stream.feed(capabilities)
        while (element := stream.next()) is not None:
            if element.tag == f"{{{STREAMS_NS}}}features":
                return features(element).mechanisms
        raise ProtocolViolation("no complete <stream:features/> in the capabilities given")

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> XMPPClientAuth:
        """``stream`` (an ``XMLStream``) is the only option: the stream to continue."""
        stream = options.pop("stream", None)
        if options or not (stream is None or isinstance(stream, XMLStream)):
            raise UsageError(f"XMPP client options: stream only, not {sorted(options)}")
        return XMPPClientAuth(name, mechanism, stream)

    def payload(self, text: str, what: str) -> bytes:
        """A payload as ``read_line`` gave it, or a client's whole ``<response/>`` line
        (``verify`` keeps a response line as written): its base64, ``=`` or none empty."""
        if text.lstrip().startswith("<"):
            event = self.read_line(CLIENT, text)
            if not isinstance(event, Response):
                raise ProtocolViolation(f"{what} is not an XMPP <response/>")
            text = event.text
        return super().payload(text, what)

    def read_line(self, side: str, text: str) -> Event | None:
        """One element of the transcript notation (module rules); payloads as written.

        The stream header, features, STARTTLS and other elements of the stream's
        own namespaces are ``Chatter``: they tell an XMPP session from others.
        """
        data = text.strip().encode("utf-8", "replace")
        if data.startswith((b"<?xml", b"<stream:stream")):
            return Chatter() if _opens_stream(data) else None
        stream = XMLStream(DEFAULT_NAMESPACES)
        stream.feed(data)
        try:
            element = stream.next()
        except SASLError:
            return None
        if element is None or stream.pending.strip():
            return None
        return _event(side, element, text.strip())


def _opens_stream(data: bytes) -> bool:
    stream = XMLStream()
    stream.feed(data)
    try:
        stream.next()
    except SASLError:
        return False
    return stream.header is not None


def _event(side: str, element: ET.Element, line: str) -> Event | None:
    ns, local = _split(element.tag)
    payload = (element.text or "").strip()
    given = None if element.text is None else payload
    if ns == SASL_NS and side == CLIENT:
        if local == "auth" and element.get("mechanism"):
            return Start(element.get("mechanism", "").upper(), given)
        if local == "response":
            return Response(payload)
        if local == "abort":
            return Cancel()
    if ns == SASL_NS and side == SERVER:
        if local == "challenge":
            return Challenge(payload)
        if local == "success":
            return End(Outcome.SUCCESS, line, given)
        if local == "failure":
            return End(CONDITIONS.get(_failure(element)[0], Outcome.FAILED), line)
    if side == SERVER and _stream_error(element) is not None:
        return End(Outcome.FAILED, line)
    if ns in (STREAMS_NS, TLS_NS, CLIENT_NS):
        return Chatter()
    return None


PROFILE = XMPPProfile()
