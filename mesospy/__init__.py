"""mesospy: a Mesos-style two-level cluster resource manager."""

__version__ = "0.1.0"
