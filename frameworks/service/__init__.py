"""The service framework: long-running apps, rolling updates and VIPs (like Marathon)."""

FRAMEWORK_NAME = "mesospy-service"
