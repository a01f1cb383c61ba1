"""Gauges of the running process, set by a sampler every few seconds (not per event), the
last verify's outcome as the database keeps it (the same on every replica), and the build."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, Info


class RuntimeGauges:
    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self._pending = Gauge(
            "execution_service_consumer_pending",
            "Messages in the stream not yet delivered to the durable consumer (the lag)",
            registry=registry,
        )
        self._ack_pending = Gauge(
            "execution_service_consumer_ack_pending",
            "Messages delivered to the durable consumer and not yet acknowledged",
            registry=registry,
        )
        self._pool_in_use = Gauge(
            "execution_service_db_pool_in_use",
            "PostgreSQL connections of this process's pool that are checked out",
            registry=registry,
        )
        self._nats_connected = Gauge(
            "execution_service_nats_connected",
            "1 while this process is connected to NATS, else 0",
            registry=registry,
        )
        self._verify_differences = Gauge(
            "execution_service_verify_differences",
            "Differences the last `execution-service verify` found between stored rows and "
            "the fold of their events (0 before any)",
            registry=registry,
        )
        self._verify_executions = Gauge(
            "execution_service_verify_executions",
            "Executions the last `execution-service verify` compared",
            registry=registry,
        )
        self._verify_finished = Gauge(
            "execution_service_verify_last_run_timestamp_seconds",
            "When the last `execution-service verify` finished (0: never)",
            registry=registry,
        )
        Info("execution_service_build", "The running build", registry=registry).info(
            {"version": version}
        )

    def consumer_lag(self, pending: int, ack_pending: int) -> None:
        self._pending.set(pending)
        self._ack_pending.set(ack_pending)

    def pool_in_use(self, connections: int) -> None:
        self._pool_in_use.set(connections)

    def verification(self, differences: int, executions: int, finished_at: datetime) -> None:
        self._verify_differences.set(differences)
        self._verify_executions.set(executions)
        self._verify_finished.set(finished_at.timestamp())

    def nats_connected(self, connected: bool) -> None:
        self._nats_connected.set(1 if connected else 0)
