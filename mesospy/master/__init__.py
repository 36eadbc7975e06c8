"""The mesospy master: offers agents' resources to frameworks and tracks their tasks.

The entry points are ``mesospy.master.config.MasterConfig`` and
``mesospy.master.server.run_master``. Nothing is imported here: the server imports the
dashboard, whose modules import the master's, and importing the server with the package
made ``import mesospy.webui.<module>`` circular whenever it came first.
"""
