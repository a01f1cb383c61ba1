# Runs the PEX that `./pants package packages/app/execution_service/app:execution-service`
# builds. Untested: the machines this is developed on have no Docker engine.
FROM python:3.11-slim
COPY dist/packages.app.execution_service.app/execution-service.pex /app/execution-service.pex
ENV PEX_ROOT=/tmp/pex PORT=3003 NODE_ENV=production
EXPOSE 3003
ENTRYPOINT ["/app/execution-service.pex"]
CMD ["serve"]
