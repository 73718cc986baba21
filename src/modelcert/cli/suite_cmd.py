"""``modelcert suite``: seal a secret test suite, reveal chosen items, check a reveal."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from modelcert.certify.keys import load_public_key, write_new_file
from modelcert.certify.verify import read_certificate, verify_certificate
from modelcert.errors import ConfigError, VerificationError
from modelcert.evidence import suites

app = typer.Typer(help="Secret test suites: salted commitments, Merkle root, selective reveal.",
                  no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("seal")
def seal(
    items: Path = typer.Argument(..., help="Suite items, JSONL, each with a unique 'id'."),
    out: Path = typer.Option(..., "--out", help="New folder for suite.public.json and suite.secret.json."),
    name: str = typer.Option(None, "--name", help="Suite name (default: the file's stem)."),
) -> None:
    """Commit to every item with a fresh salt; print the root that certificates carry."""
    sealed = suites.seal(suites.read_items(items), name=name or items.stem)
    suites.write_sealed(sealed, out)
    console.print(f"sealed {len(sealed.items)} items of suite {sealed.name!r} into {out}")
    console.print(f"public (shareable): {out / suites.PUBLIC_FILE}")
    console.print(f"secret (keep in the lab, mode 0600): {out / suites.SECRET_FILE}")
    print(f"root: {sealed.root}")


@app.command("reveal")
def reveal(
    sealed: Path = typer.Option(..., "--sealed", help="Sealed suite folder."),
    items: str = typer.Option(..., "--items", help="Comma-separated item ids to reveal."),
    out: Path = typer.Option(..., "--out", help="Proof file to write."),
) -> None:
    """Write the chosen items, their salts and inclusion proofs; the rest stays secret."""
    suite = suites.load_sealed(sealed)
    proof = suites.reveal(suite, [i.strip() for i in items.split(",") if i.strip()])
    if out.exists():
        raise ConfigError(f"{out} already exists; refusing to overwrite it")
    write_new_file(out, (json.dumps(proof, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    console.print(f"revealed {len(proof['items'])} of {proof['size']} items of {suite.name!r} into {out}")


@app.command("prove-check")
def prove_check(
    proof: Path = typer.Argument(..., help="Proof file from 'suite reveal'."),
    root: str = typer.Option(None, "--root", help="The trusted suite root (hex)."),
    cert: Path = typer.Option(None, "--cert", help="Take the root from this certificate instead..."),
    key: Path = typer.Option(None, "--key", help="...verified with this lab public key."),
    suite: str = typer.Option(None, "--suite", help="Suite name in the certificate (default: the proof's)."),
) -> None:
    """Check revealed items against a trusted root: exit 0 if all are in the suite, 1 if not."""
    doc = suites.read_proof(proof)
    if (root is None) == (cert is None):
        raise ConfigError("give exactly one of --root HEX or --cert FILE --key PUB")
    if cert is not None:
        if key is None:
            raise ConfigError("--cert needs --key (the lab's public key)")
        predicate = verify_certificate(read_certificate(cert), load_public_key(key)).statement.predicate
        name = suite or (doc.get("suite") if isinstance(doc, dict) else None)
        if name not in predicate.suites:
            raise VerificationError(f"the certificate names no suite {name!r} (it has: {', '.join(predicate.suites)})")
        root = predicate.suites[name]
    assert root is not None
    checked = suites.check_proof(doc, root.strip().lower())
    ids = ", ".join(str(i.get("id")) for i in checked)
    print(f"valid: {len(checked)} item(s) proven in the suite with root {root[:16]}…: {ids}")
