"""Every notice regime (data in ``cases/templates/notices.yaml``): complete in every language and
rendered with every placeholder filled."""

from __future__ import annotations

import pytest

from haechi import plugins
from haechi.cases.service import Sender, render, templates

REGIMES = list(plugins.notice_regimes())
SENDER = Sender("Case Worker", "Support Centre", "help@centre.example")


@pytest.mark.parametrize("regime", REGIMES)
def test_regime_renders_in_every_language(regime: str) -> None:
    t = templates()
    spec = plugins.notice_regimes()[regime]
    assert spec["name"] and int(spec["deadline_hours"]) > 0 and "subject" in spec["required"]
    urls = ["https://host.example/p/1.jpg", "https://other.example/v/2.mp4"]
    for lang in t["languages"]:
        for element in spec["required"]:
            texts = t["legal_basis"][regime] if element == "legal_basis" else t["elements"][element]
            assert texts.get(lang, "").strip(), (regime, element, lang)
        subject, body = render(regime, lang, "C-2026-00042", urls, SENDER, int(spec["deadline_hours"]))
        assert "C-2026-00042" in subject and subject.strip()
        assert "{" not in subject + body and all(u in body for u in urls)
