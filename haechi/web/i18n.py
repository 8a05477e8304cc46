"""Korean and English UI strings. A dict, not gettext yet: the UI is small; a catalogue (Babel)
is the step when translators join."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "title": {"en": "Haechi", "ko": "해치"},
    "login": {"en": "Log in", "ko": "로그인"},
    "logout": {"en": "Log out", "ko": "로그아웃"},
    "username": {"en": "User name", "ko": "사용자 이름"},
    "password": {"en": "Password", "ko": "비밀번호"},
    "cases": {"en": "Cases", "ko": "사건"},
    "items": {"en": "Items", "ko": "게시물"},
    "status": {"en": "Status", "ko": "상태"},
    "review": {"en": "Review queue", "ko": "검토 대기열"},
    "reveal": {"en": "Reveal (logged)", "ko": "원본 보기 (기록됨)"},
    "hide": {"en": "Hide", "ko": "숨기기"},
    "nothing": {"en": "Nothing to review.", "ko": "검토할 항목이 없습니다."},
    "notices": {"en": "Notices", "ko": "삭제 요청서"},
    "approve": {"en": "Approve", "ko": "승인"},
    "blur_note": {"en": "Media is blurred and grey until you choose to reveal it. Every reveal is logged.",
                  "ko": "미디어는 직접 보기를 선택하기 전까지 흐리게·흑백으로 표시됩니다. 모든 열람은 기록됩니다."},
    "bad_login": {"en": "Wrong user name or password.", "ko": "사용자 이름 또는 비밀번호가 틀렸습니다."},
}


def t(key: str, lang: str) -> str:
    entry = STRINGS.get(key, {})
    return entry.get(lang) or entry.get("en") or key
