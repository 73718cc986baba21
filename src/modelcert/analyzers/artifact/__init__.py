"""The model-file artifact gate: scan a checkpoint before anything loads it.

Usage::

    report = scan_path("path/to/checkpoint")
    report.raise_if_blocking()   # UnsafeArtifactError when any finding is high or critical
"""

from modelcert.analyzers.artifact.report import RULES, SEVERITIES, Finding, ScanReport, Severity
from modelcert.analyzers.artifact.scanner import Limits, scan_path

__all__ = ["RULES", "SEVERITIES", "Finding", "Limits", "ScanReport", "Severity", "scan_path"]
