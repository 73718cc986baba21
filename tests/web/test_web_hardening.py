"""Server hardening (issue 17, item 5): login throttling, constant login work, body limits,
HTTPS-only cookies and HSTS.

Most tests run the real app in-process (Starlette's TestClient sets the client address
and scheme); the body-limit test runs a real ``modelcert serve`` process and reads its
peak RSS (VmHWM) from /proc while a 100 MB body is pushed at it.
"""

from __future__ import annotations

import re
import select
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_lab import start_server

from modelcert.registry import Registry
from modelcert.web import LabConfig, create_app
from modelcert.web.app import all_routes
from modelcert.web.security import LoginThrottle

PASSWORD = "hardening-pass-1"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def make_app(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., object]:
    tmp = tmp_path_factory.mktemp("hardening")
    db = f"sqlite:///{tmp / 'lab.sqlite'}"
    with Registry(db) as reg:
        reg.create_user("normal", "auditor", password=PASSWORD)
        reg.create_user("tokenonly", "auditor")  # API token only: no password at all
        reg.issue_token("tokenonly")
        reg.create_user("disabled", "auditor", password=PASSWORD)
        reg.disable_user("disabled")

    def make(**settings: object) -> object:
        return create_app(LabConfig(db=db, data_dir=tmp / "data", worker=False, **settings))

    return make


def _csrf(c: TestClient) -> str:
    page = c.get("/login", headers={"Accept": "text/html"}).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _login(c: TestClient, csrf: str, user: str, password: str):  # type: ignore[no-untyped-def]
    return c.post("/login", data={"username": user, "password": password, "csrf_token": csrf},
                  headers={"Accept": "text/html"}, follow_redirects=False)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_after_the_free_failures_and_is_capped() -> None:
    clock = FakeClock()
    t = LoginThrottle(account_free=3, address_free=100, base=1.0, cap=60.0, clock=clock)
    waits = []
    for _ in range(12):
        t.failed("alice", "10.0.0.1")
        waits.append(t.retry_after("alice", "10.0.0.1"))
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert t.retry_after("bob", "10.0.0.2") == 0  # other accounts, other addresses: untouched
    t.succeeded("alice")
    assert t.retry_after("alice", "10.0.0.2") == 0
    clock.now += 4000  # failures are forgotten after an hour without one
    t.failed("alice", "10.0.0.1")
    assert t.retry_after("alice", "10.0.0.1") == 0


def test_200_bad_logins_on_one_account_are_answered_429_after_the_limit(make_app: Callable[..., object]) -> None:
    app = make_app()
    clock = FakeClock()
    app.state.login_throttle = LoginThrottle(account_free=5, address_free=1000, clock=clock)
    with TestClient(app, client=("203.0.113.7", 4000)) as c:
        csrf = _csrf(c)
        answers = [_login(c, csrf, "normal", f"guess-{i}") for i in range(200)]
        codes = [r.status_code for r in answers]
        assert codes[:6] == [401] * 6  # five free failures, the sixth starts the back-off
        assert codes[6:] == [429] * 194
        assert all(int(r.headers["Retry-After"]) >= 1 for r in answers[6:])
        assert _login(c, csrf, "normal", PASSWORD).status_code == 429  # even the right password waits
        clock.now += int(answers[-1].headers["Retry-After"])
        assert _login(c, csrf, "normal", PASSWORD).status_code == 303  # after the wait it works


def test_one_address_spraying_many_accounts_is_throttled(make_app: Callable[..., object]) -> None:
    app = make_app(login_address_failures=20)
    with TestClient(app, client=("198.51.100.1", 4000)) as spray, TestClient(app, client=("198.51.100.2", 4000)) as other:
        csrf = _csrf(spray)
        codes = [_login(spray, csrf, f"user{i}", "x" * 10).status_code for i in range(22)]
        assert codes[:21] == [401] * 21 and codes[21] == 429
        assert _login(other, _csrf(other), "normal", PASSWORD).status_code == 303  # another address is fine


def test_login_costs_the_same_whatever_the_account_state(make_app: Callable[..., object]) -> None:
    """Medians over interleaved rounds. Before the fix token-only and disabled accounts
    answered in 6.7 / 9.1 ms against 69-76 ms (no scrypt). The acceptance figure (median
    spread < 10 ms) is measured with more rounds by ``bench/server_hardening.py``; this
    test's bound is wider for a shared machine but still far below the old 60 ms gap."""
    app = make_app(login_account_failures=10**6, login_address_failures=10**6)
    states = {"normal, wrong password": "normal", "token-only": "tokenonly", "disabled": "disabled",
              "unknown": "nobody-by-this-name"}
    times: dict[str, list[float]] = {s: [] for s in states}
    with TestClient(app) as c:
        csrf = _csrf(c)
        for user in states.values():
            _login(c, csrf, user, "wrong-password")  # warm-up
        for _ in range(15):
            for state, user in states.items():
                t0 = time.perf_counter()
                r = _login(c, csrf, user, "wrong-password")
                times[state].append(time.perf_counter() - t0)
                assert r.status_code == 401
    medians = {s: statistics.median(v) * 1000 for s, v in times.items()}
    spread = max(medians.values()) - min(medians.values())
    assert min(medians.values()) > 20, medians  # every state does the scrypt (~50 ms), none skips it
    assert spread < 25, medians


def test_secure_cookie_and_hsts_only_on_https(make_app: Callable[..., object]) -> None:
    app = make_app()
    with TestClient(app, base_url="https://lab.example") as c:
        r = c.get("/login")
        assert "secure" in r.headers["set-cookie"].lower()
        assert r.headers["strict-transport-security"] == "max-age=31536000"
    with TestClient(app, base_url="http://localhost") as c:
        r = c.get("/login")
        assert "secure" not in r.headers["set-cookie"].lower()
        assert "strict-transport-security" not in r.headers


def test_forwarded_proto_counts_only_from_a_trusted_proxy(make_app: Callable[..., object]) -> None:
    app = make_app(trusted_proxies=("10.9.9.9",))
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.44"}
    with TestClient(app, client=("10.9.9.9", 1234)) as proxied:
        r = proxied.get("/login", headers=fwd)
        assert "secure" in r.headers["set-cookie"].lower() and "strict-transport-security" in r.headers
    with TestClient(app, client=("10.8.8.8", 1234)) as direct:
        r = direct.get("/login", headers=fwd)
        assert "secure" not in r.headers["set-cookie"].lower() and "strict-transport-security" not in r.headers


def test_every_route_refuses_a_body_over_its_limit(make_app: Callable[..., object]) -> None:
    app = make_app()
    tried = 0
    with TestClient(app, raise_server_exceptions=False) as c:
        for route in all_routes(app):
            for method in sorted(getattr(route, "methods", None) or ()):
                if method in ("HEAD", "OPTIONS"):
                    continue
                path = re.sub(r"\{[^}]+\}", "1", route.path)  # type: ignore[attr-defined]
                limit = 2 * MiB if (method, path) == ("POST", "/verify") else MiB
                r = c.request(method, path, content=b"x" * (limit + 1), headers={"Content-Type": "application/json"})
                assert r.status_code == 413, (method, path, r.status_code)
                tried += 1
        assert tried > 20
        # no Content-Length (chunked): counted while read, refused when it crosses the limit
        r = c.post("/api/v1/verify", content=iter([b"x" * 65536] * 40), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        # the upload route takes more than the default: a 1.5 MiB upload reaches the page's own check
        r = c.post("/verify", files={"upload": ("c.json", b"{" + b" " * int(1.5 * MiB) + b"}")})
        assert r.status_code == 413 and "larger than 1 MB" in r.text


def _vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def push_body(port: int, path: str, total: int, *, chunked: bool) -> tuple[int, int]:
    """Send up to ``total`` bytes; stop as soon as the server answers or stops reading.
    Returns (status, bytes sent)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(3)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
              .encode())
    block = b"[" + b"1," * (MiB // 2 - 1) + b"1"
    sent = 0
    try:
        while sent < total and not select.select([s], [], [], 0)[0]:
            data = block[: total - sent]
            s.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            sent += len(data)
        if chunked and sent >= total:
            s.sendall(b"0\r\n\r\n")
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: that is the point
    s.settimeout(10)
    head = s.recv(4096)
    s.close()
    return int(head.split(b" ", 2)[1]), sent


def test_a_100_mb_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from modelcert.certify import generate_keypair

    generate_keypair(tmp_path / "lab.key", tmp_path / "lab.pub")
    srv = start_server(f"sqlite:///{tmp_path / 'lab.sqlite'}", tmp_path / "data", tmp_path / "lab.key", worker=False)
    try:
        port = int(srv.url.rsplit(":", 1)[1])
        before = _vm_hwm(srv.proc.pid)
        status_len, sent_len = push_body(port, "/api/v1/verify", 100 * 10**6, chunked=False)
        status_chunked, sent_chunked = push_body(port, "/api/v1/verify", 100 * 10**6, chunked=True)
        growth = _vm_hwm(srv.proc.pid) - before
    finally:
        srv.stop()
    assert (status_len, status_chunked) == (413, 413)
    assert sent_len < 100 * 10**6 and sent_chunked < 100 * 10**6
    assert growth < 50 * 10**6, f"peak RSS grew by {growth / 1e6:.1f} MB"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    return tmp / "tls.crt", tmp / "tls.key"


def test_a_lab_serving_tls_sets_secure_cookies_and_hsts(tmp_path: Path) -> None:
    """``modelcert serve --tls-cert/--tls-key``: a real HTTPS server, end to end."""
    import httpx

    from modelcert.certify import generate_keypair

    generate_keypair(tmp_path / "lab.key", tmp_path / "lab.pub")
    crt, key = _self_signed(tmp_path)
    srv = start_server(f"sqlite:///{tmp_path / 'lab.sqlite'}", tmp_path / "data", tmp_path / "lab.key",
                       worker=False, extra_args=["--tls-cert", str(crt), "--tls-key", str(key)], scheme="https")
    try:
        r = httpx.get(f"{srv.url}/login", verify=str(crt))
    finally:
        srv.stop()
    assert srv.url.startswith("https://")
    assert "secure" in r.headers["set-cookie"].lower()
    assert r.headers["strict-transport-security"] == "max-age=31536000"
