"""The status lifecycle of a registered model version: which status may follow which.

The graph is data so the web layer, the docs and the tests read the same rules:

* submitted -> under_audit -> certified / conditionally_certified / refused;
* a provider that will not grant the access a policy needs: access_refused -> restricted;
* after certification: suspended (monitoring found a change), revoked (final), expired.

Reinstating a suspended version returns it only to the status it held before the
suspension; anything else needs a new audit.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"
    UNDER_AUDIT = "under_audit"
    CERTIFIED = "certified"
    CONDITIONALLY_CERTIFIED = "conditionally_certified"
    REFUSED = "refused"
    ACCESS_REFUSED = "access_refused"
    RESTRICTED = "restricted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


S = Status
#: Allowed next statuses. ``suspended`` may also return to the status held before it.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.SUBMITTED: frozenset({S.UNDER_AUDIT, S.ACCESS_REFUSED}),
    S.UNDER_AUDIT: frozenset(
        {S.CERTIFIED, S.CONDITIONALLY_CERTIFIED, S.REFUSED, S.ACCESS_REFUSED, S.SUBMITTED}
    ),
    S.ACCESS_REFUSED: frozenset({S.RESTRICTED, S.UNDER_AUDIT}),
    S.RESTRICTED: frozenset({S.UNDER_AUDIT}),
    S.CERTIFIED: frozenset({S.SUSPENDED, S.REVOKED, S.EXPIRED, S.UNDER_AUDIT}),
    S.CONDITIONALLY_CERTIFIED: frozenset({S.SUSPENDED, S.REVOKED, S.EXPIRED, S.UNDER_AUDIT}),
    S.REFUSED: frozenset({S.UNDER_AUDIT}),
    S.SUSPENDED: frozenset({S.REVOKED, S.UNDER_AUDIT}),
    S.EXPIRED: frozenset({S.UNDER_AUDIT}),
    S.REVOKED: frozenset(),
}

#: Outcomes an audit can certify, as statuses.
OUTCOME_STATUS: dict[str, Status] = {
    "certified": S.CERTIFIED,
    "conditionally_certified": S.CONDITIONALLY_CERTIFIED,
    "refused": S.REFUSED,
}

#: Statuses under which a public certificate is in force.
IN_FORCE = frozenset({S.CERTIFIED, S.CONDITIONALLY_CERTIFIED})


def allowed_next(current: Status, before_suspension: Status | None = None) -> frozenset[Status]:
    """The statuses that may follow ``current``.

    Args:
        current: the version's present status.
        before_suspension: for a suspended version, the status it held before; it may
            be reinstated to exactly that one.
    """
    nxt = TRANSITIONS[current]
    if current is S.SUSPENDED and before_suspension in IN_FORCE:
        nxt = nxt | {before_suspension}
    return nxt
