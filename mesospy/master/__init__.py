"""The mesospy master: offers agents' resources to frameworks and tracks their tasks."""

from mesospy.master.config import MasterConfig
from mesospy.master.server import MasterStartError, run_master

__all__ = ["MasterConfig", "MasterStartError", "run_master"]
