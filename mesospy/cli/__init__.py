"""The ``mesospy`` command line."""
