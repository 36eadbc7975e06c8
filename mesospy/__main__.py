"""``python -m mesospy`` is the ``mesospy`` command."""

from mesospy.cli.main import main

main()
