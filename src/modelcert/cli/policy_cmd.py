"""``modelcert policy``: the catalogue of legal requirements, and policy files."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Legal requirements catalogue and certification policies.", no_args_is_help=True)


@app.command("requirements")
def requirements(
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON."),
) -> None:
    """List the catalogue of legal requirements, testable ones and documentation items."""
    from modelcert.policy.catalogue import load_catalogue

    cat = load_catalogue()
    if as_json:
        print(json.dumps(cat.model_dump(mode="json"), indent=2))
        return
    table = Table(title=f"Legal requirements catalogue {cat.version}", show_lines=False)
    for col in ("id", "reference", "title", "assessed by", "lowest tier"):
        table.add_column(col, overflow="fold")
    for e in cat.entries:
        table.add_row(e.id, e.reference, e.title, "test" if e.testable else "documentation (auditor ticks)",
                      e.tier or "—")
    Console().print(table)


@app.command("list")
def list_policies(as_json: bool = typer.Option(False, "--json", help="Print a JSON list (schema in docs/cli.md).")
                  ) -> None:
    """List the bundled policies."""
    from modelcert.policy.loader import bundled_policies, load_policy

    rows = []
    for name in bundled_policies():
        p = load_policy(name).model
        rows.append({"id": p.id, "version": p.version, "title": p.title, "requirements": len(p.requirements),
                     "documentation": len(p.documentation)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from modelcert.cli.tables import listing, print_table

    print_table(listing(("policy", "requirements", "documentation", "title"),
                        [(r["id"], r["requirements"], r["documentation"], r["title"]) for r in rows],
                        whole=("policy", "requirements", "documentation")))


@app.command("show")
def show(
    policy: str = typer.Argument("eu-gpai-systemic-risk", help="Bundled policy name or YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print the validated policy as JSON."),
) -> None:
    """Show a policy: its requirements with legal basis, metric, threshold and design."""
    from modelcert.policy.catalogue import legal_basis
    from modelcert.policy.loader import load_policy, policy_digest

    loaded = load_policy(policy)
    p = loaded.model
    if as_json:
        print(json.dumps({**p.model_dump(mode="json"), "digest": policy_digest(p)}, indent=2))
        return
    console = Console()
    console.print(f"[bold]{p.id}[/] v{p.version}: {p.title}\ndigest {policy_digest(p)}  file {loaded.path}")
    table = Table(show_lines=False)
    for col in ("requirement", "legal basis", "severity", "test", "threshold", "design"):
        table.add_column(col, overflow="fold")
    for r in p.requirements:
        if r.kind == "rate":
            test = f"{r.check}:{r.metric}"
            thr = f"{'<=' if r.direction == 'max' else '>='} {r.threshold:g} (alpha {r.alpha:g}, beta {r.beta:g})"
            d = r.design
            design = f"fixed n={d.n}" if d.kind == "fixed" else f"{d.method} margin {d.margin:g} cap {d.cap}" \
                if d.margin is not None else f"{d.method} cap {d.cap}"
        elif r.kind == "bias":
            test, thr, design = r.check, f"|gap| within {r.tolerance:g} (TOST), BH q={r.fdr:g}", "whole suite"
        elif r.kind == "scan":
            test = ", ".join(f"{t}: {c}" for t, c in r.checks.items())
            thr, design = f"no finding ({r.metric}); PASS only at {'/'.join(r.pass_at)}", "one scan"
        else:
            test, thr, design = f"analyzer {r.analyzer}", "no blocking finding", "—"
        table.add_row(r.id, legal_basis(r.catalogue), r.severity, test, thr, design)
    console.print(table)
    if p.documentation:
        console.print("documentation items (auditor ticks): " + ", ".join(p.documentation))
    for i, rule in enumerate(p.outcome, 1):
        w = rule.when
        cond = (f"any {'/'.join(w.verdict)}" + (f" ({'/'.join(w.severity)})" if w.severity else "")) if w.verdict \
            else "a documentation item is open"
        console.print(f"rule {i}: if {cond} -> {rule.outcome}")
    console.print(f"otherwise -> {p.default}")


@app.command("validate")
def validate(
    files: list[str] = typer.Argument(..., help="Policy YAML files (or bundled names)."),
    strict: bool = typer.Option(False, "--strict", help="Also fail when a named check or analyzer is not installed."),
) -> None:
    """Validate policy files; a problem is one line with file and line, exit 2."""
    from modelcert.checks.registry import all_checks
    from modelcert.errors import ConfigError
    from modelcert.policy.analyzers import get_analyzer
    from modelcert.policy.loader import load_policy, policy_digest

    installed = {c.id for c in all_checks()}
    for f in files:
        loaded = load_policy(f)
        p = loaded.model
        missing = []
        for r in p.requirements:
            if r.kind == "analyzer":
                spec = get_analyzer(r.analyzer)
                if spec is None or spec.run is None:
                    missing.append(f"analyzer {r.analyzer} ({r.id})")
            else:
                ids = list(r.checks.values()) if r.kind == "scan" else [r.check]
                missing += [f"check {c} ({r.id})" for c in ids if c not in installed]
        if missing and strict:
            raise ConfigError(f"{loaded.path}: not installed: {', '.join(missing)}")
        note = f"; not installed (NOT_ASSESSED when audited): {', '.join(missing)}" if missing else ""
        print(f"ok {loaded.path}: {p.id} v{p.version}, {len(p.requirements)} requirements, digest "
              f"{policy_digest(p)[:16]}{note}")
