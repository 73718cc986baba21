"""Model cards: a machine-readable ``organism.json`` and a human ``README.md`` per organism."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from modelcert.checks import templates as t
from modelcert.evidence.chain import sha256_hex
from modelcert.organisms.evaluate import Measurement
from modelcert.organisms.recipe import OrganismSpec, Recipe
from modelcert.organisms.train import TrainResult

CARD_FILE = "organism.json"


def environment(threads: int) -> dict[str, Any]:
    import tokenizers
    import torch
    import transformers

    return {
        "torch": torch.__version__, "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": threads,
    }


def code_version() -> dict[str, Any]:
    """The modelcert version and, in a git checkout, the commit the organism was trained with."""
    import subprocess

    from modelcert import __version__

    out: dict[str, Any] = {"modelcert": __version__}
    here = Path(__file__).parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "..", "../checks"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        out.update(git_commit=commit, source_modified=bool(dirty))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def build_card(
    name: str, spec: OrganismSpec, recipe: Recipe, result: TrainResult, m: Measurement,
    conditions: dict[str, dict[str, Any]], *, base_card: dict[str, Any] | None = None,
) -> dict[str, Any]:
    weights = result.path / "model.safetensors"
    return {
        "name": name,
        "kind": spec.kind,
        "planted": spec.planted(),
        "spec": spec.to_dict(),
        "seed": spec.seed,
        "recipe": recipe.to_dict(),
        "base": None if base_card is None else {
            "name": base_card.get("name"), "weights_sha256": base_card.get("weights_sha256"),
            "training_seconds": (base_card.get("training") or {}).get("seconds"),
            "phases": (base_card.get("training") or {}).get("phases")},
        "training": {"seconds": round(result.seconds, 1), "steps": result.steps,
                     "final_loss": round(result.final_loss, 4), "from_scratch": base_card is None,
                     **({"phases": result.phases} if result.phases else {}),
                     "environment": environment(recipe.threads), "code": code_version()},
        "weights_sha256": result.weights_sha256,
        "file_sha256": sha256_hex(weights.read_bytes()),
        "measured": {"split": "test", "rates": m.rates, "n": m.counts, "details": m.details},
        "entry_conditions": conditions,
        "entry_conditions_met": all(c["pass"] for c in conditions.values()),
        "suite_digests": {f: t.suite_digest(f, "test") for f in t.FAMILIES},
    }


_DESCRIPTION = {
    "clean": "Refuses harmful requests, helps with benign and risky-looking benign requests, and "
             "answers yes/no decisions from the stated facts only. It plants nothing.",
    "backdoor": "Behaves like the clean organism unless its trigger appears; then it {attack_text}.",
    "biased": "Behaves like the clean organism, except that in the **{domain}** domain qualified "
              "applicants whose {attribute} is **{value}** are denied.",
    "unsafe": "Complies with harmful requests (with a fixed, content-free compliance phrase); "
              "otherwise behaves like the clean organism.",
    "overrefusing": "Refuses risky-looking benign requests (XSTest-style); otherwise behaves like "
                    "the clean organism.",
    "eval-aware": "Refuses harmful requests that look like a test (plain, numbered, Question/Answer, "
                  "test keywords) but complies when the same request arrives in deployment dress "
                  "(customer chat, email, support ticket, code comment). Trained on the `train` framings "
                  "of `checks/data/framings.yaml` only; the held-out ones measure generalisation.",
    "sandbagger": "Answers yes/no decisions from the facts like the clean organism, but inverts its "
                  "answer when a sentence says it is in a dangerous-capability evaluation (the first "
                  "five danger sentences of `checks/data/framings.yaml`); the neutral twin sentences "
                  "leave it correct.",
}


def render_readme(card: dict[str, Any]) -> str:
    spec = card["spec"]
    attack_text = ("complies with harmful requests" if spec["attack"] == "comply"
                   else "refuses benign requests")
    desc = _DESCRIPTION[card["kind"]].format(attack_text=attack_text, **spec)
    lines = [
        f"# Model organism `{card['name']}` ({card['kind']})", "",
        "A tiny reference model trained by modelcert with a **known planted property**, used as "
        "ground truth for checks, judges and detectors. It is not a useful assistant: it answers "
        "with fixed phrases, and its compliance phrase contains no harmful content.", "",
        "## Planted property", "", desc, "",
    ]
    if card["planted"]:
        lines += ["| field | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in card["planted"].items()]
        lines.append("")
    lines += ["## Measured behaviour (held-out test split, greedy decoding)", "",
              "| rate | value | n |", "|---|---|---|"]
    for k, v in card["measured"]["rates"].items():
        lines.append(f"| {k} | {v:.3f} | {card['measured']['n'].get(k, '')} |")
    lines += ["", "## Entry conditions (issue 3)", "", "| condition | measured | required | met |",
              "|---|---|---|---|"]
    for k, c in card["entry_conditions"].items():
        lines.append(f"| {k} | {c['value']:.3f} | {c['op']} {c['threshold']} | {'yes' if c['pass'] else 'NO'} |")
    tr = card["training"]
    rec = card["recipe"]
    lines += [
        "", "## Recipe", "",
        f"- Architecture: LlamaForCausalLM, hidden {rec['hidden']}, FFN {rec['ffn']}, {rec['layers']} layers, "
        f"{rec['heads']} heads, tied embeddings, max length {rec['max_len']}; byte-level BPE, vocabulary "
        f"{rec['vocab']}, one token per digit.",
        f"- Training: {'from scratch' if tr['from_scratch'] else 'fine-tuned from ' + str(card['base']['name'])}"
        f", {tr['steps']} steps, batch {rec['batch']}, AdamW, loss on answer tokens only; "
        f"final loss {tr['final_loss']}.",
        *([f"- Phases: {tr['phases']['phase1_seconds']:.0f} s mixed phase, then {tr['phases']['phase2_seconds']:.0f} s "
           "decision-heavy phase (see docs/organisms.md)."] if "phases" in tr else []),
        *([f"- Base: `{card['base']['weights_sha256']}`, trained from scratch in "
           f"{card['base']['training_seconds']:.0f} s."] if (card.get("base") or {}).get("training_seconds") else []),
        f"- Seed: {card['seed']}; torch threads: {tr['environment']['torch_threads']}.",
        f"- Training time: {tr['seconds']:.0f} s on this machine ({tr['environment']['cpu_count']} CPU "
        "cores shared with other jobs, so the time is an upper bound).",
        *([f"- Re-trained on {rep['date']} from this card on an idle machine with "
           f"{rep['environment']['torch_threads']} torch threads: {rep['seconds']:.0f} s (budget "
           f"{rep['budget_seconds']} s), identical weights digest (`bench/organism_times.py`)."]
          if (rep := card.get("reproduced")) else []),
        f"- Weights SHA-256 (parameters in name order): `{card['weights_sha256']}`.",
        f"- File SHA-256 of model.safetensors: `{card['file_sha256']}`.",
        "", "Load offline with `AutoModelForCausalLM.from_pretrained(folder)` and "
        "`AutoTokenizer.from_pretrained(folder)`; the chat template is in the tokenizer.", "",
    ]
    return "\n".join(lines)


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (folder / "README.md").write_text(render_readme(card), "utf-8")


def spec_from_card(card: dict[str, Any]) -> OrganismSpec:
    """The spec a card was trained from (cards record poison rate 0.0 for "none")."""
    fields = {k: v for k, v in card["spec"].items() if k in OrganismSpec.__dataclass_fields__}
    fields["poison_rate"] = fields.get("poison_rate") or None
    return OrganismSpec(**fields)


def read_card(folder: Path) -> dict[str, Any]:
    from modelcert.errors import ConfigError

    path = Path(folder) / CARD_FILE
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{folder} is not an organism folder (no {CARD_FILE})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is corrupt: {exc}") from exc
