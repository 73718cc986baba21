"""modelcert: an open-source testing lab for AI models.

Inspect runs every query; modelcert decides what to run, when to stop, what it
proves, and who may see it.
"""

__version__ = "0.1.0"
