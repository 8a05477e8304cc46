"""The words of a notice: who signs it, where the content is, why each URL is unlawful.

Everything said in law lives in ``templates/notices.yaml`` (a lawyer edits data, not code); this
module only chooses and fills it. Three choices are made per notice from facts Haechi holds:
the reason per URL (a real recording, a synthetic one — from the item's assessment — or a
minor, from the case), the offences cited (Korean Art. 14 for real recordings, Art. 14-2 for
deepfakes), and where the content is (every matched media URL and its page; a Telegram export
item as a t.me link; never a local file path, which can carry a victim's name).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from haechi.errors import InputError

#: the identity Haechi shipped with before it was configuration: never sent
PLACEHOLDER_NAMES = {"deletion support team", "digital sex crime victim support centre", ""}
#: domains that never receive mail (RFC 2606/6761) or are the shipped examples
_PLACEHOLDER_DOMAIN = re.compile(r"(^|\.)(example\.(org|com|net)|example|test|invalid|localhost)$")
#: words that name a team rather than the natural person who signs
_NOT_A_PERSON = re.compile(r"\b(team|desk|department|office|support|centre|center|unit|staff)\b|팀|센터|부서",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Sender:
    """The centre's identity on a notice (settings ``sender_*``; ``local`` holds names per
    language: ``{"ko": {"name": ..., "org": ...}}``)."""

    name: str
    org: str
    email: str
    phone: str = ""
    role: str = ""
    basis: str = ""
    registration: str = ""
    local: str = ""  # JSON text (settings keep it hashable)

    def names(self, lang: str) -> tuple[str, str]:
        """(signer, organisation) in ``lang``: the per-language names where set."""
        local = (json.loads(self.local) if self.local else {}).get(lang) or {}
        name, org = local.get("name") or self.name, local.get("org") or self.org
        role = local.get("role") or self.role
        return (f"{name}, {role}" if role else name), org


def sender_problems(sender: Sender) -> list[str]:
    """Why ``sender`` cannot sign a notice (empty: it can). A platform must be able to reply to a
    real person: TAKE IT DOWN (i)/(iv) and DSA Art. 16(2)(c) ask for a signature and contact."""
    problems = []
    if sender.name.strip().lower() in PLACEHOLDER_NAMES:
        problems.append("sender_name is missing or the shipped placeholder: set the natural person who signs")
    elif _NOT_A_PERSON.search(sender.name):
        problems.append(f"sender_name {sender.name!r} names a team: set the natural person who signs")
    if sender.org.strip().lower() in PLACEHOLDER_NAMES:
        problems.append("sender_org is missing or the shipped placeholder: set the centre's registered name")
    domain = sender.email.rpartition("@")[2].lower().strip()
    if "@" not in sender.email or not domain or _PLACEHOLDER_DOMAIN.search(domain):
        problems.append(f"sender_email {sender.email!r} is missing or a placeholder address that receives no mail")
    if len(re.sub(r"\D", "", sender.phone)) < 6:
        problems.append("sender_phone is missing")
    bases = templates_bases()
    if sender.basis not in bases:
        problems.append(f"sender_basis must be one of {', '.join(sorted(bases))} (the centre's legal basis)")
    return problems


def templates_bases() -> dict[str, Any]:
    from haechi.cases.service import templates

    return dict(templates().get("bases") or {})


@dataclass(frozen=True)
class Target:
    """One location in a notice: the page (or Telegram message link), its matched media, and the
    kind of content (real | synthetic | minor), which gives the reason and the offence."""

    page: str
    media: tuple[str, ...] = ()
    kind: str = "real"
    telegram: bool = False


def locate(item_id: int, url: str, media: list[dict[str, Any]], synthetic: bool, minor: bool,
           with_media: bool = True) -> Target:
    """Where an item is, for a platform. Raises InputError for an item added from a local file
    (its path is never printed: it can carry a victim's name) or a Telegram key without ids."""
    from haechi.cases.recipients import telegram_link

    kind = "minor" if minor else ("synthetic" if synthetic else "real")
    if url.startswith("telegram:"):
        link = telegram_link(url)
        if link is None:
            raise InputError(f"item {item_id}", "a Telegram item without chat and message ids cannot be located")
        return Target(link, (), kind, telegram=True)
    if not url.startswith(("http://", "https://")):
        raise InputError(f"item {item_id}", "added from a local file: a notice needs the public URL where the "
                                            "content is (add it with haechi case add-item CASE URL); the file's "
                                            "path is never put in a notice")
    page = url.split("#", 1)[0]
    found = [] if not with_media else [m["url"] for m in media if m.get("matches") and isinstance(m.get("url"), str)
                                       and m["url"].startswith(("http://", "https://")) and m["url"] != page]
    return Target(page, tuple(dict.fromkeys(found)), kind)


def _location_block(t: dict[str, Any], regime: str, lang: str, targets: list[Target]) -> str:
    labels, reasons = t["labels"], {**t["reasons"], **(t.get("regime_reasons") or {}).get(regime, {})}
    lines = []
    for n, target in enumerate(targets, 1):
        label = labels["message" if target.telegram else "page"][lang]
        lines.append(f"  {n}. {label}: {target.page}")
        lines += [f"     {labels['media'][lang]}: {m}" for m in target.media]
        lines.append(f"     {labels['reason'][lang]}: {reasons[target.kind][lang]}")
    return "\n".join(lines)


def _offences(t: dict[str, Any], regime: str, lang: str, targets: list[Target]) -> str:
    table = (t.get("offences") or {}).get(regime) or {}
    kinds = [k for k in ("real", "synthetic", "minor") if any(x.kind == k for x in targets)]
    return "; ".join(dict.fromkeys(table[k][lang] for k in kinds if k in table))


def render(regime: str, lang: str, case_ref: str, targets: list[Target] | list[str], sender: Sender,
           reply_hours: int | None = None, member_state: str = "", trusted_flagger: str = "",
           date: str | None = None, personal_details: bool = False) -> tuple[str, str]:
    """(subject, body) of a notice. ``targets`` may be plain URLs (a real recording each);
    ``personal_details`` adds the request to delete the person's details posted with the content.
    Raises InputError for an unknown regime or language, or a template that does not fill."""
    from haechi.cases.service import templates

    t = templates()
    if regime not in t["regimes"]:
        raise InputError(regime, f"regime must be one of {', '.join(t['regimes'])}")
    if lang not in t["languages"]:
        raise InputError(lang, f"language must be one of {', '.join(t['languages'])}")
    spec = t["regimes"][regime]
    tgts = [x if isinstance(x, Target) else Target(x) for x in targets]
    signer, org = sender.names(lang)
    law = (t.get("member_state_law") or {}).get(member_state.upper(), member_state) if member_state else ""
    optional = {"member_state": law, "trusted_flagger": trusted_flagger, "personal_details": personal_details}
    try:
        basis = (t["bases"].get(sender.basis) or {}).get(lang, "")
        basis = basis.format(registration=f" (No. {sender.registration})" if sender.registration else "")
        values = {"case": case_ref, "items": _location_block(t, regime, lang, tgts), "count": len(tgts),
                  "signer": signer, "org": org, "email": sender.email, "phone": sender.phone,
                  "date": date or datetime.now(UTC).date().isoformat(),
                  "reply_hours": reply_hours or spec.get("reply_hours", ""),
                  "offences": _offences(t, regime, lang, tgts),
                  "basis": basis, "member_state_law": law, "trusted_flagger": trusted_flagger}
        parts: list[str] = []
        subject = ""
        for element in spec["required"]:
            if element in t.get("optional", {}) and not optional.get(element):
                continue
            if element == "basis" and not basis:
                continue
            text = ((t.get("regime_elements") or {}).get(regime, {}).get(element) or t["elements"][element])[lang]
            if element == "subject":
                subject = text.format(**values)
            else:
                parts.append(text.format(**values))
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"templates/notices.yaml ({regime}/{lang})", f"template error: {exc!r}") from None
    return subject, "\n\n".join(parts) + "\n"
