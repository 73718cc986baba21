"""``modelcert keys``: create the lab's Ed25519 signing key and publish its public half."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from modelcert.certify import keys
from modelcert.errors import ConfigError

app = typer.Typer(help="Lab signing keys (Ed25519).", no_args_is_help=True)
console = Console(soft_wrap=True)

PASSPHRASE_ENV = typer.Option(
    None, "--passphrase-env", metavar="VAR", help="Read the key passphrase from this environment variable."
)


def passphrase_from_env(var: str | None) -> bytes | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(f"environment variable {var} is not set")
    if not value:
        raise ConfigError(f"environment variable {var} is empty")
    return value.encode("utf-8")


def load_signing_key(path: Path, passphrase_env: str | None):
    """Load the lab's private key, asking for its passphrase on a terminal if needed."""
    passphrase = passphrase_from_env(passphrase_env)
    if passphrase is None and keys.is_encrypted(path):
        if not sys.stdin.isatty():
            raise ConfigError(f"private key {path} is encrypted; pass --passphrase-env VAR")
        passphrase = typer.prompt(f"Passphrase for {path}", hide_input=True).encode("utf-8")
    return keys.load_private_key(path, passphrase=passphrase)


@app.command("init")
def init(
    out: Path = typer.Option(Path("lab.key"), "--out", help="Private key file to create (mode 0600)."),
    public_out: Path = typer.Option(None, "--public-out", help="Public key file (default: OUT with .pub)."),
    passphrase_env: str = PASSPHRASE_ENV,
    ask_passphrase: bool = typer.Option(False, "--ask-passphrase", help="Prompt for a passphrase."),
) -> None:
    """Create an Ed25519 key pair; never overwrites an existing key."""
    passphrase = passphrase_from_env(passphrase_env)
    if ask_passphrase and passphrase is None:
        passphrase = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=True).encode("utf-8")
    public_path = public_out or out.with_suffix(".pub")
    key = keys.generate_keypair(out, public_path, passphrase=passphrase)
    console.print(f"private key: {out} (mode 0600{', encrypted' if passphrase else ''})")
    console.print(f"public key:  {public_path}")
    console.print(f"key id:      {keys.key_id(key.public_key())}")


@app.command("export-public")
def export_public(
    key_file: Path = typer.Argument(..., help="Private key file."),
    out: Path = typer.Option(..., "--out", help="Public key file to write."),
    passphrase_env: str = PASSPHRASE_ENV,
) -> None:
    """Write the public key of a private key file."""
    key = load_signing_key(key_file, passphrase_env)
    keys.write_new_file(out, keys.public_pem(key.public_key()))
    console.print(f"public key: {out}\nkey id:     {keys.key_id(key.public_key())}")


@app.command("show")
def show(key_file: Path = typer.Argument(..., help="Public key file (.pub).")) -> None:
    """Print a public key's key id (sha256 of the raw Ed25519 public key)."""
    print(keys.key_id(keys.load_public_key(key_file)))
