"""ZooKeeper building blocks for high availability.

- ``url``: parse ``zk://h1:2181,h2:2181/path``.
- ``master_info``: MasterInfo as the JSON Mesos writes into its election znodes.
- ``election``: ``MasterContender``, a master's bid for leadership (asyncio-friendly).
- ``detector``: ``ZooKeeperDetector``, a client's view of who leads.
- ``registry``: ``ZooKeeperRegistry``, the registry kept in znodes, fenced by the leader's
  election znode so a deposed master cannot overwrite its successor.

kazoo is thread-based; these modules keep every blocking kazoo call off the event loop
(``asyncio.to_thread``) and bring kazoo's callbacks onto it (``call_soon_threadsafe``).
"""
