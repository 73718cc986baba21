"""Round-based run engine over Inspect, writing every sample to the evidence store."""

from modelcert.runner.engine import Limits, Runner, SampleRecord, software_versions

__all__ = ["Limits", "Runner", "SampleRecord", "software_versions"]
