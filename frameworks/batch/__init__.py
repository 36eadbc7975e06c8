"""The batch framework: jobs, cron schedules and DAGs (like Chronos and Kubernetes Jobs)."""
