"""The mesospy agent: runs tasks on one machine for the master.

``run_agent(config)`` runs an agent until cancelled; ``Agent`` gives tests and embedders
start()/stop() and the bound port.
"""

from mesospy.agent.agent import Agent, run_agent
from mesospy.agent.config import AgentConfig, parse_attributes

__all__ = ["Agent", "AgentConfig", "parse_attributes", "run_agent"]
