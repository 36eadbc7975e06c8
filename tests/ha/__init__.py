"""High-availability tests against a real ZooKeeper."""
