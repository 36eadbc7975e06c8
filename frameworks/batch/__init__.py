"""The batch framework: jobs, cron schedules and DAGs (like Chronos and Kubernetes Jobs).

Built only on the public SDK (``mesospy.scheduler``), the public protos and the public
operator client. Pure parts first, I/O at the edge:

    spec.py       job files (YAML/JSON) -> JobSpec; every problem with its field path
    schedule.py   cron ticks in a time zone (DST), catch-up, starting deadline
    runs.py       the run/instance state machine; task ids JOB.RUN.INSTANCE.ATTEMPT
    dag.py        parents, cycles;  placement.py  constraints against an offer's agent
    jobs.py       a job's record and the derived run ids (one per tick: exactly once)
    (state)       the SDK's StateStore (ZooKeeper or a directory): framework_id,
                  jobs/NAME (a JobRecord), runs/NAME/RUN (a Run), JSON documents
    scheduler.py  the SDK Scheduler: state in, launches/kills/acks out, stored first
    api.py        the gRPC API (frameworks.batch.v1.Batch);  server.py  `batch serve`
    cli.py        `mesospy job ...`, `mesospy batch serve`
"""
