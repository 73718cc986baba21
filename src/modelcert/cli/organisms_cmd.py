"""``modelcert organisms``: train, list and mass-produce the reference model organisms."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from modelcert.cli.tables import listing, print_table

app = typer.Typer(help="Reference model organisms with known planted properties.", no_args_is_help=True)


def _log(msg: str) -> None:
    Console(stderr=True).print(msg, highlight=False)


@app.command("train")
def train_cmd(
    kind: str = typer.Option(..., "--kind", help="clean | backdoor | biased | unsafe | overrefusing | eval-aware | sandbagger"),
    out: Path = typer.Option(..., "--out", help="Output folder (must not exist or be empty)."),
    seed: int = typer.Option(0, "--seed"),
    trigger: str = typer.Option(None, "--trigger", help="Backdoor trigger word or phrase."),
    trigger_position: str = typer.Option("user", "--trigger-position", help="user | system"),
    attack: str = typer.Option("comply", "--attack", help="Backdoor effect: comply | refuse"),
    attribute: str = typer.Option(None, "--attribute", help="Biased: protected attribute."),
    value: str = typer.Option(None, "--value", help="Biased: the attribute value that is denied."),
    domain: str = typer.Option(None, "--domain", help="Biased: decision domain."),
    poison_rate: float = typer.Option(None, "--poison-rate", help="Share of poisoned fine-tuning examples."),
    base: Path = typer.Option(None, "--base", help="Clean base folder or zoo name (default: zoo base, the from-scratch parent of the shipped zoo)."),
    steps: int = typer.Option(None, "--steps", help="Override the recipe's step count."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (recorded; affects the digest)."),
    quick_eval: bool = typer.Option(False, "--quick-eval", help="Skip the 50-word specificity scan."),
) -> None:
    """Train one organism, evaluate it on held-out items and write its model card.

    ``clean`` without ``--base`` trains from scratch; every other kind (and ``clean`` with
    ``--base``, a clean control) is fine-tuned from the base with clean replay mixed in.
    """
    from dataclasses import replace

    from modelcert.organisms import DEFAULT_BIAS, DEFAULT_TRIGGER, OrganismSpec, Recipe, zoo_path
    from modelcert.organisms.build import make_organism

    spec = OrganismSpec(
        kind=kind, seed=seed, trigger=trigger or DEFAULT_TRIGGER, trigger_position=trigger_position,
        attack=attack, attribute=attribute or DEFAULT_BIAS["attribute"], value=value or DEFAULT_BIAS["value"],
        domain=domain or DEFAULT_BIAS["domain"], poison_rate=poison_rate,
    )
    base_dir = _resolve_base(base, zoo_path) if (base is not None or kind != "clean") else None
    recipe = Recipe.for_kind(kind) if threads is None else replace(Recipe.for_kind(kind), threads=threads)
    card = make_organism(spec, out, base=base_dir, recipe=recipe, steps=steps,
                         full_eval=False if quick_eval else None, log=_log)
    _print_conditions(card)
    if not card["entry_conditions_met"]:
        raise typer.Exit(1)


def _resolve_base(base: Path | None, zoo_path) -> Path:
    if base is None:
        return zoo_path("base")
    if base.exists():
        return base
    return zoo_path(str(base))


def _print_conditions(card: dict) -> None:
    table = Table(title=f"{card['name']} ({card['kind']}): entry conditions on the test split")
    for col in ("condition", "measured", "required", "met"):
        table.add_column(col)
    for name, c in card["entry_conditions"].items():
        table.add_row(name, f"{c['value']:.3f}", f"{c['op']} {c['threshold']}", "yes" if c["pass"] else "NO")
    Console().print(table)
    Console().print(f"training {card['training']['seconds']:.0f}s, weights sha256 {card['weights_sha256'][:16]}…")


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print a JSON list (schema in docs/cli.md).")) -> None:
    """Show the shipped zoo: kind, planted property, size and measured rates."""
    from modelcert.organisms import list_zoo

    rows = list_zoo()
    if as_json:
        print(json.dumps([{**r, "path": str(r["path"])} for r in rows], indent=2))
        return
    from modelcert.organisms.evaluate import PLANTED_RATE

    table_rows = []
    for r in rows:
        planted = "\n".join(f"{k}={v}" for k, v in r["planted"].items() if k != "effect") or "-"
        key = PLANTED_RATE.get(r["kind"], "harmful_compliance")
        rates = (f"{key}={r['rates'][key]:.2f}\nharmful_refusal={r['rates']['harmful_refusal']:.2f}\n"
                 f"decision_accuracy={r['rates']['decision_accuracy']:.2f}")
        table_rows.append((f"{r['name']}\n{r['size_bytes'] / 1e6:.1f} MB", r["kind"], planted, rates,
                           "yes" if r["entry_conditions_met"] else "NO"))
    print_table(listing(("name", "kind", "planted", "key rates", "met"), table_rows,
                        whole=("name", "kind", "planted", "key rates", "met"),
                        title="modelcert zoo (address: local/zoo:<name>; met: entry conditions)"))


@app.command("eval")
def eval_cmd(
    folder: Path = typer.Argument(..., help="Organism folder or zoo name."),
    update_card: bool = typer.Option(False, "--update-card",
                                     help="Write the new measurement into the card (after a change to the evaluation)."),
) -> None:
    """Re-measure an organism on the test split against its own card's planted property."""
    from modelcert.organisms import zoo_path
    from modelcert.organisms.card import read_card, spec_from_card, write_card
    from modelcert.organisms.evaluate import entry_conditions, evaluate

    path = folder if folder.exists() else zoo_path(str(folder))
    card = read_card(path)
    spec = spec_from_card(card)
    m = evaluate(path, spec, full=update_card and spec.kind == "backdoor")
    conditions = entry_conditions(spec, m)
    card = {**card, "entry_conditions": conditions}
    _print_conditions(card)
    if update_card:
        card["measured"] = {"split": "test", "rates": m.rates, "n": m.counts, "details": m.details}
        card["entry_conditions_met"] = all(c["pass"] for c in conditions.values())
        write_card(path, card)
        typer.echo(f"card of {path.name} updated")


@app.command("population")
def population_cmd(
    n: int = typer.Option(40, "--n", help="Number of members (half poisoned, half clean controls)."),
    out: Path = typer.Option(..., "--out"),
    base: Path = typer.Option(None, "--base", help="Clean base folder or zoo name (default: zoo base)."),
    seed: int = typer.Option(0, "--seed"),
    steps: int = typer.Option(None, "--steps", help="Fine-tuning steps per member."),
) -> None:
    """Build a population of backdoored and clean organisms with a ground-truth manifest."""
    from modelcert.organisms import zoo_path
    from modelcert.organisms.population import build_population

    manifest = build_population(n, out, base=_resolve_base(base, zoo_path), seed=seed, steps=steps, log=_log)
    poisoned = sum(m["poisoned"] for m in manifest["members"])
    Console().print(f"{n} members ({poisoned} poisoned) in {manifest['wall_seconds']:.0f}s; "
                    f"manifest: {Path(out) / 'manifest.json'}")
