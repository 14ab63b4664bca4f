"""Roles and what each may do (DESIGN.md §5).

Standalone: roles come from the ``staff`` table; the first person to open an empty
database becomes its admin.

Shared (Postgres): the person acting is the database login (``session_user``) and its roles
are its memberships of the groups ``paydesk_support``, ``paydesk_finance`` and
``paydesk_admin`` (``core.store.pgroles``); superusers and the owner of the Paydesk schema are
admin. The database enforces the same rules (migration 0004, docs/shared-mode.md). A login
that owns the schema may act under another name (a headless tool, the tests): that name's
role then comes from the staff table. Any other login acts only as itself.

Every service function takes the actor explicitly and asks ``require`` before it changes
anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.access import audit
from core.context import Context
from core.errors import InputError, NotFound, Refused
from core.store import pgroles
from core.store.models import Staff

ROLES = ("support", "finance", "admin")
# Highest first: the name a person with several roles is shown with.
_RANK = ("admin", "finance", "support")

# permission -> roles that hold it
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "view": ROLES,
    "refund.request": ROLES,
    "refund.decide": ("finance", "admin"),
    "webhook.retry": ("support", "admin"),
    "webhook.test": ("support", "admin"),
    "endpoint.manage": ("admin",),
    "policy.set": ("admin",),
    "staff.manage": ("admin",),
    "recon.resolve": ("finance", "admin"),
}

_WHAT = {
    "refund.request": "request refunds",
    "refund.decide": "approve or reject refunds",
    "webhook.retry": "retry webhook deliveries",
    "webhook.test": "send test events",
    "endpoint.manage": "change webhook endpoints",
    "policy.set": "change policy",
    "staff.manage": "manage staff",
    "view": "use Paydesk",
    "recon.resolve": "import settlement reports or resolve reconciliation exceptions",
}

# Postgres limits role names to 63 bytes.
MAX_LOGIN_BYTES = 63

# The names Paydesk itself acts under in decisions and audit events. No person may be given
# one (``staff add``/``staff grant``) or act under one, so an entry by one of them is always
# Paydesk's own; any other ``paydesk-…`` name is kept for Paydesk too.
POLICY_ACTOR = "paydesk-policy"  # a refund approved below the approval threshold
AUTO_ACTOR = "paydesk-auto"  # a stale pro-rata request, auto-approved
WORKER_ACTOR = "paydesk-worker"  # refunds sent to the gateway
SYSTEM_ACTOR = "system"  # webhook dispatch bookkeeping (endpoints disabled automatically)
RESERVED_ACTORS = (POLICY_ACTOR, AUTO_ACTOR, WORKER_ACTOR, SYSTEM_ACTOR)
RESERVED_PREFIX = "paydesk-"


def reserved_actor(name: str) -> bool:
    """Whether ``name`` is one Paydesk acts under (case and surrounding blanks ignored)."""
    folded = name.strip().casefold()
    return folded in RESERVED_ACTORS or folded.startswith(RESERVED_PREFIX)


def _reserved_sentence(name: str) -> str:
    return f"{name} is a name Paydesk itself acts under, not a person's; choose another name."


def shared(session: Session) -> bool:
    """Whether ``session`` is on shared Postgres (roles from the database)."""
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True)
class Identity:
    """Who ``actor`` is for the rules: their roles (highest first), where the roles come
    from, and, when they may not act at all under that name, why."""

    actor: str
    roles: tuple[str, ...]
    source: str  # "staff list" or "database login"
    refusal: str | None = None

    @property
    def role(self) -> str | None:
        return self.roles[0] if self.roles else None


def _staff_role(session: Session, actor: str) -> tuple[str, ...]:
    role = session.scalar(select(Staff.role).where(Staff.username == actor))
    return (role,) if role else ()


def identity(session: Session, actor: str) -> Identity:
    """The roles ``actor`` holds in this database (see the module's docstring). Nobody acts
    under one of ``RESERVED_ACTORS``."""
    if reserved_actor(actor):
        return Identity(
            actor,
            (),
            "staff list",
            f"{actor} is a name Paydesk itself acts under; act under your own name.",
        )
    if not shared(session):
        return Identity(actor, _staff_role(session, actor), "staff list")
    login = pgroles.login(session)
    if actor == login.name:
        return Identity(actor, login.roles, "database login")
    if login.owner:
        return Identity(actor, _staff_role(session, actor), "staff list")
    return Identity(
        actor,
        (),
        "database login",
        f"In shared mode you act as your database login {login.name}, not {actor}.",
    )


def roles_of(session: Session, actor: str) -> tuple[str, ...]:
    """Every role the actor holds, highest first (empty when none)."""
    return identity(session, actor).roles


def role_of(session: Session, actor: str) -> str | None:
    """The actor's role (the highest one they hold), or None when they hold none."""
    return identity(session, actor).role


def allowed(role: str | None, permission: str) -> bool:
    return role is not None and role in PERMISSIONS[permission]


def may(session: Session, actor: str, permission: str) -> bool:
    """Whether ``actor`` may do ``permission`` (any of their roles holds it): what a view asks
    to show or hide an action."""
    who = identity(session, actor)
    return who.refusal is None and any(allowed(r, permission) for r in who.roles)


def _no_role(who: Identity) -> str:
    if who.source == "database login":
        return (
            f"The login {who.actor} is in none of the Paydesk groups; an admin can run "
            f"`paydesk staff grant {who.actor} ROLE`."
        )
    return f"{who.actor} is not on the Paydesk staff list; an admin can add them."


def require(session: Session, actor: str, permission: str) -> str:
    """Return the actor's role, or refuse with a sentence saying who may do it."""
    who = identity(session, actor)
    if who.refusal:
        raise Refused(who.refusal)
    if not who.roles:
        raise Refused(_no_role(who))
    if not any(r in PERMISSIONS[permission] for r in who.roles):
        holders = " or ".join(PERMISSIONS[permission])
        held = " and ".join(who.roles)
        raise Refused(f"Only {holders} staff can {_WHAT[permission]}; {actor} is {held}.")
    return who.roles[0]


def login_refusal(session: Session, permission: str) -> str | None:
    """Why this copy's database login may not do ``permission`` (background work that acts
    in no person's name, like auto-approval), or None when it may (always in standalone)."""
    if not shared(session):
        return None
    login = pgroles.login(session)
    if any(r in PERMISSIONS[permission] for r in login.roles):
        return None
    held = " and ".join(login.roles) or "in no Paydesk group"
    return f"the login {login.name} ({held}) may not {_WHAT[permission]}"


def ensure_first_admin(ctx: Context, actor: str) -> bool:
    """Make ``actor`` the admin of a database with no staff yet. True when that happened.
    In shared mode the staff list only names the people an owner login acts for, so nothing
    happens when ``actor`` is the login itself or the login is not the owner."""
    if reserved_actor(actor):
        return False  # refused as soon as it acts (``identity``)
    with ctx.db.write() as session:
        if shared(session):
            login = pgroles.login(session)
            if actor == login.name or not login.owner:
                return False
        if session.scalar(select(func.count()).select_from(Staff)):
            return False
        now = ctx.clock.now()
        session.add(Staff(username=actor, role="admin", created_at=now, added_by=actor))
        audit.record(
            session,
            at=now,
            actor=actor,
            action="staff.first_admin",
            entity_type="staff",
            entity_id=actor,
            details={"role": "admin"},
            client=ctx.client_id,
        )
        return True


@dataclass(frozen=True)
class StaffMember:
    username: str
    role: str
    created_at: datetime
    added_by: str | None


def _clean(username: str, role: str, *, giving: bool = True) -> str:
    """The user name, checked; ``giving`` (add, grant) also refuses the names Paydesk acts
    under (taking a role away from one is allowed: an older version may have given it)."""
    username = (username or "").strip()
    if not username:
        raise InputError("A staff member needs a user name.")
    if len(username.encode()) > MAX_LOGIN_BYTES:
        raise InputError(f"A user name is at most {MAX_LOGIN_BYTES} bytes long.")
    if role not in ROLES:
        raise InputError(f"{role!r} is not a role; use one of {', '.join(ROLES)}.")
    if giving and reserved_actor(username):
        raise InputError(_reserved_sentence(username))
    return username


def set_staff_role(ctx: Context, actor: str, username: str, role: str) -> StaffMember:
    """Add a person to the staff list or change their role (admin only, audited)."""
    username = _clean(username, role)
    with ctx.db.write() as session:
        require(session, actor, "staff.manage")
        now = ctx.clock.now()
        member = session.get(Staff, username)
        previous = member.role if member else None
        if member is None:
            member = Staff(username=username, role=role, created_at=now, added_by=actor)
            session.add(member)
        else:
            member.role = role
        audit.record(
            session,
            at=now,
            actor=actor,
            action="staff.set_role",
            entity_type="staff",
            entity_id=username,
            details={"role": role, "previous": previous},
            client=ctx.client_id,
        )
        return StaffMember(member.username, member.role, member.created_at, member.added_by)


def list_staff(session: Session) -> list[StaffMember]:
    rows = session.scalars(select(Staff).order_by(Staff.username))
    return [StaffMember(s.username, s.role, s.created_at, s.added_by) for s in rows]


# -- grant, revoke, list: both modes -----------------------------------------------------------


@dataclass(frozen=True)
class RoleChange:
    """What ``grant_role``/``revoke_role`` did: ``roles`` is what the person holds after."""

    username: str
    role: str
    granted: bool  # grant (True) or revoke (False)
    changed: bool
    roles: tuple[str, ...]

    def sentence(self) -> str:
        held = " and ".join(self.roles) if self.roles else "no role"
        if self.granted:
            if not self.changed:
                return f"{self.username} is already {self.role}; nothing changed."
            return f"{self.username} is now {self.role} (holds {held})."
        if not self.changed:
            return f"{self.username} is not {self.role}; nothing changed."
        return f"{self.username} is no longer {self.role} (holds {held})."


@dataclass(frozen=True)
class Membership:
    """A person and their roles, as ``paydesk staff list`` shows them."""

    username: str
    roles: tuple[str, ...]  # highest first
    can_login: bool | None  # shared mode: whether the role can log in; standalone: None
    added_by: str | None = None


def _server_refused(exc: DBAPIError, login: str, what: str) -> Refused:
    raw = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0].rstrip(".")
    return Refused(f"The database refused to let {login} {what}: {raw}.")


def _shared_target(session: Session, username: str, *, giving: bool) -> None:
    """Refuse a role that is not a person's login. Taking a group away from any role stays
    possible (an older version granted to roles that cannot log in)."""
    found = pgroles.server_role(session, username)
    if found is None:
        raise NotFound(
            f"There is no login {username} on the database server; create it first "
            "(CREATE ROLE … LOGIN)."
        )
    if found.is_group:
        raise InputError(f"{username} is a Paydesk group, not a person's login.")
    if not giving:
        return
    if found.is_builtin:
        raise InputError(f"{username} is a built-in Postgres role, not a person's login.")
    if not found.can_login:
        raise InputError(
            f"{username} is a role that cannot log in, not a person's login; only logins "
            "(CREATE ROLE … LOGIN) are given Paydesk roles."
        )


def grant_role(ctx: Context, actor: str, username: str, role: str) -> RoleChange:
    """Give ``username`` the role (admin only, audited). Shared mode: ``GRANT paydesk_<role>
    TO "username"`` (admins WITH ADMIN OPTION, so they can make admins), added to the roles
    the login has; standalone: the staff list's one role per person is set to ``role``."""
    username = _clean(username, role)
    with ctx.db.write() as session:
        require(session, actor, "staff.manage")
        now = ctx.clock.now()
        if shared(session):
            _shared_target(session, username, giving=True)
            before = _held(session, username)
            member, admin_option = pgroles.direct_membership(session, username, role)
            changed = not member or (role == "admin" and not admin_option)
            if changed:
                try:
                    pgroles.grant(session, username, role)
                except DBAPIError as exc:
                    raise _server_refused(exc, actor, f"grant {role}") from None
        else:
            row = session.get(Staff, username)
            before = (row.role,) if row else ()
            changed = before != (role,)
            if row is None:
                session.add(Staff(username=username, role=role, created_at=now, added_by=actor))
            else:
                row.role = role
        if changed:
            audit.record(
                session,
                at=now,
                actor=actor,
                action="staff.grant",
                entity_type="staff",
                entity_id=username,
                details={"role": role, "before": list(before)},
                client=ctx.client_id,
            )
        session.flush()
        return RoleChange(username, role, True, changed, _held(session, username))


def revoke_role(ctx: Context, actor: str, username: str, role: str) -> RoleChange:
    """Take the role from ``username`` (admin only, audited). Shared mode: ``REVOKE
    paydesk_<role> FROM "username"``; standalone: the person leaves the staff list (never
    the last admin). Revoking a role the person does not hold changes nothing."""
    username = _clean(username, role, giving=False)
    with ctx.db.write() as session:
        require(session, actor, "staff.manage")
        now = ctx.clock.now()
        before = _held(session, username)
        if shared(session):
            _shared_target(session, username, giving=False)
            changed, _ = pgroles.direct_membership(session, username, role)
            if changed:
                try:
                    pgroles.revoke(session, username, role)
                except DBAPIError as exc:
                    raise _server_refused(exc, actor, f"revoke {role}") from None
        else:
            row = session.get(Staff, username)
            changed = row is not None and row.role == role
            if changed and role == "admin":
                admins = session.scalar(
                    select(func.count()).select_from(Staff).where(Staff.role == "admin")
                )
                if (admins or 0) <= 1:
                    raise Refused(f"{username} is the last admin; make someone else admin first.")
            if changed:
                session.execute(delete(Staff).where(Staff.username == username))
        if changed:
            audit.record(
                session,
                at=now,
                actor=actor,
                action="staff.revoke",
                entity_type="staff",
                entity_id=username,
                details={"role": role, "before": list(before)},
                client=ctx.client_id,
            )
        session.flush()
        return RoleChange(username, role, False, changed, _held(session, username))


def _held(session: Session, username: str) -> tuple[str, ...]:
    if not shared(session):
        return _staff_role(session, username)
    held = {r for r in ROLES if pgroles.direct_membership(session, username, r)[0]}
    return tuple(r for r in _RANK if r in held)


def list_members(session: Session) -> list[Membership]:
    """Who holds which roles: the direct members of the three groups (shared mode; superusers
    and the schema's owner are admin without being listed) or the staff list (standalone)."""
    if shared(session):
        return [Membership(m.name, m.roles, m.can_login) for m in pgroles.members(session)]
    return [Membership(m.username, (m.role,), None, m.added_by) for m in list_staff(session)]
