"""Gauges of the running process, set by a sampler every few seconds (not per event), and
the build it runs."""

from __future__ import annotations

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
        Info("execution_service_build", "The running build", registry=registry).info(
            {"version": version}
        )

    def consumer_lag(self, pending: int, ack_pending: int) -> None:
        self._pending.set(pending)
        self._ack_pending.set(ack_pending)

    def pool_in_use(self, connections: int) -> None:
        self._pool_in_use.set(connections)

    def nats_connected(self, connected: bool) -> None:
        self._nats_connected.set(1 if connected else 0)
