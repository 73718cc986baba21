"""The REST API (``/api/v1``): every route declares its access level with ``require``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from modelcert.registry import Registry
from modelcert.web import service
from modelcert.web.schemas import (
    AuditIn,
    AuditOut,
    CertificateOut,
    CertifyOut,
    EventOut,
    EvidenceOut,
    GrantIn,
    GrantOut,
    ProviderIn,
    ProviderOut,
    RegistryEntry,
    StatusIn,
    TokenOut,
    UserIn,
    VerifyIn,
    VerifyOut,
    VersionDetail,
    VersionIn,
    VersionOut,
)
from modelcert.web.security import Principal, require

router = APIRouter(prefix="/api/v1", tags=["api"])

Public = Annotated[Principal, Depends(require("public"))]
User = Annotated[Principal, Depends(require("user"))]
Staff = Annotated[Principal, Depends(require("staff"))]
Admin = Annotated[Principal, Depends(require("admin"))]
VersionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
AuditId = Annotated[str, Path(min_length=1, max_length=40)]
CertId = Annotated[str, Path(min_length=1, max_length=64)]


def _reg(request: Request) -> Registry:
    return request.app.state.registry


def _version_out(v, *, with_address: bool = True) -> VersionOut:
    return VersionOut(
        id=v.id,
        provider=v.provider,
        model=v.model,
        version=v.version,
        address=v.address if with_address else None,
        identity_digest=v.identity_digest,
        status=v.status,
        created_at=v.created_at,
    )


@router.get("/registry", response_model=list[RegistryEntry], summary="Public registry of model versions")
def public_registry(request: Request, p: Public) -> list[RegistryEntry]:
    reg = _reg(request)
    certs: dict[int, list[str]] = {}
    for c in reg.certificates():
        certs.setdefault(c.version_id, []).append(c.id)
    return [
        RegistryEntry(
            provider=v.provider,
            model=v.model,
            version=v.version,
            status=v.status,
            identity_digest=v.identity_digest,
            certificates=certs.get(v.id, []),
        )
        for v in reg.versions()
    ]


@router.get("/certificates", response_model=list[CertificateOut], summary="List certificates")
def list_certificates(request: Request, p: Public) -> list[CertificateOut]:
    return service.certificate_outs(_reg(request))


@router.get(
    "/certificates/{cert_id}",
    summary="Download a certificate file (exact bytes)",
    responses={200: {"content": {"application/json": {}}}},
)
def get_certificate(cert_id: CertId, request: Request, p: Public) -> Response:
    c = _reg(request).certificate(cert_id)
    return Response(
        c.body.encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="certificate-{c.id[:16]}.json"'},
    )


@router.post("/verify", response_model=VerifyOut, summary="Verify a certificate against this lab's key")
def verify(body: VerifyIn, request: Request, p: Public) -> VerifyOut:
    st = request.app.state
    return service.verify_bytes(st.registry, st.public_key, service.normalise_pasted(body.certificate))


def _log(request: Request):
    """The lab's transparency log, opened once per app (same database as the registry)."""
    from modelcert.translog import TransparencyLog

    st = request.app.state
    if getattr(st, "translog", None) is None:
        tlog = TransparencyLog(st.config.db)
        if tlog.head() is None and st.config.private_key is not None:
            tlog.sign_empty_head(_signing_key(st.config))  # so a monitor can start from size 0
        st.translog = tlog
    return st.translog


def _signing_key(cfg):
    import os

    from modelcert.certify import load_private_key

    passphrase = os.environ.get(cfg.passphrase_env, "").encode() if cfg.passphrase_env else None
    return load_private_key(cfg.private_key, passphrase=passphrase or None)


LogSize = Annotated[int, Query(ge=0, le=2**31 - 1)]


@router.get("/log/head", summary="The transparency log's latest signed tree head (or the one at ?size=)")
def log_head(request: Request, p: Public, size: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> dict:
    head = _log(request).head(size)
    if head is None:
        from fastapi import HTTPException

        raise HTTPException(404, "the log has no tree head of that size" if size else "the log is empty")
    return head


@router.get("/log/entries", summary="Transparency log entries, in order")
def log_entries(
    request: Request, p: Public, start: LogSize = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict]:
    return [{"index": e.index, "entry": e.data} for e in _log(request).entries(start, limit)]


@router.get("/log/find", summary="Log entries about a digest (?subject=: certificate id, pre-registration hash)")
def log_find(
    request: Request, p: Public, subject: Annotated[str, Query(pattern="^[0-9a-f]{64}$")]
) -> list[dict]:
    return [{"index": e.index, "entry": e.data} for e in _log(request).find(subject)]


@router.get("/log/inclusion", summary="RFC 9162 inclusion proof of entry ?index= in the tree of ?size=")
def log_inclusion(request: Request, p: Public, index: LogSize, size: LogSize | None = None) -> dict:
    from fastapi import HTTPException

    from modelcert.translog import LogError

    tlog = _log(request)
    try:
        n, proof = tlog.inclusion(index, size)
        entry = tlog.entry(index)
    except LogError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"index": index, "tree_size": n, "entry": entry.data, "proof": proof}


@router.get("/log/consistency", summary="RFC 9162 consistency proof from tree size ?first= to ?second=")
def log_consistency(request: Request, p: Public, first: LogSize, second: LogSize | None = None) -> dict:
    from fastapi import HTTPException

    from modelcert.translog import LogError

    try:
        n, proof = _log(request).consistency(first, second)
    except LogError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"first": first, "second": n, "proof": proof}


@router.get("/me", summary="Who the token or session belongs to")
def me(p: User) -> dict[str, object]:
    return {"username": p.username, "role": p.role, "provider_id": p.provider_id}


@router.get("/providers", response_model=list[ProviderOut], summary="List providers")
def list_providers(request: Request, p: Staff) -> list[ProviderOut]:
    return [ProviderOut(id=x.id, name=x.name) for x in _reg(request).providers()]


@router.post("/providers", response_model=ProviderOut, status_code=201, summary="Add a provider")
def add_provider(body: ProviderIn, request: Request, p: Staff) -> ProviderOut:
    x = _reg(request).add_provider(body.name)
    return ProviderOut(id=x.id, name=x.name)


@router.get("/versions", response_model=list[VersionOut], summary="Model versions (a provider sees its own)")
def list_versions(request: Request, p: User) -> list[VersionOut]:
    return [_version_out(v) for v in _reg(request).versions(provider_id=p.scope())]


@router.post("/versions", response_model=VersionOut, status_code=201, summary="Register a submitted model version")
def add_version(body: VersionIn, request: Request, p: Staff) -> VersionOut:
    v = _reg(request).register_version(
        body.provider, body.model, body.version, body.address, actor=p.username or "", identity_digest=body.identity_digest
    )
    return _version_out(v)


@router.get("/versions/{version_id}", response_model=VersionDetail, summary="A version with its status history")
def get_version(version_id: VersionId, request: Request, p: User) -> VersionDetail:
    reg = _reg(request)
    v = service.scoped_version(reg, p, version_id)
    return VersionDetail(
        **_version_out(v).model_dump(),
        history=[EventOut.model_validate(e, from_attributes=True) for e in reg.history(v.id)],
        grants=[GrantOut.model_validate(g, from_attributes=True) for g in reg.grants(v.id)],
    )


@router.post(
    "/versions/{version_id}/grants", response_model=GrantOut, status_code=201, summary="Record an access grant"
)
def add_grant(version_id: VersionId, body: GrantIn, request: Request, p: Staff) -> GrantOut:
    g = _reg(request).grant_access(version_id, body.tier, by=p.username or "", note=body.note)
    return GrantOut.model_validate(g, from_attributes=True)


@router.post(
    "/versions/{version_id}/status", response_model=EventOut, summary="Change a version's status, with a reason"
)
def change_status(version_id: VersionId, body: StatusIn, request: Request, p: Staff) -> EventOut:
    from modelcert.web.redecision import log_status_change

    ev = _reg(request).set_status(version_id, body.status, reason=body.reason, actor=p.username or "")
    log_status_change(request.app.state.config, _reg(request), ev)  # a revocation is public, like the certificate
    return EventOut.model_validate(ev, from_attributes=True)


@router.post("/audits", response_model=AuditOut, status_code=202, summary="Start an audit (runs in the background)")
def start_audit(body: AuditIn, request: Request, p: Staff) -> AuditOut:
    cfg = request.app.state.config
    cfg.policy_ref(body.policy)  # only offered policies
    a = _reg(request).create_audit(
        body.version_id, body.policy, body.tier, actor=p.username or "", options={"only": body.only or None}
    )
    return AuditOut.of(a)


@router.get("/audits", response_model=list[AuditOut], summary="Audits (a provider sees its own models' audits)")
def list_audits(request: Request, p: User, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[AuditOut]:
    return [AuditOut.of(a) for a in _reg(request).audits(provider_id=p.scope(), limit=limit)]


@router.get("/audits/{audit_id}", response_model=AuditOut, summary="An audit's state, progress and verdicts")
def get_audit(audit_id: AuditId, request: Request, p: User) -> AuditOut:
    reg = _reg(request)
    a, _v = service.scoped_audit(reg, p, audit_id)
    return AuditOut.of(a, service.audit_certificate_id(reg, a))


@router.post("/audits/{audit_id}/resume", response_model=AuditOut, summary="Queue an interrupted or failed audit again")
def resume_audit(audit_id: AuditId, request: Request, p: Staff) -> AuditOut:
    reg = _reg(request)
    service.scoped_audit(reg, p, audit_id)
    return AuditOut.of(reg.requeue(audit_id, actor=p.username or ""))


@router.post(
    "/audits/{audit_id}/certify",
    response_model=CertifyOut,
    status_code=201,
    summary="Certify a version a judge review made certifiable (signs, logs and stores the certificate)",
)
def certify_audit(audit_id: AuditId, request: Request, p: Staff) -> CertifyOut:
    from modelcert.web.redecision import certify_reviewed

    reg = _reg(request)
    service.scoped_audit(reg, p, audit_id)
    ev, cert_id = certify_reviewed(request.app.state.config, reg, audit_id, actor=p.username or "")
    return CertifyOut(event=EventOut.model_validate(ev, from_attributes=True), certificate_id=cert_id)


@router.get(
    "/audits/{audit_id}/evidence",
    response_model=EvidenceOut,
    summary="An audit's evidence records (redacted for providers)",
)
def audit_evidence(
    audit_id: AuditId,
    request: Request,
    p: User,
    run: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EvidenceOut:
    reg = _reg(request)
    a, _v = service.scoped_audit(reg, p, audit_id)
    runs = service.evidence_runs(a)
    if run is not None and run not in runs:
        from fastapi import HTTPException

        raise HTTPException(404, f"run {run} is not part of audit {audit_id}")
    chosen = run or next(iter(runs), None)
    records: list[dict] = []
    if chosen is not None:
        from itertools import islice

        from modelcert.evidence.store import EvidenceStore

        with EvidenceStore(request.app.state.config.db, create=False) as store:
            for r in islice(store.records(chosen), offset, offset + limit):
                env = {**r.envelope, "hash": r.hash, "prev": r.prev}
                records.append(service.redact_for_provider(env) if p.role == "provider" else env)
    return EvidenceOut(
        audit_id=a.id, runs=runs, run=chosen, offset=offset, records=records, redacted=p.role == "provider"
    )


@router.get("/users", summary="List users")
def list_users(request: Request, p: Admin) -> list[dict[str, object]]:
    return [
        {"username": u.username, "role": u.role, "provider_id": u.provider_id, "active": u.active}
        for u in _reg(request).users()
    ]


@router.post("/users", status_code=201, summary="Create a user")
def create_user(body: UserIn, request: Request, p: Admin) -> dict[str, object]:
    u = _reg(request).create_user(body.username, body.role, provider=body.provider, password=body.password)
    return {"username": u.username, "role": u.role, "provider_id": u.provider_id}


@router.post("/users/{username}/tokens", response_model=TokenOut, status_code=201, summary="Issue an API token")
def issue_token(username: str, request: Request, p: Admin) -> TokenOut:
    return TokenOut(username=username, token=_reg(request).issue_token(username, label=f"issued by {p.username}"))


# -- monitoring (see modelcert.monitor.service) -------------------------------------------


class MonitorEnrollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: Literal["api", "logprobs"] | None = None
    prompts: int | None = Field(default=None, ge=1, le=500)
    per_prompt: int | None = Field(default=None, ge=1, le=100)
    blocks: int | None = Field(default=None, ge=1, le=200)
    temperature: float | None = Field(default=None, ge=0.05, le=5)  # below this sampling is greedy in all but name and underflows
    max_tokens: int | None = Field(default=None, ge=1, le=512)
    reference_per_prompt: int | None = Field(default=None, ge=1, le=100)
    shortcut: bool | None = None  # pre-register the greedy-digest exact-identity shortcut
    novelty: bool | None = None  # api: pre-register the novelty process (draws a learning sample)
    learn_per_prompt: int | None = Field(default=None, ge=1, le=1000)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class MonitorCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


def _monitor_view(state: Any, p: Principal, reg: Registry) -> dict[str, Any]:
    """A version's monitoring state, with its latest monitoring jobs (state, progress, error)."""
    from modelcert.registry import MONITOR_JOBS

    out = state.to_dict()
    if p.role == "provider" and out.get("prompt_set"):  # the root is public; where the lab keeps the set is not
        out["prompt_set"] = {k: v for k, v in out["prompt_set"].items() if k != "folder"}
    jobs = reg.audits(version_id=state.version_id, kinds=MONITOR_JOBS, limit=5)
    out["jobs"] = [AuditOut.of(j).model_dump(mode="json") for j in jobs]
    return out


@contextmanager
def _monitor(request: Request) -> Iterator[Any]:
    from modelcert.evidence.store import EvidenceStore
    from modelcert.monitor.service import Monitor

    cfg = request.app.state.config
    with EvidenceStore(cfg.db) as store:
        yield Monitor(store, _reg(request), cfg.data_dir / "monitor")


@router.get("/monitor", summary="Monitored versions with their e-process (a provider sees its own)")
def list_monitored(request: Request, p: User) -> list[dict[str, Any]]:
    reg = _reg(request)
    mine = {v.id for v in reg.versions(provider_id=p.scope())}
    with _monitor(request) as mon:
        return [_monitor_view(s, p, reg) for s in mon.monitored() if s.version_id in mine]


@router.get("/monitor/{version_id}", summary="A version's monitoring: plan, checks, e-process, alarm")
def get_monitor(version_id: VersionId, request: Request, p: User) -> dict[str, Any]:
    reg = _reg(request)
    service.scoped_version(reg, p, version_id)
    with _monitor(request) as mon:
        return _monitor_view(mon.status(version_id), p, reg)


@router.post(
    "/monitor/{version_id}/enroll",
    response_model=AuditOut,
    status_code=202,
    summary="Queue drawing the secret prompt set and reference sample (a background job)",
)
def enroll_monitor(version_id: VersionId, body: MonitorEnrollIn, request: Request, p: Staff) -> AuditOut:
    """The plan is checked now (grant, tier, settings), the draw runs in the lab's worker:
    follow it at ``GET /audits/{id}`` (the job id)."""
    from modelcert.registry import MONITOR_ENROLL

    opts = body.model_dump(exclude_none=True)
    tier, seed = opts.pop("tier", None), opts.pop("seed", None)
    reg = _reg(request)
    service.scoped_version(reg, p, version_id)
    with _monitor(request) as mon:
        _target, plan = mon.enroll_plan(version_id, tier, **opts)
    job = reg.create_job(version_id, MONITOR_ENROLL, plan.tier, actor=p.username or "",
                         options={"plan": opts, "seed": seed})
    return AuditOut.of(job)


@router.post(
    "/monitor/{version_id}/check",
    response_model=AuditOut,
    status_code=202,
    summary="Queue one monitoring check (a background job; an alarm suspends the version)",
)
def check_monitor(version_id: VersionId, body: MonitorCheckIn, request: Request, p: Staff) -> AuditOut:
    """Refused now with 409 if no check can run (not enrolled, alarm raised, blocks used
    up); the queries run in the lab's worker: follow the job at ``GET /audits/{id}``."""
    from fastapi import HTTPException

    from modelcert.monitor.service import MonitorError
    from modelcert.registry import MONITOR_CHECK

    reg = _reg(request)
    service.scoped_version(reg, p, version_id)
    with _monitor(request) as mon:
        try:
            _state, plan = mon.check_plan(version_id)
        except MonitorError as exc:  # the monitoring state, not the request, is what is wrong
            raise HTTPException(409, str(exc).splitlines()[0]) from None
    job = reg.create_job(version_id, MONITOR_CHECK, plan.tier, actor=p.username or "",
                         options={"seed": body.seed})
    return AuditOut.of(job)
