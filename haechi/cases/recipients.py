"""Who receives a notice, and through which channel.

The editable registry (``templates/hosts.yaml``) lists platforms, not hosts: x.com and
pbs.twimg.com are one platform and get one notice. Per regime it names the channel that starts
that regime's clock (a platform's TAKE IT DOWN, DSA or 22-5 form, or an e-mail address). A
host the registry does not know gets the RDAP abuse contact of the IP it resolves to — a LAST
RESORT (a CDN or an ISP is not the platform; no legal clock starts there), and Cloudflare, a
proxy that forwards the reporter's details to the site, comes with a warning. RDAP goes through
the SSRF-safe fetcher; its base URL is the ``rdap_url`` setting (default https://rdap.org).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from haechi.errors import InputError

DEFAULT_RDAP = "https://rdap.org"
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Channel:
    """Where a notice goes. ``kind``: email | form | given (typed by a person) | last_resort
    (RDAP) | proxy (Cloudflare) | none. ``process``: the registry documents it as the platform's
    statutory process for the regime (only then does a US/UK statutory clock run)."""

    kind: str
    address: str | None
    platform: str | None = None
    process: bool = False
    verified_on: str | None = None
    documented_in: str | None = None
    note: str | None = None
    warning: str | None = None
    #: the platform's route for material depicting a minor (media links may go there)
    minors: bool = False

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "platform": self.platform, "process": self.process,
                "verified_on": self.verified_on, "documented_in": self.documented_in, "note": self.note,
                "warning": self.warning, "minors": self.minors}


@lru_cache(maxsize=1)
def host_registry() -> list[dict[str, Any]]:
    return list(yaml.safe_load((TEMPLATES / "hosts.yaml").read_text(encoding="utf-8"))["platforms"])


def lookup_host(host: str | None) -> dict[str, Any] | None:
    """The registry entry of the platform serving ``host`` (matched by name suffix), or None."""
    if not host:
        return None
    host = host.lower().rstrip(".")
    for entry in host_registry():
        if any(host == m or host.endswith("." + m) for m in entry["match"]):
            return entry
    return None


def platform_entry(name: str) -> dict[str, Any] | None:
    return next((e for e in host_registry() if e["platform"] == name), None)


def telegram_link(key: str) -> str | None:
    """``telegram:<chat id>/<message id>`` (an item of a Telegram export) as a t.me message link.
    Channel and supergroup ids carry Telegram's -100 prefix in the API and none in exports; the
    ``t.me/c/<id>/<message>`` form takes the bare id. None when the key has no usable ids."""
    chat, _, msg = key.removeprefix("telegram:").partition("/")
    chat = chat.removeprefix("-100").removeprefix("-")
    if not (chat.isdigit() and msg.isdigit()):
        return None
    return f"https://t.me/c/{chat}/{msg}"


def channel_for(entry: dict[str, Any], regime: str, minor: bool) -> Channel | None:
    """The registry's channel of a platform for a regime (the minors' route for a minor's case:
    None when the platform has none, so nothing goes to a generic desk)."""
    channels = entry.get("channels") or {}
    if minor:  # the platform's minors' route, or a Korean platform's own 22-5 form: never a generic desk
        chosen = channels.get("minor") or (channels.get("kr") if regime == "kr" else None)
    else:
        chosen = channels.get(regime) or channels.get("default")
    if not chosen:
        return None
    kind = "proxy" if entry.get("kind") == "proxy" else ("email" if chosen.get("email") else "form")
    verified = chosen.get("verified_on")
    return Channel(kind, chosen.get("email") or chosen.get("form"), entry["platform"],
                   bool(chosen.get("process")) and kind != "proxy", str(verified) if verified else None,
                   chosen.get("documented_in"), chosen.get("note"), entry.get("warning"),
                   minors=minor and chosen is channels.get("minor"))


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


def _rdap_doc(host: str, base_url: str | None, allow_private: bool) -> dict[str, Any] | None:
    import ipaddress

    from haechi.sources.web import FetchLimits, fetch, is_public

    base = (base_url or DEFAULT_RDAP).rstrip("/")
    try:
        ip = str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except (socket.gaierror, UnicodeError, IndexError):
        return None
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
    return doc if isinstance(doc, dict) else None


def rdap_abuse_contact(host: str, base_url: str | None = None, allow_private: bool = False) -> str | None:
    """Abuse e-mail for ``host`` from RDAP, or None. Never raises for network trouble."""
    doc = _rdap_doc(host, base_url, allow_private)
    return abuse_from_rdap(doc) if doc else None


def rdap_channel(host: str, base_url: str | None = None, allow_private: bool = False) -> Channel | None:
    """The RDAP contact of ``host`` as a last-resort channel (Cloudflare's IPs: its abuse form,
    with the registry's warning), or None."""
    doc = _rdap_doc(host, base_url, allow_private)
    if doc is None:
        return None
    if "cloudflare" in json.dumps(doc).lower():
        entry = platform_entry("Cloudflare")
        if entry is not None:
            return channel_for(entry, "default", False)
    email = abuse_from_rdap(doc)
    if email is None:
        return None
    return Channel("last_resort", email, None, note="RDAP abuse contact of the IP's network (a CDN or ISP, "
                   "not the platform): a last resort that starts no legal clock")
