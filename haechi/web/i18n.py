"""Korean and English UI strings from gettext catalogues (``locale/<lang>/LC_MESSAGES/messages.po``)
read with Babel. Message ids are stable keys (``t('victim_send')`` in templates), so a wording
change never orphans a translation; translators edit the .po files with any gettext tool, and
``tests/test_web.py fails when a template uses a key a catalogue lacks.
A new language is one more folder.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("ko", "en")


@cache
def catalog(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def t(key: str, lang: str) -> str:
    for code in (lang, "en"):
        if code in LANGUAGES:
            msg = catalog(code).get(key)
            if msg is not None and msg.string:
                return str(msg.string)
    return key
