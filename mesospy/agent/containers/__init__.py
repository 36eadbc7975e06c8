"""Container images on the agent (Mesos's unified containerizer with Docker images).

``registry`` speaks the Docker Registry HTTP API v2 (names are parsed by
``mesospy.image_reference``); ``layers`` unpacks layer tarballs safely (whiteouts
included); ``store`` keeps blobs content-addressed and one root file system per image,
pulling each only once at a time; ``rootfs`` gives each task its own view of an image
(overlayfs, or a copy) with its sandbox and /dev mounted in; ``launch`` turns an image
config and a CommandInfo into what runs, as whom, where; ``forkserver`` starts image
tasks in their own mount and PID namespaces with system calls (``launch.namespaced``, the
same through util-linux, is for executors and for when the fork server is unavailable);
``containerizer`` ties them together for the agent's TaskManager.
"""
