"""What notices SAY, in every regime and language (issue #18, review notices-legal-2026-11).

These tests read the rendered statements, not the YAML's own element names: no statutory 24 h
in Korean, the victim's non-consent is to *distribution*, Art. 14 for real recordings and Art.
14-2 for deepfakes from the item's assessment, 44-2 substantiation, the sender's basis instead
of "피해자 대리", no "선의", s.66B and the s.10(3A) declaration in every language, gender-neutral
wording, the Member State law where the centre sets it, every matched media URL with its page,
and no local path ever.
"""

from __future__ import annotations

import re

import pytest

from haechi.cases.service import templates
from haechi.cases.texts import Sender, Target, locate, render, sender_problems
from haechi.errors import InputError

LANGS = ["ko", "en", "ja", "zh", "vi", "th", "es"]
REGIMES = ["kr", "us", "eu", "uk"]
SENDER = Sender("Kim Ji-won", "Seoul Digital Sex Crime Victim Support Centre", "takedown@seoul-centre.kr",
                "+82 2 1234 5678", "Deletion support officer", "kr_deletion_support")
REAL = Target("https://x.com/someone/status/1", ("https://pbs.twimg.com/media/a.jpg",), "real")
FAKE = Target("https://x.com/someone/status/2", ("https://pbs.twimg.com/media/b.jpg",
                                                  "https://video.twimg.com/b.mp4"), "synthetic")
MINOR = Target("https://x.com/someone/status/3", (), "minor")

#: the word for *distribution* (not filming, not creation) in each language
DISTRIBUTION = {"ko": "반포", "en": "distribution", "ja": "頒布", "zh": "传播", "vi": "phát tán", "th": "เผยแพร่",
                "es": "difusión"}
#: the old, untrue claim that the person did not consent to filming/creation
FILMING_CLAIMS = ["촬영·반포에 동의한 사실이 없", "creation or publication", "撮影・公開に同意していません",
                  "从未同意拍摄", "việc tạo ra hoặc đăng tải", "ให้สร้างหรือเผยแพร่", "la creación ni la publicación"]


def body(regime: str, lang: str, targets: list[Target], **kw: object) -> str:
    subject, text = render(regime, lang, "C-2026-00001", targets, SENDER, **kw)  # type: ignore[arg-type]
    return subject + "\n" + text


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("lang", LANGS)
def test_every_notice_locates_every_url_with_its_reason_and_a_real_sender(regime: str, lang: str) -> None:
    t = templates()
    text = body(regime, lang, [REAL, FAKE])
    assert "C-2026-00001" in text and "{" not in text and "}" not in text
    for url in (REAL.page, *REAL.media, FAKE.page, *FAKE.media):
        assert url in text, (regime, lang, url)
    assert t["reasons"]["real"][lang] in text and t["reasons"]["synthetic"][lang] in text
    assert SENDER.name in text and SENDER.email in text and SENDER.phone in text
    assert t["bases"]["kr_deletion_support"][lang] in text  # the sender's basis, in every regime
    # every element the regime requires rendered (the optional ones are checked below)
    for element in t["regimes"][regime]["required"]:
        if element in ("subject", "basis") or element in t["optional"]:
            continue
        source = t["regime_elements"].get(regime, {}).get(element) or t["elements"][element]
        assert source[lang].split("{")[0].strip() in text, (regime, lang, element)


@pytest.mark.parametrize("regime", REGIMES)
def test_korean_text_claims_no_statutory_deadline_no_agency_and_no_seoni(regime: str) -> None:
    for hours in (None, 2, 24):
        text = body(regime, "ko", [REAL, FAKE], reply_hours=hours)
        assert "법정" not in text  # Korean law sets no hour limit (22-5: 지체 없이)
        assert "선의" not in text  # a legal false friend (not knowing a fact)
        assert "대리" not in text  # claims a power of attorney the centre may not hold
    if regime == "kr":
        text = body("kr", "ko", [REAL], reply_hours=2)
        assert "지체 없이" in text and "2시간 이내에 회신" in text  # a reply time asked for, said as such


@pytest.mark.parametrize("lang", LANGS)
def test_non_consent_is_to_distribution_never_to_filming(lang: str) -> None:
    for regime in ("kr", "uk"):
        text = body(regime, lang, [REAL, FAKE])
        assert DISTRIBUTION[lang] in text, (regime, lang)
    for regime in REGIMES:
        text = body(regime, lang, [REAL, FAKE])
        assert not any(claim in text for claim in FILMING_CLAIMS), (regime, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_korean_offence_follows_the_assessment(lang: str) -> None:
    off = templates()["offences"]["kr"]
    real_only, fake_only = body("kr", lang, [REAL]), body("kr", lang, [FAKE])
    assert off["real"][lang] in real_only and off["synthetic"][lang] not in real_only
    assert off["synthetic"][lang] in fake_only and off["real"][lang] not in fake_only
    both = body("kr", lang, [REAL, FAKE])
    assert off["real"][lang] in both and off["synthetic"][lang] in both
    assert off["minor"][lang] in body("kr", lang, [MINOR]) and off["minor"][lang] not in both
    if lang == "ko":
        assert "제14조(" in real_only and "제14조의2" not in real_only
        assert "제14조의2" in fake_only and "제14조(" not in fake_only
        assert "아동·청소년의 성보호에 관한 법률" in body("kr", "ko", [MINOR])
    # 정보통신망법 44-2 with the victim's substantiation, in every language
    assert re.search(r"44(-2|조의2|条の2)", both) and templates()["regime_elements"]["kr"]["substantiation"][
        lang].split("(")[0] in both


@pytest.mark.parametrize("lang", LANGS)
def test_uk_notices_cite_s66b_and_declare_an_intimate_image_content_report(lang: str) -> None:
    text = body("uk", lang, [REAL, FAKE])
    assert "66B" in text and "10(3A)" in text and "48" in text
    assert "intimate image content" in text  # the statutory term, kept in every language
    assert templates()["regime_elements"]["uk"]["declaration"][lang] in text


def test_english_is_gender_neutral_and_statements_are_the_depicted_persons() -> None:
    for regime in REGIMES:
        text = body(regime, "en", [REAL, FAKE])
        assert not re.search(r"\b(she|her|hers|his|him)\b", text, re.IGNORECASE), regime
        assert "I have a good faith" not in text and "I confirm my" not in text
    us = body("us", "en", [REAL])
    assert "identifiable individual depicted has a good-faith belief" in us
    assert "not later than 48 hours after receiving a valid request" in us


def test_eu_names_member_state_law_and_trusted_flagger_only_when_set_and_sets_no_deadline() -> None:
    plain = body("eu", "en", [REAL])
    assert "Member State law" not in plain and "trusted flagger" not in plain
    assert not re.search(r"\b\d+\s*hours\b", plain)  # the DSA sets no deadline: none is invented
    assert "Art. 16(4)" in plain and "Art. 16(5)" in plain
    set_ = body("eu", "en", [REAL], member_state="DE", trusted_flagger="Coimisiún na Meán, 2025")
    assert "§ 201a StGB" in set_ and "Article 22" in set_ and "Coimisiún na Meán" in set_
    for lang in LANGS:
        assert "Code pénal, art. 226-2-1" in body("eu", lang, [REAL], member_state="fr")


def test_review_wording_fixes_in_es_vi_th() -> None:
    for regime in REGIMES:
        assert "persona representada" not in body(regime, "es", [REAL])
        vi, th = body(regime, "vi", [REAL]), body(regime, "th", [REAL])
        assert "hình ảnh riêng tư" not in vi and "thiện chí" not in vi
        assert "ภาพลับ" not in th and "ภาพส่วนตัวข้างต้น" not in th
    assert "tình dục" in body("kr", "vi", [REAL]) and "ทางเพศ" in body("kr", "th", [REAL])


def test_names_per_language_and_registration_number() -> None:
    s = Sender("Kim Ji-won", "Seoul Centre", "takedown@seoul-centre.kr", "+82 2 1234 5678", "",
               "kr_designated_body", "2024-17", '{"ko": {"name": "김지원", "org": "서울디지털성범죄안심지원센터"}}')
    ko = render("kr", "ko", "C-1", [REAL], s)[1]
    assert "김지원" in ko and "서울디지털성범죄안심지원센터" in ko and "Kim Ji-won" not in ko
    assert "제22조의5제1항에 따른 불법촬영물등 신고·삭제요청 기관 (No. 2024-17)" in ko
    assert "Kim Ji-won" in render("kr", "en", "C-1", [REAL], s)[1]


def test_a_placeholder_or_incomplete_sender_cannot_sign() -> None:
    assert sender_problems(SENDER) == []
    shipped = Sender("Deletion support team", "Digital sex crime victim support centre", "takedown@example.org")
    problems = " ".join(sender_problems(shipped))
    for key in ("sender_name", "sender_org", "sender_email", "sender_phone", "sender_basis"):
        assert key in problems
    for bad in (Sender("Takedown Team", SENDER.org, SENDER.email, SENDER.phone, basis=SENDER.basis),
                Sender(SENDER.name, SENDER.org, "me@centre.example", SENDER.phone, basis=SENDER.basis),
                Sender(SENDER.name, SENDER.org, "no-at-sign", SENDER.phone, basis=SENDER.basis),
                Sender(SENDER.name, SENDER.org, SENDER.email, "", basis=SENDER.basis),
                Sender(SENDER.name, SENDER.org, SENDER.email, SENDER.phone, basis="victim_agent")):
        assert len(sender_problems(bad)) == 1, bad


def test_locate_never_prints_a_local_path_and_links_telegram_messages() -> None:
    secret = "/home/centre/cases/Lee-Soyeon/found.jpg"
    with pytest.raises(InputError) as exc:
        locate(7, secret, [{"url": secret, "matches": [{"bank": "v"}]}], False, False)
    assert "Lee-Soyeon" not in str(exc.value) and "local file" in str(exc.value)
    tg = locate(8, "telegram:-1001234567/42", [{"url": "telegram:-1001234567/42", "matches": [1]}], True, False)
    assert tg.page == "https://t.me/c/1234567/42" and tg.telegram and tg.media == () and tg.kind == "synthetic"
    assert locate(9, "telegram:1234567/43", [], False, False).page == "https://t.me/c/1234567/43"
    with pytest.raises(InputError):
        locate(10, "telegram:None/None", [], False, False)
    media = [{"url": "https://cdn.example/a.jpg", "matches": [{"bank": "v"}]},
             {"url": "https://cdn.example/logo.png", "matches": []},
             {"url": "/tmp/local.jpg", "matches": [{"bank": "v"}]}]
    t = locate(11, "https://board.example/p/1#abc123", media, False, False)
    assert t.page == "https://board.example/p/1" and t.media == ("https://cdn.example/a.jpg",)
    assert locate(12, "https://board.example/p/1", media, False, True, with_media=False).media == ()
    text = render("kr", "ko", "C-1", [tg], SENDER)[1]
    assert "https://t.me/c/1234567/42" in text and "telegram:" not in text and "텔레그램 메시지" in text


@pytest.mark.parametrize("regime", REGIMES)
def test_personal_details_are_asked_for_only_when_requested(regime: str) -> None:
    element = templates()["elements"]["personal_details"]
    for lang in LANGS:
        assert element[lang] not in body(regime, lang, [REAL])
        assert element[lang] in body(regime, lang, [REAL], personal_details=True)
    assert "신상정보" in body(regime, "ko", [REAL], personal_details=True)


@pytest.mark.parametrize("lang", LANGS)
def test_take_it_down_signature_is_an_authorized_persons(lang: str) -> None:
    text = body("us", lang, [REAL])
    assert templates()["regime_elements"]["us"]["signature"][lang].split("{")[0] in text and SENDER.name in text
    if lang == "en":
        assert "authorized to act on behalf of the identifiable individual" in text


@pytest.mark.parametrize("lang", LANGS)
def test_dmca_notice_has_the_512c3_elements_and_reveals_nothing_intimate(lang: str) -> None:
    t = templates()
    text = body("dmca", lang, [REAL])
    for element in ("work", "good_faith", "accuracy"):
        assert t["regime_elements"]["dmca"][element][lang] in text
    assert "512(c)(3)" in text and REAL.page in text and REAL.media[0] in text and SENDER.email in text
    assert t["regime_reasons"]["dmca"]["real"][lang] in text and t["reasons"]["real"][lang] not in text
    assert t["bases"]["kr_deletion_support"][lang] not in text  # may be published: no centre's statute
    if lang == "en":
        own = text.replace(SENDER.org, "")  # the centre's own name is its choice (the warning says so)
        assert not re.search(r"intimate|sexual|consent|depicted|victim|deepfake", own, re.IGNORECASE)
        assert "under penalty of perjury" in text
