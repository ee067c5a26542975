# One image for every Centralita service; the command picks the service:
#   centralita serve mikrotik_tool | legal_search | call_gateway
# Build:  docker build -t REGISTRY/centralita:VERSION .
# The protobuf modules are generated in the build stage (grpcio-tools is a dev dependency and never
# reaches the runtime stage). No secrets and no HEALTHCHECK here: Kubernetes probes check health.

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The runtime virtualenv has no pip: this stage's pip installs into it with --python.
RUN pip install grpcio-tools==1.85.1 \
    && python -m venv --without-pip /opt/centralita
COPY pyproject.toml README.md ./
COPY protos/ protos/
COPY services/ services/
RUN PYTHONPATH=services python -m centralita.protogen \
    && pip --python /opt/centralita/bin/python install . \
    && /opt/centralita/bin/python -m compileall -q /opt/centralita/lib

FROM python:3.11.13-slim-bookworm
LABEL org.opencontainers.image.title="centralita" \
      org.opencontainers.image.description="Telephone AI assistant for Asterisk: gRPC tool services and call gateway"
RUN groupadd --system --gid 10001 centralita \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin centralita \
    && mkdir -p /var/lib/centralita \
    && chown 10001:10001 /var/lib/centralita
COPY --from=build /opt/centralita /opt/centralita
ENV PATH="/opt/centralita/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEGAL_DATA_DIR=/var/lib/centralita/legal
WORKDIR /var/lib/centralita
USER 10001:10001
# gRPC: mikrotik_tool 50051, legal_search 50052; metrics 9101/9102; gateway HTTP 8080
EXPOSE 50051 50052 9101 9102 8080
ENTRYPOINT ["centralita"]
CMD ["serve", "mikrotik_tool"]
