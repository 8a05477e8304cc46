"""Who receives a notice: the editable host registry first, then RDAP (the registries' own
abuse contact for the IP the host resolves to). RDAP goes through the SSRF-safe fetcher; its
base URL is ``$HAECHI_RDAP_URL`` (default https://rdap.org, which redirects to the right RIR)."""

from __future__ import annotations

import json
import socket
from typing import Any

from haechi.errors import InputError
from haechi.sources.web import FetchLimits, fetch, is_public

DEFAULT_RDAP = "https://rdap.org"


def _emails(entity: dict[str, Any]) -> list[str]:
    out = []
    vcard = entity.get("vcardArray")
    if isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list):
        for prop in vcard[1]:
            if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email" and isinstance(prop[3], str):
                out.append(prop[3])
    return out


def abuse_from_rdap(doc: dict[str, Any]) -> str | None:
    """The first e-mail of an entity with the ``abuse`` role (searched depth-first)."""
    stack = list(doc.get("entities", []) or [])
    while stack:
        entity = stack.pop(0)
        if not isinstance(entity, dict):
            continue
        if "abuse" in (entity.get("roles") or []):
            emails = _emails(entity)
            if emails:
                return emails[0]
        stack.extend(entity.get("entities", []) or [])
    return None


def rdap_abuse_contact(host: str, base_url: str | None = None, allow_private: bool = False) -> str | None:
    """Abuse e-mail for ``host`` from RDAP, or None. Never raises for network trouble."""
    base = (base_url or DEFAULT_RDAP).rstrip("/")
    try:
        ip = str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except (socket.gaierror, UnicodeError, IndexError):
        return None
    import ipaddress

    if not allow_private and not is_public(ipaddress.ip_address(ip.split("%")[0])):
        return None  # a private address has no public abuse contact
    try:
        res = fetch(f"{base}/ip/{ip}", FetchLimits(max_bytes=2_000_000, timeout_s=10, allow_private=allow_private),
                    accept="application/rdap+json, application/json")
        if res.status != 200:
            return None
        doc = json.loads(res.body)
    except (InputError, ValueError):
        return None
    return abuse_from_rdap(doc) if isinstance(doc, dict) else None
