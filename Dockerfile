# syntax=docker/dockerfile:1
#
# One image for every part of shopfleet. The container runs `shopfleet serve <part>`:
#
#   docker run IMAGE            # the gateway
#   docker run IMAGE catalog    # one service (identity, catalog, categories, cart, ...)
#   docker run --entrypoint shopfleet IMAGE migrate catalog    # a migrate Job / initContainer
#
# In a cluster each service runs next to a Dapr sidecar (SHOPFLEET_BLOCKS=dapr) with its
# own database (SHOPFLEET_<SERVICE>_DATABASE_URL); see components/ and charts/shopfleet.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build: wheels, then a venv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# What the wheel is built from (pyproject.toml names README.md as the readme).
COPY pyproject.toml README.md ./
COPY services ./services
COPY operator ./operator
# shopfleet's wheel and one for each dependency (all have binary wheels: no compiler here),
# installed into a venv that the runtime stage copies whole.
RUN pip wheel --wheel-dir /wheels . \
 && python -m venv /opt/shopfleet \
 && /opt/shopfleet/bin/pip install --no-index --find-links /wheels shopfleet \
 && /opt/shopfleet/bin/pip uninstall --yes pip

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/shopfleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHOPFLEET_BLOCKS=dapr \
    SHOPFLEET_LOG_FORMAT=json \
    SHOPFLEET_HOST=0.0.0.0 \
    SHOPFLEET_PORT=8000 \
    SHOPFLEET_DATA_DIR=/data
# A numeric, unprivileged user (so Kubernetes' runAsNonRoot can verify it) and the one
# directory it may write: /data (local images, scratch; mount a volume there if needed).
RUN groupadd --system --gid 10001 shopfleet \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin shopfleet \
 && install --directory --owner=10001 --group=10001 --mode=0750 /data
COPY --from=build /opt/shopfleet /opt/shopfleet
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# Liveness for Docker / Compose (Kubernetes uses the chart's probes on the same path).
# python, not curl: the slim image has no curl. Non-2xx or no answer: urlopen raises.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SHOPFLEET_PORT', '8000'), timeout=2)"
# SIGTERM: stop accepting, drain requests in flight, drain the outbox, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["shopfleet", "serve"]
CMD ["gateway"]
