"""What a lab server needs to know: its database, its folders, its keys, its policies."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError

SESSION_SECRET_ENV = "MODELCERT_SESSION_SECRET"


@dataclass
class LabConfig:
    """Settings of one lab server.

    Args:
        db: SQLAlchemy URL or SQLite path shared by the registry and the evidence store.
        data_dir: Folder for audit outputs (``audits/<id>/``) and the session secret.
        lab_id: Name the lab signs certificates with.
        private_key: Ed25519 key that signs every finished audit's outcome (refused
            included) and the transparency log's tree heads; without it audits finish
            without a certificate and nothing is logged.
        public_key: Key the public verification page checks against (default: the
            ``.pub`` beside ``private_key``).
        passphrase_env: Environment variable holding the private key's passphrase.
        policy_dir: Extra folder of policy YAML files offered besides the bundled ones.
            The web never reads a policy from an arbitrary path.
        valid_days: Certificate validity.
        worker: Run audits in a background thread of this server.
        lease_seconds: A running audit whose heartbeat is older is taken as interrupted.
        max_body: Largest request body any route accepts (bytes); larger ones get 413
            before they are read.
        max_upload: The same for upload routes (the verification page's file upload).
        trusted_proxies: Addresses of reverse proxies whose ``X-Forwarded-Proto`` and
            ``X-Forwarded-For`` are believed (HTTPS detection, per-address login limits).
        hsts_seconds: ``max-age`` of the HSTS header sent on HTTPS requests.
        login_account_failures: Failed logins an account gets before back-off starts.
        login_address_failures: Failed logins a client address gets before back-off starts.
        login_backoff_base: First lock-out in seconds; it doubles with each further failure.
        login_backoff_max: Longest lock-out in seconds.
        executor: Where audits run: ``inprocess`` (one at a time in a thread of this
            server) or ``ray`` (each audit a Ray task on the cluster; default
            ``$MODELCERT_EXECUTOR``).
        audits_per_endpoint: With the ray executor, audits running at once against one
            provider endpoint (``MODELCERT_AUDITS_PER_ENDPOINT``).
        max_audits: With the ray executor, audits this server keeps claimed at once.
        monitor_on_certify: Plan overrides for the monitoring reference sample the worker
            draws when an audit certifies (``{}``: the tier's default plan, 5,000 queries
            at api); ``None`` (the default) draws none. The certificate then names the
            reference sample's digest (docs/monitoring.md).
    """

    db: str
    data_dir: Path
    lab_id: str = "modelcert-lab"
    private_key: Path | None = None
    public_key: Path | None = None
    passphrase_env: str | None = None
    policy_dir: Path | None = None
    valid_days: int = 365
    worker: bool = True
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    session_secret: str = field(default="", repr=False)
    max_body: int = 1024 * 1024
    max_upload: int = 2 * 1024 * 1024
    trusted_proxies: tuple[str, ...] = ()
    hsts_seconds: int = 365 * 24 * 3600
    login_account_failures: int = 5
    login_address_failures: int = 20
    login_backoff_base: float = 1.0
    login_backoff_max: float = 900.0
    executor: str | None = None
    audits_per_endpoint: int = field(default_factory=lambda: int(os.environ.get("MODELCERT_AUDITS_PER_ENDPOINT")
                                                                 or 2))
    max_audits: int = 8
    monitor_on_certify: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.public_key is None and self.private_key is not None:
            self.public_key = Path(self.private_key).with_suffix(".pub")
        if not self.session_secret:
            self.session_secret = os.environ.get(SESSION_SECRET_ENV) or self._stored_secret()

    @property
    def audits_dir(self) -> Path:
        return self.data_dir / "audits"

    def _stored_secret(self) -> str:
        """A per-lab secret kept in the data folder, so sessions survive a restart."""
        path = self.data_dir / ".session-secret"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
            return path.read_text().strip()
        except FileExistsError:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot use data folder {self.data_dir}: {exc.strerror}") from None

    def policies(self) -> list[str]:
        """Policy names offered for audits: bundled ones plus ``policy_dir/*.yaml``."""
        from importlib import resources

        bundled = resources.files("modelcert.policy") / "policies"
        names = sorted(p.name.rsplit(".", 1)[0] for p in bundled.iterdir() if p.name.endswith((".yaml", ".yml")))
        if self.policy_dir is not None and self.policy_dir.is_dir():
            names += sorted(p.stem for p in self.policy_dir.glob("*.yaml") if p.stem not in names)
        return names

    def policy_ref(self, name: str) -> str:
        """What the audit engine gets for an offered policy name (a bundled name or a file)."""
        if name not in self.policies():
            raise ConfigError(f"unknown policy {name!r}; offered: {', '.join(self.policies())}")
        if self.policy_dir is not None and (self.policy_dir / f"{name}.yaml").is_file():
            return str(self.policy_dir / f"{name}.yaml")
        return name
