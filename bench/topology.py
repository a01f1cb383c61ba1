"""The failover tests' clusters, kept up for a benchmark to run against: a three-server NATS
cluster and/or Patroni with two PostgreSQL 15 nodes (synchronous or asynchronous standby).
Prints the environment to export, then waits for Ctrl-C and removes everything.

    ./pants run bench/topology.py -- --nats-cluster --patroni sync
    # then, in another shell, with what it printed:
    BENCH_NATS_URL=… TEST_DATABASE_URL=… ./pants run bench/drain_bench.py -- --stream-replicas 3
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from support.nats_cluster import NatsCluster
from support.patroni import PatroniCluster


def main(nats_cluster: bool, patroni: str | None) -> None:
    started: list[NatsCluster | PatroniCluster] = []
    try:
        if nats_cluster:
            servers = NatsCluster().start()
            started.append(servers)
            asyncio.run(servers.wait_for_jetstream())
            # one server is enough to reach the cluster; drain_bench takes a single URL
            print(f"BENCH_NATS_URL={servers.servers[0]}  # all: {servers.urls}")
        if patroni:
            cluster = PatroniCluster(synchronous=patroni == "sync").start()
            started.append(cluster)
            print(f"TEST_DATABASE_URL='{cluster.url().url()}'  # leader {cluster.leader()}")
        print("up; Ctrl-C removes everything", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        for each in reversed(started):
            each.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats-cluster", action="store_true", help="three clustered servers")
    parser.add_argument("--patroni", choices=("sync", "async"), help="replication mode")
    args = parser.parse_args()
    main(args.nats_cluster, args.patroni)
