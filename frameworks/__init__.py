"""The frameworks bundled with mesospy, built only on the public SDK (mesospy.scheduler)."""
