"""The lab server: dashboard, public registry and verification, REST API, background audits."""

from modelcert.web.app import all_routes, create_app
from modelcert.web.config import LabConfig

__all__ = ["LabConfig", "all_routes", "create_app"]
