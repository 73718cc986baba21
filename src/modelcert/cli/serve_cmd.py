"""``modelcert serve`` (the lab server) and ``modelcert registry`` (providers, versions, users, tokens)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from modelcert.cli.options import DbOpt
from modelcert.errors import ConfigError

app = typer.Typer(help="The lab registry: providers, model versions, access grants, statuses, users, tokens.",
                  no_args_is_help=True)
out = Console()


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
    root.add_typer(app, name="registry")


def serve(
    db: DbOpt = None,
    data: Path | None = typer.Option(None, "--data", help="Folder for audit outputs and the session secret "
                                     "(default: lab/ in the user data directory, beside the evidence store)."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    key: Path | None = typer.Option(None, "--key", help="Lab private key: finished audits get a certificate."),
    public_key: Path | None = typer.Option(None, "--public-key", help="Key for the verification page "
                                           "(default: the .pub beside --key)."),
    passphrase_env: str | None = typer.Option(None, "--passphrase-env", help="Variable holding the key passphrase."),
    lab_id: str = typer.Option("modelcert-lab", "--lab-id", help="Lab name signed into certificates."),
    policies: Path | None = typer.Option(None, "--policies", help="Extra folder of policy YAML files to offer."),
    valid_days: int = typer.Option(365, "--valid-days", min=1, help="Certificate validity."),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Run audits in this server's background worker."),
    lease: float = typer.Option(60.0, "--lease", min=1.0,
                                help="Seconds without a heartbeat before another host's running audit counts as interrupted."),
    max_body: int = typer.Option(1024 * 1024, "--max-body", min=1024, help="Largest request body in bytes (413 above)."),
    max_upload: int = typer.Option(2 * 1024 * 1024, "--max-upload", min=1024,
                                   help="Largest body of the upload route (POST /verify) in bytes."),
    trusted_proxy: list[str] = typer.Option([], "--trusted-proxy",
                                            help="Reverse-proxy address whose X-Forwarded-Proto/-For are believed "
                                                 "(repeatable)."),
    monitor_on_certify: bool = typer.Option(False, "--monitor-on-certify", help="When an audit certifies, draw the "
                                            "monitoring reference sample (5,000 queries at api) and name it in the "
                                            "certificate."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Serve HTTPS with this certificate (PEM)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Private key for --tls-cert (PEM)."),
) -> None:
    """Run the lab server (dashboard, public registry and verification, REST API at /api/v1, docs at /docs)."""
    import uvicorn

    from modelcert.evidence.location import resolve_url
    from modelcert.web import LabConfig, create_app

    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if data is None:
        from platformdirs import user_data_dir

        data = Path(user_data_dir("modelcert")) / "lab"
    cfg = LabConfig(db=resolve_url(db), data_dir=data, lab_id=lab_id, private_key=key, public_key=public_key,
                    passphrase_env=passphrase_env, policy_dir=policies, valid_days=valid_days, worker=worker,
                    lease_seconds=lease, max_body=max_body, max_upload=max_upload,
                    trusted_proxies=tuple(trusted_proxy), monitor_on_certify={} if monitor_on_certify else None)
    application = create_app(cfg)
    scheme = "https" if tls_cert else "http"
    Console(stderr=True).print(f"modelcert lab on {scheme}://{host}:{port}  (registry {cfg.db}, data {data})",
                               highlight=False)
    # proxy headers are the app's business (only from --trusted-proxy), never uvicorn's default
    uvicorn.run(application, host=host, port=port, timeout_keep_alive=30, proxy_headers=False,
                ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None,
                log_level=os.environ.get("MODELCERT_LOG_LEVEL", "warning"))


def _registry(db: str | None):
    from modelcert.registry import Registry

    return Registry(db)


@app.command("provider-add")
def provider_add(name: str, db: DbOpt = None) -> None:
    """Add a provider."""
    p = _registry(db).add_provider(name)
    out.print(f"provider {p.name} (id {p.id})")


@app.command("version-add")
def version_add(
    provider: str = typer.Option(..., "--provider"),
    model: str = typer.Option(..., "--model-name"),
    version: str = typer.Option(..., "--version"),
    address: str = typer.Option(..., "--address", help="Inspect model string or local/<folder> / local/zoo:<name>."),
    identity: str | None = typer.Option(None, "--identity-digest"),
    actor: str = typer.Option(os.environ.get("USER", "cli"), "--actor"),
    db: DbOpt = None,
) -> None:
    """Register a submitted model version (status: submitted)."""
    v = _registry(db).register_version(provider, model, version, address, actor=actor, identity_digest=identity)
    out.print(f"version {v.id}: {v.provider}/{v.model} {v.version} — {v.status}")


@app.command("grant")
def grant(version_id: int, tier: str = typer.Option(..., "--tier"), note: str | None = typer.Option(None, "--note"),
          by: str = typer.Option(os.environ.get("USER", "cli"), "--by"), db: DbOpt = None) -> None:
    """Record the access tier a provider granted for a version."""
    g = _registry(db).grant_access(version_id, tier, by=by, note=note)
    out.print(f"version {version_id}: {g.tier} access granted, recorded by {g.granted_by}")


@app.command("status")
def status(version_id: int, to: str = typer.Option(..., "--to"), reason: str = typer.Option(..., "--reason"),
           actor: str = typer.Option(os.environ.get("USER", "cli"), "--actor"), db: DbOpt = None) -> None:
    """Change a version's status (the lifecycle rejects illegal changes; the reason is kept)."""
    ev = _registry(db).set_status(version_id, to, reason=reason, actor=actor)
    out.print(f"version {version_id}: {ev.from_status} -> {ev.to_status}")


@app.command("certify")
def certify(
    audit_id: str,
    key: Path = typer.Option(..., "--key", help="The lab's private key."),
    passphrase_env: str | None = typer.Option(None, "--passphrase-env", help="Variable holding the key passphrase."),
    lab_id: str = typer.Option("modelcert-lab", "--lab-id", help="Lab name signed into the certificate."),
    valid_days: int = typer.Option(365, "--valid-days", min=1, help="Certificate validity."),
    actor: str = typer.Option("cli", "--by"),
    db: DbOpt = None,
) -> None:
    """Certify a version a judge review made certifiable: sign, log and store its audit's certificate."""
    from modelcert.evidence.location import resolve_url
    from modelcert.web.config import LabConfig
    from modelcert.web.redecision import certify_reviewed

    if not key.is_file():
        raise ConfigError(f"--key {key}: no such file")
    reg = _registry(db)
    with reg:
        a = reg.audit(audit_id)
        cfg = LabConfig(db=resolve_url(db), data_dir=Path(a.out_dir or ".").parent, lab_id=lab_id, private_key=key,
                        passphrase_env=passphrase_env, valid_days=valid_days, session_secret="unused-by-the-cli",
                        worker=False)
        ev, cert_id = certify_reviewed(cfg, reg, audit_id, actor=actor)
    out.print(f"version {ev.version_id}: {ev.from_status} -> {ev.to_status}; certificate {cert_id}", highlight=False)


@app.command("list")
def list_versions(db: DbOpt = None, as_json: bool = typer.Option(False, "--json", help="Print a JSON list "
                                                                  "(schema in docs/cli.md).")) -> None:
    """Model versions with their status."""
    import json

    from modelcert.cli.tables import listing, print_table

    cols = ("id", "provider", "model", "version", "status", "address")
    rows = [(str(v.id), v.provider, v.model, v.version, v.status, v.address) for v in _registry(db).versions()]
    if as_json:
        typer.echo(json.dumps([{**dict(zip(cols, r)), "id": int(r[0])} for r in rows], indent=2))
        return
    print_table(listing(cols, rows, whole=("id", "provider", "model", "version", "status")))


@app.command("history")
def history(version_id: int, db: DbOpt = None) -> None:
    """A version's status history with reasons."""
    for e in _registry(db).history(version_id):
        out.print(f"{e.seq:>3} {e.at:%Y-%m-%d %H:%M:%S} {e.from_status or '-':>24} -> {e.to_status:<24} "
                  f"{e.actor}: {e.reason}", highlight=False)


@app.command("user-add")
def user_add(
    username: str,
    role: str = typer.Option(..., "--role", help="admin, auditor, reviewer or provider"),
    provider: str | None = typer.Option(None, "--provider", help="The provider a provider user belongs to."),
    password_env: str | None = typer.Option(None, "--password-env", help="Variable holding the login password."),
    db: DbOpt = None,
) -> None:
    """Create a user (password from an environment variable; none: token login only)."""
    from modelcert.errors import ConfigError

    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise ConfigError(f"environment variable {password_env} is empty or unset")
    u = _registry(db).create_user(username, role, provider=provider, password=password)
    out.print(f"user {u.username} ({u.role})")


@app.command("token")
def token(username: str, label: str = typer.Option("cli", "--label"), db: DbOpt = None) -> None:
    """Issue an API token; it is printed once and stored only as a hash."""
    typer.echo(_registry(db).issue_token(username, label=label))


@app.command("user-disable")
def user_disable(username: str, db: DbOpt = None) -> None:
    """Deactivate a user: every token revoked, sessions refused from the next request."""
    _registry(db).disable_user(username)
    out.print(f"user {username} disabled")


@app.command("revoke-tokens")
def revoke_tokens(username: str, db: DbOpt = None) -> None:
    """Revoke every token of a user."""
    out.print(f"{_registry(db).revoke_tokens(username)} token(s) revoked")
