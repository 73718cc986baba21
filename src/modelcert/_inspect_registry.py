"""Inspect entry point (``[project.entry-points.inspect_ai]``).

Inspect imports this module to discover our extensions; importing the provider
module registers the ``local/`` model API with Inspect's registry.
"""

from modelcert.checks import execute as _execute  # noqa: F401  (progress hooks)
from modelcert.providers import local as _local  # noqa: F401
