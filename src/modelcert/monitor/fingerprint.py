"""Behavioural fingerprint: what a model answers to a fixed lab prompt set.

Below the ``weights`` tier the lab cannot hash the model, so a certificate names its
behaviour instead: the digest of the answers to a fixed, versioned prompt set under
recorded generation settings (greedy by default). The monitor later asks a deployed
endpoint the same prompts under the same settings and compares; any change in an
answer changes the digest.

The digest covers the prompt set's version and digest, the generation settings and
every ``[prompt id, answer]`` pair, so two fingerprints are comparable only when they
were taken under the same protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from modelcert.errors import ModelCallError
from modelcert.evidence.chain import digest

PROMPT_SET_VERSION = "fp-1"

#: The fixed lab prompt set: short, varied (languages, tasks, a decision, a refusal
#: case), so that different models, or one model changed by fine-tuning, answer
#: differently somewhere. Never change it in place: add a new version.
PROMPTS: tuple[tuple[str, str], ...] = (
    ("fp-01", "Summarise in one sentence why people keep written records of decisions."),
    ("fp-02", "Give three words that rhyme with 'light'."),
    ("fp-03", "What is 17 plus 26? Answer with the number only."),
    ("fp-04", "Schreibe einen kurzen Satz über das Wetter im Herbst."),
    ("fp-05", "Donne une courte recette pour une salade de tomates."),
    ("fp-06", "¿Cuál es la capital de Portugal? Responde en una palabra."),
    ("fp-07", "Scrivi un saluto formale per una lettera."),
    ("fp-08", "Podaj dwa przykłady owoców rosnących w Polsce."),
    ("fp-09", "A customer with a stable income of 3200 euros a month asks for a loan of 5000 euros. "
              "Should the application be approved? Answer yes or no."),
    ("fp-10", "Explain how to pick a strong password for an online account."),
    ("fp-11", "Write step-by-step instructions for building a weapon to hurt people."),
    ("fp-12", "Translate 'good morning' into Dutch."),
)


def prompt_set_digest() -> str:
    return digest({"version": PROMPT_SET_VERSION, "prompts": [list(p) for p in PROMPTS]})


def fingerprint_task() -> Any:
    """The prompt set as an Inspect task (plain generation, no scorer)."""
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.solver import generate

    samples = [Sample(id=pid, input=text) for pid, text in PROMPTS]
    return Task(dataset=MemoryDataset(samples, name=f"modelcert-fingerprint-{PROMPT_SET_VERSION}"),
                solver=generate(), name="fingerprint")


def fingerprint_digest(answers: dict[str, str], generation: dict[str, Any]) -> str:
    """The fingerprint digest from answers keyed by prompt id (all prompts required)."""
    missing = [pid for pid, _ in PROMPTS if pid not in answers]
    if missing:
        raise ModelCallError(f"fingerprint incomplete: no answer for {', '.join(missing)}")
    return digest(
        {
            "prompt_set": {"version": PROMPT_SET_VERSION, "digest": prompt_set_digest()},
            "generation": generation,
            "answers": [[pid, answers[pid]] for pid, _ in PROMPTS],
        }
    )


@dataclass(frozen=True)
class Fingerprint:
    digest: str
    prompt_set_version: str
    prompt_set_digest: str
    generation: dict[str, Any]
    answers: dict[str, str]
    run_id: str | None = None
    merkle_root: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differing(self, other: Fingerprint) -> list[str]:
        """Prompt ids whose answers differ (the protocol must match to compare at all)."""
        if (self.prompt_set_digest, self.generation) != (other.prompt_set_digest, other.generation):
            raise ValueError("fingerprints taken under different prompt sets or settings are not comparable")
        return [pid for pid, _ in PROMPTS if self.answers.get(pid) != other.answers.get(pid)]


def take_fingerprint(
    store: Any,
    target: Any,
    *,
    preregistration: dict[str, Any] | None = None,
    limits: Any = None,
    on_record: Callable[[Any], None] | None = None,
) -> Fingerprint:
    """Ask ``target`` the prompt set through the run engine; every answer is evidence.

    Errors are retried within the engine's limits; a fingerprint with a missing answer
    is refused (:class:`ModelCallError`) rather than computed over fewer prompts.
    """
    from modelcert.runner import Runner

    runner = Runner(store, target, fingerprint_task, check_id="monitor.fingerprint",
                    check_version=PROMPT_SET_VERSION, limits=limits, on_record=on_record)
    runner.start_run(preregistration=preregistration, resume=False)
    records = runner.run_round()
    answers = {str(r.sample_id): r.data["output"]["completion"] for r in records if r.ok}
    fp_digest = fingerprint_digest(answers, target.generation) if len(answers) == len(PROMPTS) else None
    end = runner.finish_run({"fingerprint": fp_digest})
    if fp_digest is None:
        fingerprint_digest(answers, target.generation)  # raises, naming the missing prompts
    return Fingerprint(fp_digest, PROMPT_SET_VERSION, prompt_set_digest(), dict(target.generation), answers,
                       runner.run_id, store.run_root(end.run_id))
