"""Turn the URLs people paste and pages write (IRIs) into the URIs a browser sends.

Why: Korean (and any non-ASCII) text appears in URL paths, queries and host names all the time
(``/data/사진.jpg``, ``?keyword=한글``, ``http://한국.example/``). An HTTP request line and a
WARC ``WARC-Target-URI`` must be ASCII, and the server expects the bytes a browser would send.
We follow what browsers do (the WHATWG URL standard):

* the host is IDNA-encoded (UTS #46 mapping, IDNA 2008) and lower-cased;
* the path is UTF-8 percent-encoded, whatever the page's encoding;
* the query is percent-encoded in the *document's* encoding (an EUC-KR page's ``?q=한글`` is sent
  as ``%C7%D1%B1%DB``); a character that encoding cannot hold becomes ``&#NNNN;``, as browsers do;
* existing ``%XX`` escapes are kept (never double-encoded); tabs and newlines are removed, and
  a backslash in the path is a slash.
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import urlsplit, urlunsplit

import idna

from haechi.errors import InputError

_STRIP = re.compile(r"[\t\n\r]")
#: printable ASCII a browser sends as is in a path (RFC 3986 pchar, "%" so existing escapes survive,
#: and "[" "]", which Chromium leaves alone); the rest is percent-encoded
_PATH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/%[]")
#: in a query, browsers encode only the WHATWG "special-query percent-encode set" (controls, space,
#: " # < > '): | { } ` ^ [ ] \ go as they are
_QUERY_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset("\"#<>'")
_FRAGMENT_SAFE = _PATH_SAFE | frozenset("?")


def _encode_part(text: str, safe: frozenset[str], encoding: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in safe:
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"%{ord(ch):02X}")
        else:
            try:
                raw = ch.encode(encoding)
            except UnicodeEncodeError:  # WHATWG: what the encoding cannot hold is sent as &#N;
                out.append(f"%26%23{ord(ch)}%3B")
                continue
            # a legacy encoding's ASCII trail byte stays as is, as browsers send it: Shift_JIS 写 is
            # %90^ and CP949 똠 is %8Cc, not %90%5E / %8C%63 (the URL in a notice and the one the
            # browser loaded must be the same string). "%" is always escaped: never a false escape.
            out.append("".join(chr(b) if b < 0x80 and chr(b) in safe and b != 0x25 else f"%{b:02X}" for b in raw))
    return "".join(out)


def _host(host: str, url: str) -> str:
    if host.startswith("["):  # IPv6 literal
        return host.lower()
    try:
        host.encode("ascii")
        return host.lower()
    except UnicodeEncodeError:
        pass
    try:
        return idna.encode(host.rstrip("."), uts46=True, transitional=False).decode("ascii") + (
            "." if host.endswith(".") else "")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InputError(url, f"host name {host!r} is not a valid internationalised domain name: {exc}") from None


def query_codec(encoding: str | None) -> str:
    """The codec a page's queries are encoded in: the page's own, except UTF-16/32 (browsers
    use UTF-8 then) or an unknown name."""
    if not encoding:
        return "utf-8"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return "utf-8"
    return "utf-8" if name.startswith(("utf-16", "utf-32")) else name


def to_uri(url: str, query_encoding: str | None = "utf-8") -> str:
    """``url`` as the ASCII URI a browser would request. Raises InputError for a URL that
    cannot be parsed or a host name that is not a valid IDN."""
    cleaned = _STRIP.sub("", url).strip(" \f\v\x00")
    try:
        parts = urlsplit(cleaned)
    except ValueError as exc:
        raise InputError(url, f"malformed URL: {exc}") from None
    netloc = parts.netloc
    if netloc:
        userinfo, at, hostport = netloc.rpartition("@")
        if hostport.startswith("["):
            end = hostport.find("]")
            host, port = (hostport[:end + 1], hostport[end + 1:]) if end >= 0 else (hostport, "")
        else:
            host, colon, port = hostport.partition(":")
            port = colon + port
        netloc = (_encode_part(userinfo, _PATH_SAFE - {"@", "/"}, "utf-8") + at if at else "") + _host(host, url) + port
    path = parts.path
    if parts.scheme.lower() in ("http", "https"):
        path = path.replace("\\", "/")
    codec = query_codec(query_encoding)
    return urlunsplit((parts.scheme.lower(), netloc, _encode_part(path, _PATH_SAFE, "utf-8"),
                       _encode_part(parts.query, _QUERY_SAFE, codec),
                       _encode_part(parts.fragment, _FRAGMENT_SAFE, "utf-8")))
