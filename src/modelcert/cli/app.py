"""The root Typer app and the list of sub-command modules.

Each area adds its module to ``SUBAPPS``; the module defines ``app`` (a Typer group,
mounted under ``name``) or, with ``name=None``, ``register(root)`` for top-level
commands such as ``run`` or ``audit``.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="modelcert",
    help="An open-source testing lab for AI models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, group name or None for top-level commands)
SUBAPPS: list[tuple[str, str | None]] = [
    ("modelcert.cli.targets_cmd", "targets"),
    ("modelcert.cli.checks_cmd", "checks"),
    ("modelcert.cli.run_cmd", None),
    ("modelcert.cli.audit_cmd", None),
    ("modelcert.cli.policy_cmd", "policy"),
    ("modelcert.cli.evidence_cmd", "evidence"),
    ("modelcert.cli.keys_cmd", "keys"),
    ("modelcert.cli.certify_cmd", None),
    ("modelcert.cli.log_cmd", "log"),
    ("modelcert.cli.suite_cmd", "suite"),
    ("modelcert.cli.scan_cmd", None),
    ("modelcert.cli.bias_cmd", "bias"),
    ("modelcert.cli.serve_cmd", None),
    ("modelcert.cli.organisms_cmd", "organisms"),
    ("modelcert.cli.judges_cmd", "judges"),
    ("modelcert.cli.monitor_cmd", "monitor"),
]

_registered = False


def register_subapps() -> None:
    """Import and mount every sub-command module once (lazily, to keep --help fast)."""
    global _registered
    if _registered:
        return
    for module_name, group in SUBAPPS:
        module = importlib.import_module(module_name)
        if group is None:
            module.register(app)
        else:
            app.add_typer(module.app, name=group)
    _registered = True
