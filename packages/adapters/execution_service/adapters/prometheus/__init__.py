"""Prometheus: the consumer's figures (the BatchObserver port) and the process's gauges, on
one CollectorRegistry per application."""

from execution_service.adapters.prometheus.consumer import PrometheusBatchObserver
from execution_service.adapters.prometheus.runtime import RuntimeGauges
from execution_service.adapters.prometheus.traces import PrometheusTraceMetrics

__all__ = ["PrometheusBatchObserver", "PrometheusTraceMetrics", "RuntimeGauges"]
