# The service's image: the PEX that `./pants package packages/app/execution_service/app:execution-service`
# builds, installed as a virtualenv on any base where CPython 3.11 is `python3.11`.
# See the README's "The container image": `docker build .` or `podman build --format docker .`;
# with no registry, `--build-arg BASE=localhost/execution-service-base:bookworm` (built by
# deploy/base-image.sh). tests/e2e/test_image.py builds and runs it.
ARG BASE=python:3.11-slim

FROM ${BASE} AS venv
COPY dist/packages.app.execution_service.app/execution-service.pex /tmp/execution-service.pex
# A plain venv rather than the PEX itself: nothing to unpack at start, so no PEX_ROOT to write
# to, and the root filesystem can be read-only. --compile: no .pyc to write either.
RUN PEX_TOOLS=1 python3.11 /tmp/execution-service.pex venv --compile /app/venv

FROM ${BASE}
ARG BASE=python:3.11-slim
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="execution-service" \
      org.opencontainers.image.description="Records workflow execution events from NATS JetStream in PostgreSQL, exactly once, and serves them over REST." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${BASE}"

# A fixed uid/gid, so that volumes and security policies can name it.
RUN groupadd --gid 10001 execution-service \
 && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin execution-service
COPY --from=venv /app/venv /app/venv
USER 10001:10001
ENV PORT=3003 APP_ENV=production PYTHONUNBUFFERED=1

EXPOSE 3003
# No curl in the image: the venv's interpreter asks. urlopen raises on any non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD /app/venv/bin/python -c "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/api/health/live' % os.environ.get('PORT', '3003'), timeout=4)"
# The venv's `pex` script runs the PEX's entry point: serve, migrate, dev or publish-demo.
ENTRYPOINT ["/app/venv/pex"]
CMD ["serve"]
