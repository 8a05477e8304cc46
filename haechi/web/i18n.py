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
    "victim_title": {"en": "Stop your images spreading — without sharing them",
                     "ko": "이미지를 공유하지 않고 유포를 막으세요"},
    "victim_intro": {"en": "Choose the photos or videos you fear are shared. Your device computes their "
                           "fingerprints (hashes); platforms and support workers use them to find copies.",
                     "ko": "유포가 걱정되는 사진이나 영상을 선택하세요. 기기에서 지문(해시)을 계산하며, "
                           "플랫폼과 지원 담당자는 이 해시로 복사본을 찾습니다."},
    "victim_private": {"en": "Your images never leave this device: only the hashes below are sent.",
                       "ko": "이미지는 이 기기를 떠나지 않습니다. 아래의 해시만 전송됩니다."},
    "victim_choose": {"en": "Photos or videos", "ko": "사진 또는 영상"},
    "victim_send": {"en": "Send hashes only", "ko": "해시만 보내기"},
    "victim_keep": {"en": "Keep these safe: with them you can see your case and withdraw at any time.",
                    "ko": "안전하게 보관하세요. 사건 확인과 언제든지 철회할 때 필요합니다."},
    "case_number": {"en": "Case number", "ko": "사건 번호"},
    "victim_status": {"en": "See my case", "ko": "내 사건 보기"},
    "bad_pin": {"en": "Wrong case number or PIN.", "ko": "사건 번호 또는 PIN이 틀렸습니다."},
    "victim_hashes": {"en": "Hashes held", "ko": "보관 중인 해시"},
    "victim_found": {"en": "Copies found", "ko": "발견된 복사본"},
    "victim_withdraw": {"en": "Withdraw and delete my hashes", "ko": "철회하고 내 해시 삭제"},
    "victim_withdraw_note": {"en": "This deletes your hashes from Haechi and closes your case.",
                             "ko": "해치에서 해시를 삭제하고 사건을 종결합니다."},
    "victim_withdrawn": {"en": "Withdrawn: your hashes were deleted", "ko": "철회됨: 해시가 삭제되었습니다"},
    "victim_ref": {"en": "Victim reference (pseudonym)", "ko": "피해자 참조 (가명)"},
    "new_case": {"en": "New case", "ko": "새 사건"},
    "add_url": {"en": "Add and capture", "ko": "추가 및 캡처"},
    "draft_notice": {"en": "Draft notice", "ko": "삭제 요청서 작성"},
    "export": {"en": "Export evidence package", "ko": "증거 패키지 내보내기"},
    "stats": {"en": "Statistics", "ko": "통계"},
    "bad_login": {"en": "Wrong user name or password.", "ko": "사용자 이름 또는 비밀번호가 틀렸습니다."},
}


def t(key: str, lang: str) -> str:
    entry = STRINGS.get(key, {})
    return entry.get(lang) or entry.get("en") or key
