"""Accounts, roles and API tokens.

Roles are fixed sets of permissions (least privilege): a partner platform's token can hash and
look up and read banks, nothing else; a reviewer cannot change banks; only admins manage users.
Passwords are argon2id hashes; tokens are random 256-bit strings of which only the SHA-256 is
stored, shown once at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from haechi.errors import AlreadyExists, InputError, NotFound
from haechi.store.models import ApiToken, User

#: What each permission lets a principal do — one vocabulary for every door (API, web, CLI).
PERMISSIONS: dict[str, str] = {
    "hash": "hash media (HMA /h)",
    "lookup": "look signals up in banks (HMA /m)",
    "bank.read": "read banks and their entries",
    "bank.write": "create banks, add and remove entries",
    "scan": "scan media against banks",
    "evidence": "capture URLs and export evidence",
    "cases.read": "see cases, items, matches and notices",
    "cases": "create and change cases, draft notices",
    "review": "work the review queue: blurred previews, logged reveals, decisions",
    "notices.approve": "approve a drafted notice",
    "users": "manage users and tokens",
    "self": "a victim's own self-service case, nothing else",
}
_STAFF = frozenset({"hash", "lookup", "bank.read", "scan", "cases.read", "review"})
ROLES: dict[str, frozenset[str]] = {
    "admin": _STAFF | {"bank.write", "evidence", "cases", "notices.approve", "users"},
    "caseworker": _STAFF | {"bank.write", "evidence", "cases", "notices.approve"},
    "reviewer": _STAFF,
    "partner": frozenset({"hash", "lookup", "bank.read"}),
    "victim": frozenset({"self"}),
}
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    #: the session epoch a web session began in (see :func:`end_sessions`)
    epoch: int = 0

    def can(self, permission: str) -> bool:
        """Whether this principal's role grants ``permission`` (a key of :data:`PERMISSIONS`)."""
        return permission in ROLES.get(self.role, frozenset())


def roles_with(permission: str) -> frozenset[str]:
    """The roles that grant ``permission``; raises :class:`InputError` for a word not in the
    vocabulary (a typo in a door's permission check must fail loudly, not deny silently)."""
    if permission not in PERMISSIONS:
        raise InputError(permission, f"unknown permission; one of {', '.join(PERMISSIONS)}")
    return frozenset(role for role, perms in ROLES.items() if permission in perms)


def principal_of(session: Session, user_id: int, epoch: int | None = None) -> Principal | None:
    """The principal of a user id, or None once the user is disabled or deleted, or — given the
    ``epoch`` a session began in — once that session was ended (:func:`end_sessions`): a door
    that keeps a session re-checks it on every request, so she is out at once."""
    user = session.get(User, user_id)
    if user is None or user.disabled or (epoch is not None and epoch != user.session_epoch):
        return None
    return Principal(user.id, user.username, user.role, user.session_epoch)


def end_sessions(session: Session, user_id: int, actor: str = "system") -> None:
    """End every web session of a user (logout, a password change, disabling): saved cookies and
    the reveal grants they carry are refused from now on."""
    user = session.get(User, user_id)
    if user is not None:
        user.session_epoch += 1
        _audit(session, actor, "sessions_ended", user=user.username)


def _audit(session: Session, actor: str, op: str, **details: Any) -> None:
    """Admin actions go into the append-only, hash-chained custody log (no case): who did what."""
    from haechi.evidence import custody

    custody.append(session, "admin", actor, case_ref=None, details={"op": op, **details})


def add_user(session: Session, username: str, role: str, password: str | None, actor: str = "system"
             ) -> dict[str, Any]:
    username = username.strip()
    if not username or len(username) > 200:
        raise InputError(username or "''", "user name must be 1-200 characters")
    if role not in ROLES:
        raise InputError(role, f"role must be one of {', '.join(ROLES)}")
    if password is not None and len(password) < 12:
        raise InputError(username, "password must be at least 12 characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AlreadyExists("user", username)
    user = User(username=username, role=role, password_hash=_hasher.hash(password) if password else None)
    session.add(user)
    session.flush()
    _audit(session, actor, "user_add", user=username, role=role)
    return {"username": user.username, "role": user.role, "disabled": user.disabled}


def list_users(session: Session) -> list[dict[str, Any]]:
    return [{"username": u.username, "role": u.role, "disabled": u.disabled, "created_at": u.created_at.isoformat()}
            for u in session.scalars(select(User).order_by(User.username))]


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("user", username)
    return user


def disable_user(session: Session, username: str, actor: str = "system") -> None:
    user = _user(session, username)
    user.disabled = True
    user.session_epoch += 1
    _audit(session, actor, "user_disable", user=username)
    now = datetime.now(UTC)
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now


def create_token(session: Session, username: str, name: str = "", actor: str = "system") -> str:
    user = _user(session, username)
    if user.disabled:
        raise InputError(username, "user is disabled")
    token = "hc_" + secrets.token_urlsafe(32)
    _audit(session, actor, "token_create", user=username, name=name,
           token_sha256_prefix=hashlib.sha256(token.encode()).hexdigest()[:12])
    session.add(ApiToken(user_id=user.id, name=name, token_hash=hashlib.sha256(token.encode()).hexdigest()))
    return token


def revoke_token(session: Session, token: str, actor: str = "system") -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None:
        raise NotFound("token", token[:6] + "...")
    row.revoked_at = datetime.now(UTC)
    _audit(session, actor, "token_revoke", token_sha256_prefix=digest[:12])


def revoke_token_id(session: Session, token_id: int, actor: str = "system") -> None:
    """Revoke a token by its id (``haechi token list``): the token itself never has to be typed
    again, so it never shows in a process list or a shell history. Raises NotFound."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("token", f"#{token_id}")
    row.revoked_at = datetime.now(UTC)
    _audit(session, actor, "token_revoke", token_id=token_id, token_sha256_prefix=row.token_hash[:12])


def list_tokens(session: Session, username: str | None = None) -> list[dict[str, Any]]:
    """Tokens (never their values): id, user, name, created, revoked."""
    q = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if username:
        q = q.where(User.username == username)
    return [{"id": t.id, "user": name, "name": t.name, "created_at": t.created_at.isoformat(),
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None} for t, name in session.execute(q)]


def authenticate_token(session: Session, token: str) -> Principal | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    # the columns, not ORM objects: every API request runs this (building two mapped objects per
    # request was most of its cost)
    row = session.execute(select(ApiToken.revoked_at, User.disabled, User.id, User.username, User.role,
                                 User.session_epoch).join(User, User.id == ApiToken.user_id)
                          .where(ApiToken.token_hash == digest)).first()
    if row is None or row.revoked_at is not None or row.disabled:
        return None
    return Principal(row.id, row.username, row.role, row.session_epoch)


def authenticate_password(session: Session, username: str, password: str) -> Principal | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.disabled or not user.password_hash:
        _hasher.hash(password)  # same work either way: no user enumeration by timing
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return Principal(user.id, user.username, user.role, user.session_epoch)


def is_disabled_login(session: Session, username: str, password: str) -> bool:
    """Whether ``username``/``password`` are right for a *disabled* account: a door can then say
    "this account was closed" instead of "wrong password" — only to someone who knows the
    password (a victim who withdrew, logging in with her PIN), so it reveals nothing to a guesser."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.disabled or not user.password_hash:
        return False
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
