"""A tiny Inspect task whose answers the fake chat server makes predictable."""

from __future__ import annotations

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate


def echo_task(n: int) -> Task:
    samples = [Sample(id=i, input=f"question {i}", target=f"question {i}") for i in range(1, n + 1)]
    return Task(dataset=MemoryDataset(samples), solver=generate(), scorer=includes())
