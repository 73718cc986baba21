"""Server-rendered pages (Jinja2). Every route declares its access level with ``require``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from modelcert.registry import Registry, Status, allowed_next
from modelcert.web import service
from modelcert.web.security import (
    PUBLIC,
    Principal,
    check_csrf,
    client_address,
    csrf_token,
    current_principal,
    login_throttle,
    require,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

Public = Annotated[Principal, Depends(require("public"))]
User = Annotated[Principal, Depends(require("user"))]
Staff = Annotated[Principal, Depends(require("staff"))]
Review = Annotated[Principal, Depends(require("review"))]
VersionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
AuditId = Annotated[str, PathParam(min_length=1, max_length=40)]

MAX_UPLOAD = 1_000_000


def _reg(request: Request) -> Registry:
    return request.app.state.registry


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    p = getattr(request.state, "principal", None) or PUBLIC
    # csrf is a callable: only pages that render a form touch (and re-sign) the session
    return templates.TemplateResponse(
        request, name, {"me": p, "csrf": lambda: csrf_token(request), **ctx}, status_code=status_code
    )


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, status=status, message=message)


def _safe_next(nxt: str | None) -> str:
    if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt:
        return nxt
    return "/dashboard"


@router.get("/healthz")
def healthz(p: Public) -> dict[str, str]:
    return {"status": "ok"}


@router.get("/", response_class=HTMLResponse)
def registry_page(request: Request, p: Public) -> HTMLResponse:
    reg = _reg(request)
    certs: dict[int, list[Any]] = {}
    for c in reg.certificates():
        certs.setdefault(c.version_id, []).append(c)
    return render(request, "registry.html", versions=reg.versions(), certs=certs)


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request, p: Public) -> HTMLResponse:
    return render(request, "verify.html", result=None)


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(
    request: Request,
    p: Public,
    certificate: Annotated[str, Form()] = "",
    upload: UploadFile | None = None,
) -> HTMLResponse:
    data: bytes | None = None
    if upload is not None and upload.filename:
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return render(request, "verify.html", 413, result=None, error="the file is larger than 1 MB")
    elif certificate.strip():
        data = service.normalise_pasted(certificate)
    if not data:
        return render(request, "verify.html", 400, result=None, error="upload a certificate file or paste its text")
    st = request.app.state
    return render(request, "verify.html", result=service.verify_bytes(st.registry, st.public_key, data))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, p: Public, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    p: Public,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/dashboard",
) -> Response:
    await check_csrf(request)  # login CSRF: the form must come from our own login page
    throttle, address = login_throttle(request), client_address(request)
    wait = throttle.retry_after(username, address)
    if wait > 0:  # refused before any password work: a locked account costs the server nothing
        page = render(request, "login.html", 429, next=_safe_next(next),
                      error="too many failed logins; try again later")
        page.headers["Retry-After"] = str(math.ceil(wait))
        return page
    # one scrypt whatever the account's state, off the event loop
    user = await run_in_threadpool(_reg(request).user_for_password, username, password)
    if user is None:
        throttle.failed(username, address)
        return render(request, "login.html", 401, next=_safe_next(next), error="wrong username or password")
    throttle.succeeded(username)
    request.session.clear()  # no session fixation: a fresh session (and CSRF token) after login
    request.session["uid"] = user.id
    csrf_token(request)
    target = _safe_next(next)
    if user.role == "reviewer" and target == "/dashboard":  # a reviewer's desk is the review list
        target = "/review"
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, p: Public) -> Response:  # every role may log out, reviewers included
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, p: User) -> HTMLResponse:
    reg = _reg(request)
    versions = reg.versions(provider_id=p.scope())
    by_id = {v.id: v for v in versions}
    audits = reg.audits(provider_id=p.scope(), limit=100)
    cfg = request.app.state.config
    return render(
        request,
        "dashboard.html",
        monitors=_monitor_plots(request, by_id),
        versions=versions,
        audits=audits,
        by_id=by_id,
        policies=cfg.policies() if p.is_staff else [],
        providers=reg.providers() if p.is_staff else [],
    )


def _monitor_plots(request: Request, by_id: dict[int, Any]) -> list[dict[str, Any]]:
    """Each visible monitored version with its state, its e-process plot (SVG markup) and
    its latest monitoring job (live progress; a version whose first enrollment is still
    queued or running is listed with its job only)."""
    from markupsafe import Markup

    from modelcert.evidence.store import EvidenceStore
    from modelcert.monitor.plot import trajectory_svg
    from modelcert.monitor.service import Monitor
    from modelcert.registry import MONITOR_JOBS

    cfg = request.app.state.config
    reg = _reg(request)
    with EvidenceStore(cfg.db) as store:
        states = {s.version_id: s for s in Monitor(store, reg, cfg.data_dir / "monitor").monitored()
                  if s.version_id in by_id and s.plan is not None}
    jobs: dict[int, Any] = {}
    for j in reg.audits(kinds=MONITOR_JOBS, limit=200):  # newest first: keep each version's latest
        if j.version_id in by_id:
            jobs.setdefault(j.version_id, j)
    out = []
    for vid in sorted(set(states) | set(jobs)):
        s = states.get(vid)
        svg = Markup(trajectory_svg(s.e_values, 1 / s.plan["alpha"])) if s is not None and s.plan else None
        out.append({"v": by_id[vid], "state": s, "svg": svg, "job": jobs.get(vid)})
    return out


@router.post("/versions")
def register_version_form(
    request: Request,
    p: Staff,
    provider: Annotated[str, Form(max_length=120)],
    model: Annotated[str, Form(max_length=200)],
    version: Annotated[str, Form(max_length=120)],
    address: Annotated[str, Form(max_length=2000)],
    tier: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    reg = _reg(request)
    try:
        reg.provider(provider)
    except service.NotFound:
        reg.add_provider(provider)
    v = reg.register_version(provider, model, version, address, actor=p.username or "")
    if tier:
        reg.grant_access(v.id, tier, by=p.username or "", note="recorded with the submission")
    return RedirectResponse(f"/versions/{v.id}", status_code=303)


@router.get("/versions/{version_id}", response_class=HTMLResponse)
def version_page(version_id: VersionId, request: Request, p: User) -> HTMLResponse:
    reg = _reg(request)
    v = service.scoped_version(reg, p, version_id)
    history = reg.history(v.id)
    before = next((Status(e.from_status) for e in reversed(history) if e.to_status == "suspended"), None)
    nxt = sorted(s.value for s in allowed_next(Status(v.status), before))
    return render(
        request,
        "version.html",
        v=v,
        history=history,
        grants=reg.grants(v.id),
        audits=reg.audits(version_id=v.id),
        certs=reg.certificates(version_id=v.id),
        next_statuses=nxt,
        policies=request.app.state.config.policies() if p.is_staff else [],
    )


@router.post("/versions/{version_id}/status")
def change_status_form(
    version_id: VersionId,
    request: Request,
    p: Staff,
    status: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    from modelcert.web.redecision import log_status_change

    ev = _reg(request).set_status(version_id, status, reason=reason, actor=p.username or "")
    log_status_change(request.app.state.config, _reg(request), ev)
    return RedirectResponse(f"/versions/{version_id}", status_code=303)


@router.post("/versions/{version_id}/grants")
def grant_form(
    version_id: VersionId,
    request: Request,
    p: Staff,
    tier: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _reg(request).grant_access(version_id, tier, by=p.username or "", note=note or None)
    return RedirectResponse(f"/versions/{version_id}", status_code=303)


@router.post("/audits")
def start_audit_form(
    request: Request,
    p: Staff,
    version_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    policy: Annotated[str, Form(max_length=200)],
    tier: Annotated[str, Form(max_length=16)],
    only: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    request.app.state.config.policy_ref(policy)
    ids = [x.strip() for x in only.replace(",", " ").split() if x.strip()]
    a = _reg(request).create_audit(version_id, policy, tier, actor=p.username or "", options={"only": ids or None})
    return RedirectResponse(f"/audits/{a.id}", status_code=303)


@router.get("/audits/{audit_id}", response_class=HTMLResponse)
def audit_page(audit_id: AuditId, request: Request, p: User) -> HTMLResponse:
    reg = _reg(request)
    a, v = service.scoped_audit(reg, p, audit_id)
    verdicts = json.loads(a.verdicts) if a.verdicts else []
    result = service.audit_result(a)
    has_report = bool(result) and p.is_staff and (Path(a.out_dir or "") / "report.html").is_file()
    return render(
        request,
        "audit.html",
        a=a,
        v=v,
        verdicts=verdicts,
        result=result,
        has_report=has_report,
        cert_id=service.audit_certificate_id(reg, a),
    )


@router.get("/audits/{audit_id}/report", response_class=HTMLResponse)
def audit_report(audit_id: AuditId, request: Request, p: Staff) -> Response:
    """The engine's HTML report, inert: no script, no network, framed only by our own pages.

    The embedding iframe is sandboxed too; the report is self-contained (inline CSS and
    SVG), so it needs neither.
    """
    a, _v = service.scoped_audit(_reg(request), p, audit_id)
    path = Path(a.out_dir or "") / "report.html"
    if a.state != "finished" or not path.is_file():
        return error_page(request, 404, f"audit {audit_id} has no report yet")
    return HTMLResponse(
        path.read_text(encoding="utf-8"),
        headers={
            "Content-Security-Policy": "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
        },
    )


@router.post("/audits/{audit_id}/resume")
def resume_audit_form(audit_id: AuditId, request: Request, p: Staff) -> Response:
    reg = _reg(request)
    service.scoped_audit(reg, p, audit_id)
    reg.requeue(audit_id, actor=p.username or "")
    return RedirectResponse(f"/audits/{audit_id}", status_code=303)


@router.get("/review", response_class=HTMLResponse)
def review_list(request: Request, p: Review) -> HTMLResponse:
    """Finished audits whose judged requirements have a review sample to label."""
    from modelcert.web.review import sample_view

    reg = _reg(request)
    cfg = request.app.state.config
    todo = []
    for a in reg.audits(limit=100):
        if a.state == "finished":
            samples = sample_view(cfg.db, service.audit_result(a))
            if samples:
                todo.append({"a": a, "rows": sum(len(s["rows"]) for s in samples),
                             "done": sum(s["done"] for s in samples)})
    return render(request, "review_list.html", todo=todo)


@router.get("/audits/{audit_id}/review", response_class=HTMLResponse)
def review_page(audit_id: AuditId, request: Request, p: Review) -> HTMLResponse:
    """The audit's pre-registered review samples: request, answer, three buttons; never the judge's call."""
    from modelcert.web.redecision import PREFIX
    from modelcert.web.review import sample_view

    reg = _reg(request)
    a, v = service.scoped_audit(reg, p, audit_id)
    result = service.audit_result(a)
    event = next((e for e in reversed(reg.history(v.id)) if e.audit_id == a.id and PREFIX in e.reason), None)
    return render(request, "review.html", a=a, v=v, samples=sample_view(request.app.state.config.db, result),
                  reviews=(result or {}).get("judge_reviews") or [], outcome=(result or {}).get("outcome"),
                  registry_event=event)


@router.post("/audits/{audit_id}/review")
def review_label(
    audit_id: AuditId,
    request: Request,
    p: Review,
    requirement: Annotated[str, Form(max_length=200)],
    sample_id: Annotated[str, Form(max_length=500)],
    label: Annotated[str, Form(max_length=20)],
) -> Response:
    from modelcert.web.review import record_label

    a, _v = service.scoped_audit(_reg(request), p, audit_id)
    record_label(request.app.state.config.db, service.audit_result(a), requirement, sample_id, label,
                 p.username or "", p.via)
    return RedirectResponse(f"/audits/{audit_id}/review", status_code=303)


@router.post("/audits/{audit_id}/redecide")
def review_redecide(audit_id: AuditId, request: Request, p: Staff) -> Response:
    """Decide the judged requirements again through the labels recorded for this audit."""
    from modelcert.web.redecision import follow_redecision
    from modelcert.web.review import redecide_audit

    reg = _reg(request)
    a, _v = service.scoped_audit(reg, p, audit_id)
    before = service.audit_result(a)
    after = redecide_audit(request.app.state.config.db, a.out_dir, before, p.username or "")
    assert before is not None  # redecide_audit refused an audit without a result
    follow_redecision(request.app.state.config, reg, audit_id, before, after, actor=p.username or "")
    return RedirectResponse(f"/audits/{audit_id}/review", status_code=303)


@router.post("/audits/{audit_id}/certify")
def certify_form(audit_id: AuditId, request: Request, p: Staff) -> Response:
    """The explicit certification step of a version a judge review made certifiable."""
    from modelcert.web.redecision import certify_reviewed

    reg = _reg(request)
    service.scoped_audit(reg, p, audit_id)
    certify_reviewed(request.app.state.config, reg, audit_id, actor=p.username or "")
    return RedirectResponse(f"/audits/{audit_id}", status_code=303)


__all__ = ["current_principal", "error_page", "router"]
