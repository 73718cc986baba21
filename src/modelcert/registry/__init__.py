"""The lab's registry: providers, model versions, access grants, audits, certificates,
users, and the status lifecycle with its append-only history."""

from modelcert.registry.errors import Conflict, IllegalTransition, NotFound, RegistryError
from modelcert.registry.lifecycle import TRANSITIONS, Status, allowed_next
from modelcert.registry.store import (
    AUDIT,
    AUDIT_STATES,
    FAILED,
    FINISHED,
    INTERRUPTED,
    JOB_KINDS,
    MONITOR_CHECK,
    MONITOR_ENROLL,
    MONITOR_JOBS,
    QUEUED,
    ROLES,
    RUNNING,
    Registry,
    VersionView,
    worker_id,
)

__all__ = [
    "AUDIT",
    "AUDIT_STATES",
    "FAILED",
    "FINISHED",
    "INTERRUPTED",
    "JOB_KINDS",
    "MONITOR_CHECK",
    "MONITOR_ENROLL",
    "MONITOR_JOBS",
    "QUEUED",
    "ROLES",
    "RUNNING",
    "TRANSITIONS",
    "Conflict",
    "IllegalTransition",
    "NotFound",
    "Registry",
    "RegistryError",
    "Status",
    "VersionView",
    "allowed_next",
    "worker_id",
]
