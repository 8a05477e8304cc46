"""Every notice regime (data in ``cases/templates/notices.yaml``): complete in every language and
rendered with every placeholder filled, every located URL present. (What the texts *say* in law is
checked in ``tests/test_notices_text.py``.)"""

from __future__ import annotations

import pytest

from haechi import plugins
from haechi.cases.service import templates
from haechi.cases.texts import Sender, Target, render

REGIMES = list(plugins.notice_regimes())
SENDER = Sender("Kim Ji-won", "Seoul Digital Sex Crime Victim Support Centre", "takedown@seoul-centre.kr",
                "+82 2 1234 5678", "Deletion support officer", "kr_deletion_support")


@pytest.mark.parametrize("regime", REGIMES)
def test_regime_renders_in_every_language(regime: str) -> None:
    t = templates()
    spec = plugins.notice_regimes()[regime]
    assert spec["name"] and spec.get("clock") and "subject" in spec["required"]
    target = Target("https://host.example/p/1", ("https://cdn.example/1.jpg", "https://cdn.example/2.mp4"), "real")
    for lang in t["languages"]:
        subject, body = render(regime, lang, "C-2026-00042", [target], SENDER)
        assert "C-2026-00042" in subject and subject.strip()
        assert "{" not in subject + body
        assert all(u in body for u in (target.page, *target.media)), (regime, lang)
