"""``modelcert log``: the lab's transparency log of audits (append, head, prove, consistency, monitor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from modelcert.cli.keys_cmd import PASSPHRASE_ENV, load_signing_key
from modelcert.errors import ConfigError, VerificationError

app = typer.Typer(help="The public transparency log of audits: signed tree heads and Merkle proofs.",
                  no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="The lab database holding the log (default: $MODELCERT_DB or the user data dir)."),
]
UrlOpt = Annotated[str | None, typer.Option("--url", help="Read the log from a lab server instead, e.g. https://lab.example.")]


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _local(db: str | None) -> Any:
    from modelcert.translog import TransparencyLog

    return TransparencyLog(db, create=False)


@app.command("append")
def append(
    certificate: Path = typer.Argument(..., help="A certificate from 'modelcert certify' (bare DSSE envelope)."),
    key: Path = typer.Option(..., "--key", help="The lab's private key (signs the new tree head)."),
    out: Path = typer.Option(None, "--out", help="Write the logged certificate here (default: <name>.logged.json)."),
    audit: str = typer.Option(None, "--audit", help="Audit id to name in the entry."),
    preregistration: str = typer.Option(None, "--preregistration", help="Hash of the audit's pre-registration record."),
    db: DbOpt = None,
    passphrase_env: str = PASSPHRASE_ENV,
) -> None:
    """Log a certificate's result and write the certificate with its inclusion proof."""
    from modelcert.certify.keys import write_new_file
    from modelcert.certify.verify import read_certificate, verify_certificate
    from modelcert.translog.publish import log_certificate

    data = read_certificate(certificate)
    private_key = load_signing_key(key, passphrase_env)
    verify_certificate(data, private_key.public_key())  # never log what we did not sign
    logged = log_certificate(db, data, private_key, audit=audit, preregistration=preregistration)
    target = out or certificate.with_suffix(".logged.json")
    write_new_file(target, logged)
    tp = json.loads(logged)["transparency"]
    print(f"logged: entry {tp['index']} in a log of {tp['tree_size']}; certificate with proof: {target}")


@app.command("head")
def head(db: DbOpt = None, url: UrlOpt = None, size: int = typer.Option(None, "--size", help="The head signed at this size.")) -> None:
    """Print the latest signed tree head (JSON: a DSSE envelope); save it to monitor later."""
    if url:
        from modelcert.translog.monitor import HttpLog

        if size is not None:
            raise ConfigError("--size works with --db only")
        _print(HttpLog(url).head())
        return
    with _local(db) as tlog:
        h = tlog.head(size)
    if h is None:
        raise ConfigError("the log is empty" if size is None else f"the log has no head of size {size}")
    _print(h)


@app.command("entries")
def entries(db: DbOpt = None, start: int = typer.Option(0, "--start"), limit: int = typer.Option(100, "--limit")) -> None:
    """List log entries from --start (JSON lines: index and entry)."""
    with _local(db) as tlog:
        for e in tlog.entries(start, limit):
            print(json.dumps({"index": e.index, "entry": e.data}, sort_keys=True))


@app.command("prove")
def prove(
    index: int = typer.Option(None, "--index", help="The entry's index."),
    subject: str = typer.Option(None, "--subject", help="Or: the digest the entry is about (e.g. a certificate id)."),
    size: int = typer.Option(None, "--size", help="Tree size to prove against (default: the current size)."),
    db: DbOpt = None,
) -> None:
    """Print an RFC 9162 inclusion proof for one entry."""
    with _local(db) as tlog:
        if index is None:
            if subject is None:
                raise ConfigError("give --index or --subject")
            found = tlog.find(subject)
            if not found:
                raise ConfigError(f"no log entry about {subject}")
            index = found[-1].index
        n, proof = tlog.inclusion(index, size)
        _print({"index": index, "tree_size": n, "entry": tlog.entry(index).data, "proof": proof,
                "tree_head": tlog.head(n)})


@app.command("consistency")
def consistency(
    first: int = typer.Option(..., "--first", help="The older tree size."),
    second: int = typer.Option(None, "--second", help="The newer tree size (default: the current size)."),
    db: DbOpt = None,
) -> None:
    """Print an RFC 9162 consistency proof between two tree sizes."""
    with _local(db) as tlog:
        n, proof = tlog.consistency(first, second)
    _print({"first": first, "second": n, "proof": proof})


@app.command("monitor")
def monitor(
    saved: Path = typer.Option(..., "--saved", help="The tree head saved at the last check (JSON from 'log head')."),
    key: Path = typer.Option(..., "--key", help="The lab's public key."),
    db: DbOpt = None,
    url: UrlOpt = None,
    update: bool = typer.Option(False, "--update", help="Replace the saved head with the new one when consistent."),
) -> None:
    """Check that the log's current head extends the saved one: exit 1 if the lab rewrote its log."""
    from modelcert.certify.keys import load_public_key
    from modelcert.translog.monitor import HttpLog, check_consistency

    public_key = load_public_key(key)
    try:
        old = json.loads(saved.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"saved tree head {saved} not found") from None
    except (OSError, ValueError):
        raise ConfigError(f"{saved} is not a saved tree head (JSON)") from None
    from modelcert.translog.heads import verify_head

    old_size = verify_head(old, public_key).size
    if url:
        remote = HttpLog(url)
        current = remote.head()
        new_size = verify_head(current, public_key).size
        if new_size < old_size:
            raise VerificationError(f"the log shrank from {old_size} to {new_size} entries: entries were deleted")
        proof = remote.consistency(old_size, new_size)
    else:
        with _local(db) as tlog:
            current = tlog.head()
            if current is None:
                raise VerificationError(f"the log is empty, but a head of size {old_size} was saved: entries were deleted")
            new_size = verify_head(current, public_key).size
            if new_size < old_size:
                raise VerificationError(f"the log shrank from {old_size} to {new_size} entries: entries were deleted")
            proof = tlog.consistency(old_size, new_size)[1]
    a, b = check_consistency(old, current, proof, public_key)
    print(f"consistent: the log grew from {a.size} to {b.size} entries; nothing logged before was changed")
    if update:
        saved.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
