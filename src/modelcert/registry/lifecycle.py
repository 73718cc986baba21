"""The status lifecycle of a registered model version: which status may follow which.

The graph is data so the web layer, the docs and the tests read the same rules:

* submitted -> under_audit -> certified / conditionally_certified / refused;
* a provider that will not grant the access a policy needs: access_refused -> restricted;
* after certification: suspended (monitoring found a change), revoked (final), expired;
* a judge review that re-decides the latest audit (docs/judges.md) moves the version to
  the new outcome's status: an in-force certificate whose outcome no longer holds is
  suspended (the audit is now refused) or ends in ``certifiable`` (another certifiable
  outcome); a refusal that became certifiable is ``certifiable``. ``certifiable`` means
  "the audit's outcome is a certification, but no certificate states it": only the
  explicit certification step leaves it for certified, so no certificate is issued
  silently.

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
    CERTIFIABLE = "certifiable"
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
    S.CERTIFIED: frozenset({S.SUSPENDED, S.REVOKED, S.EXPIRED, S.UNDER_AUDIT, S.CERTIFIABLE}),
    S.CONDITIONALLY_CERTIFIED: frozenset({S.SUSPENDED, S.REVOKED, S.EXPIRED, S.UNDER_AUDIT, S.CERTIFIABLE}),
    S.REFUSED: frozenset({S.UNDER_AUDIT, S.CERTIFIABLE}),
    S.CERTIFIABLE: frozenset({S.CERTIFIED, S.CONDITIONALLY_CERTIFIED, S.REFUSED, S.UNDER_AUDIT}),
    S.SUSPENDED: frozenset({S.REVOKED, S.UNDER_AUDIT, S.CERTIFIABLE}),
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

#: Changes only the lab's own steps make, never a hand-set status: into ``certifiable``
#: (a judge review's redecision) and out of it into a certification (the certification
#: step, which issues the certificate in the same transaction).
RESERVED = "set by a judge review's redecision only"
CERTIFY_ONLY = "set by the certification step only (it issues the certificate)"


def reserved(current: Status, to: Status) -> str | None:
    """Why ``current -> to`` cannot be set by hand (None: it can)."""
    if to is S.CERTIFIABLE:
        return RESERVED
    if current is S.CERTIFIABLE and to in IN_FORCE:
        return CERTIFY_ONLY
    return None


def after_redecision(current: Status, outcome: str, *, certificate_outcome: str | None,
                     suspended_by_this_review: bool, certificate_verdicts_hold: bool = True) -> Status | None:
    """The status a version moves to when a judge review re-decides its latest audit.

    Args:
        current: the version's status now.
        outcome: the audit's outcome after the redecision (certified,
            conditionally_certified or refused).
        certificate_outcome: the outcome of the certificate the lab issued for this
            audit, if any (a refusal has one too).
        suspended_by_this_review: ``current`` is a suspension that an earlier review of
            this audit made (a suspension for any other reason, a monitoring alarm, is
            never lifted by a review).
        certificate_verdicts_hold: every requirement verdict the certificate states is
            still the audit's verdict. When not, a certificate with the right outcome
            still says something the audit no longer shows (a PASS that is now
            INCONCLUSIVE, or the reverse), so it stops being valid until the
            certification step re-issues it: the version goes to ``certifiable``.

    Returns None when the status stays: the outcome did not change what the registry
    says, or the version is somewhere a review must not move it (under audit, revoked,
    expired, suspended for another reason).
    """
    new = OUTCOME_STATUS[outcome]
    if current in IN_FORCE:
        if new is current:
            return None if certificate_verdicts_hold else S.CERTIFIABLE
        return S.SUSPENDED if new is S.REFUSED else S.CERTIFIABLE
    if current is S.REFUSED:
        return S.CERTIFIABLE if new in IN_FORCE else None
    if current is S.CERTIFIABLE:
        return S.REFUSED if new is S.REFUSED else None
    if current is S.SUSPENDED and suspended_by_this_review:
        if new is S.REFUSED:
            return None
        # the certificate's own outcome holds again: reinstate it; another one: certify anew
        return new if certificate_outcome == outcome and certificate_verdicts_hold else S.CERTIFIABLE
    return None


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
