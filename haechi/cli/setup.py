"""``haechi setup``: the centre's identity, written to ``<home>/haechi.toml``.

Notices are signed by a named person of a real organisation with an address platforms can
answer; until that is configured, approve and send refuse (issue #18). This command asks for
what is missing (or takes it as options), keeps every other setting already in the file, and
says what still stops a notice from being approved. The keys are documented in
``haechi/cases/templates/README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from haechi.cli.common import HomeOpt, handled, out

#: settings this command writes, with the question asked when one is missing
FIELDS = {
    "sender_name": "Full name of the person who signs notices",
    "sender_role": "Their role (e.g. Deletion support officer)",
    "sender_org": "The centre's registered name",
    "sender_email": "E-mail address platforms reply to",
    "sender_phone": "Telephone number platforms can call",
    "sender_basis": "Legal basis (kr_designated_body | kr_deletion_support | authorised_representative)",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def render_toml(table: dict[str, Any]) -> str:
    """A ``[haechi]`` table (scalars, and ``sender_local`` as sub-tables per language)."""
    lines = ["# Haechi settings (haechi setup); documented in haechi/cases/templates/README.md", "[haechi]"]
    local = table.pop("sender_local", None)
    for key in sorted(table):
        lines.append(f"{key} = {_toml_value(table[key])}")
    if local:
        for lang, names in sorted((json.loads(local) if isinstance(local, str) else local).items()):
            lines.append(f"\n[haechi.sender_local.{lang}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in sorted(names.items())]
    return "\n".join(lines) + "\n"


def setup_command(
    name: Annotated[str | None, typer.Option("--name", help=FIELDS["sender_name"])] = None,
    role: Annotated[str | None, typer.Option("--role", help=FIELDS["sender_role"])] = None,
    org: Annotated[str | None, typer.Option("--org", help=FIELDS["sender_org"])] = None,
    email: Annotated[str | None, typer.Option("--email", help=FIELDS["sender_email"])] = None,
    phone: Annotated[str | None, typer.Option("--phone", help=FIELDS["sender_phone"])] = None,
    basis: Annotated[str | None, typer.Option("--basis", help=FIELDS["sender_basis"])] = None,
    registration: Annotated[str | None, typer.Option("--registration", help="Designated body's number.")] = None,
    local: Annotated[list[str] | None, typer.Option(
        "--local", help="Names in a language: LANG:NAME:ORG (e.g. 'ko:김지원:서울디지털성범죄안심지원센터').")] = None,
    single_person_centre: Annotated[bool | None, typer.Option(
        "--single-person-centre/--four-eyes", help="Let the drafter approve (one-person centre).")] = None,
    eu_member_state: Annotated[str | None, typer.Option("--eu-member-state", help="ISO code, e.g. DE.")] = None,
    trusted_flagger: Annotated[str | None, typer.Option("--trusted-flagger", help="DSA Art. 22 status.")] = None,
    interactive: Annotated[bool, typer.Option("--interactive/--no-interactive", help="Ask for what is missing.")
                           ] = True,
    home: HomeOpt = None,
) -> None:
    """Configure the centre's identity used on every notice (writes <home>/haechi.toml)."""
    import tomllib

    from haechi.cases.notices import sender_status
    from haechi.config import load_config_file, resolve_settings
    from haechi.errors import InputError

    with handled():
        settings = resolve_settings(home)
        path = Path(settings.home) / "haechi.toml"
        current: dict[str, Any] = load_config_file(path) if path.is_file() else {}
        given = {"sender_name": name, "sender_role": role, "sender_org": org, "sender_email": email,
                 "sender_phone": phone, "sender_basis": basis, "sender_registration": registration,
                 "single_person_centre": single_person_centre, "eu_member_state": eu_member_state,
                 "trusted_flagger": trusted_flagger}
        table = {**current, **{k: v for k, v in given.items() if v is not None}}
        if local:
            names = json.loads(table.get("sender_local") or "{}")
            for spec in local:
                parts = spec.split(":", 2)
                if len(parts) != 3 or not all(p.strip() for p in parts):
                    raise InputError(spec, "--local is LANG:NAME:ORG")
                names[parts[0].strip()] = {"name": parts[1].strip(), "org": parts[2].strip()}
            table["sender_local"] = json.dumps(names, ensure_ascii=False)
        if interactive:
            for key, question in FIELDS.items():
                if not table.get(key):
                    table[key] = typer.prompt(question)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render_toml(dict(table))
        tomllib.loads(text)  # never write a file that does not read back
        path.write_text(text, encoding="utf-8")
        status = sender_status(resolve_settings(home))
    out.print(f"wrote {path}")
    if status["ready"]:
        out.print("notices can be approved and sent with this identity")
    for problem in status["problems"]:
        out.print(f"[yellow]still missing:[/yellow] {problem}")
