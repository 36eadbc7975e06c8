"""The agent process: wires the pieces together, registers with the master, heartbeats.

``Agent.start()`` recovers the checkpoint, serves the Agent API, and keeps a registration
loop running: open a session with the master (``Connect``: register, or re-register with
what it runs), heartbeat on it at the interval the master asks for and send status updates
on it, and when the session is lost (it ended, a write failed, or the master asked for a
re-registration, or ZooKeeper named another leader) open another with a jittered, capped
backoff. Tasks keep running throughout. With ZooKeeper, an agent with an id also keeps a
standby session with every other contending master (``mesospy.agent.standby``); when
ZooKeeper names one of them leader, its session becomes the agent's session with the
master instead of a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc

from mesospy import __version__ as _version
from mesospy.agent.checkpoint import Checkpoint
from mesospy.agent.config import AgentConfig
from mesospy.agent.containers.containerizer import ATTRIBUTE, Containerizer
from mesospy.agent.executor_service import serve_executor_api
from mesospy.agent.executors import ExecutorRegistry
from mesospy.agent.fetcher import Fetcher
from mesospy.agent.gc import SandboxCollector
from mesospy.agent.isolation import Isolator, choose_isolator, isolation_scope
from mesospy.agent.launcher import TaskLauncher
from mesospy.agent.master_session import CHANNEL_OPTIONS, MasterSession, SessionClosed
from mesospy.agent.metrics import AgentMetrics
from mesospy.agent.persistent_volumes import CheckpointedResources, delete_volumes, volumes_root
from mesospy.agent.probe import resource_text
from mesospy.agent.service import AgentService, Refused
from mesospy.agent.standby import StandbySessions
from mesospy.agent.status_updates import StatusUpdateManager, UpdateStreams
from mesospy.agent.task_env import base_environment
from mesospy.agent.tasks import TaskManager
from mesospy.detector import MasterDetector, MasterSpecError
from mesospy.metrics_http import MetricsPortError, serve_registry
from mesospy.resources import Resources
from mesospy.security.agent_guard import MasterOnly
from mesospy.security.channels import aio_channel
from mesospy.standard_services import add_standard_services
from mesospy.v1 import agent_pb2, agent_pb2_grpc, common_pb2

log = logging.getLogger(__name__)

RPC_TIMEOUT = 10.0
DEFAULT_HEARTBEAT = 15.0
LEADER_PREFIX = "leader="


def leader_hint(error: grpc.aio.AioRpcError) -> str | None:
    """The leader's address from an UNAVAILABLE "... leader=host:port ..." answer."""
    if error.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    for word in (error.details() or "").replace(",", " ").replace(";", " ").split():
        if word.startswith(LEADER_PREFIX) and len(word) > len(LEADER_PREFIX):
            return word[len(LEADER_PREFIX) :]
    return None


class Agent:
    """One agent: its gRPC server, its tasks, and its link to the master."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.agent_id: str = ""
        self.port: int = config.port
        self.registered = asyncio.Event()
        self.master_info: common_pb2.MasterInfo | None = None
        self._detector = MasterDetector(config.master)
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None
        self._channel_target = ""
        self._background: list[asyncio.Task[Any]] = []
        self._resources: list[common_pb2.Resource] = []
        self.metrics = AgentMetrics(self)
        self._metrics_server: WSGIServer | None = None
        # The master presents this on its calls; a secured agent refuses calls without it.
        self.call_token = secrets.token_hex(16)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Recover, serve the Agent API, and start registering. Returns once serving."""
        cfg = self.config
        work = cfg.work_path
        work.mkdir(parents=True, exist_ok=True)
        text = await asyncio.to_thread(resource_text, cfg.resources, cfg.work_dir)
        self._resources = Resources.parse(text).to_proto()
        self.isolator: Isolator = choose_isolator(
            cfg.isolation, cfg.posix_sample_interval, isolation_scope(cfg.work_dir)
        )
        log.info("agent isolation: %s; resources: %s", self.isolator.name, text)

        self.checkpoint = Checkpoint(work / "meta")
        state = self.checkpoint.recover()
        self.kept_resources = CheckpointedResources(work, work / "meta")
        await asyncio.to_thread(self.kept_resources.recover)
        self._deletions: set[asyncio.Future[None]] = set()
        self.agent_id = state.agent_id or ""
        loop = asyncio.get_running_loop()
        self.launcher = TaskLauncher(loop)
        self.fetcher = await asyncio.to_thread(
            Fetcher, cfg.fetcher_cache_path, cfg.fetcher_cache_size, cfg.fetcher_max_size
        )
        self.containerizer = await asyncio.to_thread(
            Containerizer,
            work,
            enabled=cfg.container_images,
            mirror=cfg.image_registry_mirror,
            max_size=cfg.fetcher_max_size,
            backend=cfg.image_rootfs_backend,
            # Persistent volumes are bind-mounted from there into image tasks.
            allowed_host_paths=(*cfg.allowed_host_paths, str(volumes_root(work))),
        )
        self.updates = StatusUpdateManager(
            UpdateStreams(cfg.status_update_retry_min, cfg.status_update_retry_max),
            on_finished=lambda key: self.tasks.forget(key),
            on_update=self.checkpoint.add_update,
            on_ack=self._acknowledged,
            before_send=self.checkpoint.flush,
        )
        self.tasks = TaskManager(
            work_dir=work,
            host=cfg.advertised_host,
            launcher=self.launcher,
            isolator=self.isolator,
            updates=self.updates,
            checkpoint=self.checkpoint,
            agent_id=lambda: self.agent_id,
            kill_grace_period=cfg.kill_grace_period,
            allow_root_tasks=cfg.allow_root_tasks,
            environment=base_environment(
                os.environ, cfg.task_env_passthrough, cfg.executor_environment_variables
            ),
            fetcher=self.fetcher,
            containerizer=self.containerizer,
        )
        self.executors = ExecutorRegistry(
            work_dir=work,
            launcher=self.launcher,
            isolator=self.isolator,
            tasks=self.tasks,
            updates=self.updates,
            agent_id=lambda: self.agent_id,
            host=cfg.advertised_host,
            environment=self.tasks.base_env,
            kill_grace_period=cfg.kill_grace_period,
            reregistration_timeout=cfg.executor_reregistration_timeout,
            registration_timeout=cfg.executor_registration_timeout,
            containerizer=self.containerizer,
        )
        self._executor_server = await serve_executor_api(
            self.executors, port=self.executors.saved_port()
        )
        self.executors.recover()
        self.tasks.recover(state)
        self.checkpoint.flush()
        self.standby = StandbySessions(
            self._detector,
            registration=self._registration_message,
            revision=self.tasks.revision,
            agent_id=lambda: self.agent_id,
            channel=lambda address: aio_channel(address, CHANNEL_OPTIONS, cfg.master_security),
            timeout=RPC_TIMEOUT,
        )
        self.sandbox_gc = SandboxCollector(
            work,
            lambda: self.tasks.sandboxes() | self.executors.sandboxes(),
            gc_delay=cfg.gc_delay,
            headroom=cfg.gc_disk_headroom,
            interval=cfg.disk_watch_interval,
        )

        self.service = AgentService(
            self.tasks,
            self.updates,
            work,
            self.agent_id or None,
            self.metrics.launched,
            on_checkpoint=self._checkpoint_resources,
        )
        self.service.reregistering = bool(self.agent_id)  # recovered: known to the master
        self._server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 64 << 20)],
            interceptors=[MasterOnly(self.call_token)] if cfg.secured else None,
        )
        agent_pb2_grpc.add_AgentServicer_to_server(self.service, self._server)  # type: ignore[no-untyped-call]
        # Health: SERVING while registered with a master (it takes tasks only then).
        agent_service = agent_pb2.DESCRIPTOR.services_by_name["Agent"].full_name
        self.health = await add_standard_services(self._server, [agent_service], serving=False)
        address = f"{cfg.ip}:{cfg.port}"
        if cfg.tls is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, cfg.tls.server_credentials())
        if self.port == 0:
            raise OSError(f"cannot listen on {cfg.ip}:{cfg.port} (in use or not local)")
        await self._server.start()
        log.info("agent serving on %s:%d", cfg.ip, self.port)
        try:
            self._metrics_server = serve_registry(self.metrics.registry, cfg.ip, cfg.metrics_port)
        except MetricsPortError:
            await self._server.stop(0)  # exit cleanly, without the gRPC server's traceback
            raise

        for coro in (
            self._registration_loop(),
            self._keep_standby_sessions(),
            self.updates.run(),
            self.checkpoint.sync_forever(),
            self.isolator.run(),
            self.tasks.stamp_forever(),
            self.sandbox_gc.run(),
        ):
            self._background.append(asyncio.ensure_future(coro))

    async def stop(self) -> None:
        """Stop serving and talking to the master; tasks keep running unless configured."""
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()
        if self._server is not None:
            await self.health.shutdown()
            await self._server.stop(grace=0.5)
            self._server = None
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        self.executors.close(kill=self.config.kill_tasks_on_exit)
        await self._executor_server.stop(grace=0.5)
        self.tasks.cancel_fetches()
        await self.tasks.wait_launched()
        self.fetcher.close()
        if self.config.kill_tasks_on_exit:
            self.tasks.kill_all()
        self.tasks.detach()
        self.checkpoint.close()
        self.launcher.close()
        await asyncio.to_thread(self.containerizer.close)
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None

    # ------------------------------------------------------------------ master link

    async def _stub(self, target: str) -> agent_pb2_grpc.AgentRegistryStub:
        if self._channel is None or target != self._channel_target:
            if self._channel is not None:
                await self._channel.close(None)
            self._channel = aio_channel(target, CHANNEL_OPTIONS, self.config.master_security)
            self._channel_target = target
        return agent_pb2_grpc.AgentRegistryStub(self._channel)  # type: ignore[no-untyped-call]

    def _agent_info(self) -> common_pb2.AgentInfo:
        return common_pb2.AgentInfo(
            id=self.agent_id,
            hostname=self.config.advertised_host,
            port=self.port,
            resources=self._resources,
            attributes={
                ATTRIBUTE: "true" if self.containerizer.supported else "false",
                **self.config.attributes,
            },
            version=_version,
        )

    def _follow_leader(self, error: grpc.aio.AioRpcError) -> None:
        hint = leader_hint(error)
        if hint:
            try:
                self._detector.appoint(hint)
                log.info("following the leading master at %s", hint)
            except MasterSpecError as exc:
                log.warning("master named a leader %r that cannot be used: %s", hint, exc)

    def _registration_message(self) -> agent_pb2.AgentMessage:
        if self.agent_id:
            tasks = self.tasks.task_protos(self.agent_id)
            framework_ids = {t.framework_id for t in tasks}
            frameworks = [f for fid, f in self.tasks.frameworks.items() if fid in framework_ids]
            return agent_pb2.AgentMessage(
                reregister=agent_pb2.ReregisterAgentRequest(
                    agent_info=self._agent_info(),
                    tasks=tasks,
                    frameworks=frameworks,
                    call_token=self.call_token,
                    executors=self.executors.infos(),
                    checkpointed_resources=self.kept_resources.resources,
                )
            )
        return agent_pb2.AgentMessage(
            register=agent_pb2.RegisterAgentRequest(
                agent_info=self._agent_info(), call_token=self.call_token
            )
        )

    async def _keep_standby_sessions(self) -> None:
        if not self.agent_id:  # a never-registered agent has none
            await self.registered.wait()
        await self.standby.run()

    async def _registration_loop(self) -> None:
        attempt = 0
        target = ""  # the master last tried
        while True:
            if attempt:
                cap = min(
                    self.config.registration_backoff_max,
                    self.config.registration_backoff_factor * 2 ** min(attempt, 16),
                )
                # Back off, but go at once when another master is elected: agents must
                # re-register with a new leader within its re-registration window.
                await self._detector.wait_change(target, random.uniform(0, cap))
            attempt += 1
            try:
                target = await self._detector.detect()
                handover = await self.standby.take_over(target)
                if handover is None:
                    handover = await self.standby.connect(await self._stub(target), target)
                session, response, resumed = handover
            except grpc.aio.AioRpcError as exc:
                self._follow_leader(exc)
                log.info("registration failed (%s): %s", exc.code().name, exc.details())
                continue
            except (SessionClosed, TimeoutError) as exc:
                log.info("registration failed: %s", exc or "no answer in time")
                continue
            except MasterSpecError as exc:
                log.error("cannot find the master: %s", exc)
                continue
            except Exception:  # keep trying: the agent must outlive any one bad attempt
                log.exception("registration attempt failed")
                continue
            try:
                await self._registered(response, session, resumed)
                attempt = 0
                await self._serve_session(session, response.heartbeat_interval_seconds, target)
            except Exception:  # the agent must outlive any one bad session
                log.exception("the session with the master failed")
            finally:
                self.service.reregistering = True
                self.registered.clear()
                await self.health.set_serving(False)
                self.updates.set_sender(None)
                self.executors.set_master(None)
                session.close()
            attempt = 1

    async def _registered(
        self, response: agent_pb2.RegisterAgentResponse, session: MasterSession, resumed: bool
    ) -> None:
        self.service.reregistering = False
        if response.agent_id and response.agent_id != self.agent_id:
            self.agent_id = response.agent_id
            await asyncio.to_thread(self.checkpoint.save_agent_id, self.agent_id)
        self.service.agent_id = self.agent_id
        self.master_info = response.master_info
        if resumed:
            log.info("resumed as agent %s with the new leader", self.agent_id)
        else:
            log.info("registered with master as agent %s", self.agent_id)

        async def send_updates(batch: list[agent_pb2.StatusUpdate]) -> None:
            await session.send(
                agent_pb2.AgentMessage(
                    updates=agent_pb2.StatusUpdates(agent_id=self.agent_id, updates=batch)
                )
            )

        self.updates.set_sender(send_updates)
        self.executors.set_master(session.send)
        self.registered.set()
        await self.health.set_serving(True)

    async def _serve_session(self, session: MasterSession, interval: float, master: str) -> None:
        """Heartbeat and take the master's messages until the session is lost or
        ZooKeeper names another leader."""
        jobs: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self._heartbeat_until_lost(session, interval)),
            asyncio.ensure_future(self._receive_until_lost(session)),
            asyncio.ensure_future(self._until_deposed(master)),
        ]
        try:
            await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for job in jobs:
                job.cancel()
            for job in jobs:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await job

    async def _until_deposed(self, master: str) -> None:
        leader = await self._detector.wait_deposed(master)
        log.info("ZooKeeper names %s leader; leaving the session with %s", leader, master)

    async def _heartbeat_until_lost(self, session: MasterSession, interval: float) -> None:
        interval = interval if interval > 0 else DEFAULT_HEARTBEAT
        heartbeat = agent_pb2.AgentMessage(
            heartbeat=agent_pb2.HeartbeatRequest(agent_id=self.agent_id)
        )
        while True:
            await asyncio.sleep(interval)
            try:
                await session.send(heartbeat)
            except grpc.aio.AioRpcError as exc:
                self._follow_leader(exc)
                log.info("heartbeat failed (%s); registering again", exc.code().name)
                return
            except Exception as exc:
                log.info("heartbeat failed (%r); registering again", exc)
                return

    async def _receive_until_lost(self, session: MasterSession) -> None:
        while True:
            try:
                message = await session.receive()
            except grpc.aio.AioRpcError as exc:
                self._follow_leader(exc)
                log.info(
                    "session with the master lost (%s): %s; registering again",
                    exc.code().name,
                    exc.details(),
                )
                return
            except SessionClosed as exc:
                log.info("%s; registering again", exc)
                return
            body = message.WhichOneof("body")
            if body == "heartbeat" and message.heartbeat.reregister:
                log.info("master asks this agent to re-register")
                return
            self._take(message, body)

    def _take(self, message: agent_pb2.MasterMessage, body: str | None) -> None:
        """Act on a command or acknowledgements from the master, as the Agent service
        would on a call; a refused RunTasks is answered with its tasks TASK_DROPPED."""
        try:
            if body == "acknowledgements":
                self.service.acknowledge(message.acknowledgements)
            elif body == "run_tasks":
                self.service.run_tasks(message.run_tasks)
            elif body == "kill_task":
                self.service.kill_task(message.kill_task)
            elif body == "shutdown_framework":
                self.service.shutdown_framework(message.shutdown_framework)
            elif body == "checkpoint_resources":
                self.service.checkpoint_resources(message.checkpoint_resources)
            elif body == "framework_messages":
                self.executors.framework_messages(message.framework_messages)
            elif body == "shutdown_executor":
                shutdown = message.shutdown_executor
                self.executors.shutdown_executor(shutdown.framework_id, shutdown.executor_id)
        except Exception as exc:
            if isinstance(exc, Refused):
                log.warning("the master's %s was refused: %s", body, exc)
            else:  # a call would have failed with UNKNOWN; the session goes on
                log.exception("the master's %s failed", body)
            if body == "run_tasks":
                request = message.run_tasks
                why = str(exc) if isinstance(exc, Refused) else f"the agent failed: {exc!r}"
                self.tasks.drop(request.framework_info.id, list(request.tasks), why)

    def _checkpoint_resources(self, resources: list[common_pb2.Resource]) -> None:
        """The master's view of this agent's reservations and volumes: checkpointed
        before anything else is taken from the session; destroyed volumes deleted."""
        destroyed = self.kept_resources.update(resources)
        self.tasks.revision.bump()  # standby masters must hear of them too
        log.info("checkpointed reservations and volumes: %s", Resources.from_proto(resources))
        if destroyed:
            deletion = asyncio.ensure_future(asyncio.to_thread(delete_volumes, destroyed))
            self._deletions.add(deletion)
            deletion.add_done_callback(self._deletions.discard)

    def _acknowledged(self, key: tuple[str, str], uuid: bytes) -> None:
        self.checkpoint.add_ack(key, uuid)
        self.executors.acknowledged(key, uuid)


async def run_agent(config: AgentConfig) -> None:
    """Run an agent until cancelled (the caller turns SIGTERM into a cancellation)."""
    agent = Agent(config)
    await agent.start()
    try:
        await asyncio.Event().wait()
    finally:
        await agent.stop()
