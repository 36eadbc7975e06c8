"""Container images on the agent (Mesos's unified containerizer with Docker images).

``registry`` speaks the Docker Registry HTTP API v2 (names are parsed by
``mesospy.image_reference``); ``layers`` unpacks layer tarballs safely (whiteouts
included); ``store`` keeps blobs content-addressed and one root file system per image,
pulling each only once at a time; ``rootfs`` gives each task its own view of an image
(overlayfs, or a copy) with its sandbox and /dev mounted in; ``launch`` turns an image
config and a CommandInfo into the command that runs the task in its own mount and PID
namespaces; ``containerizer`` ties them together for the agent's TaskManager.
"""
