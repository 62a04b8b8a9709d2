# syntax=docker/dockerfile:1
#
# sync-exporter container image: docs/docker.md explains how to build, run and verify it.
#
# Two stages on the same pinned slim Python base: the builder installs the package into a
# virtualenv; the runtime copies only that virtualenv, so no compiler, pip cache or source
# tree ships. The process runs as the numeric user 10001 (the Helm chart's runAsUser: a
# test keeps them equal) and writes nothing to disk, so a read-only root filesystem works.
#
# PYTHON_IMAGE is any Debian-based image with `python` (3.11+) and its venv/ensurepip
# modules: the official python:slim below, or the Debian bookworm base that scripts/build-image
# makes with debootstrap where no registry can be reached. Pin it by digest in your own
# pipeline for byte-for-byte rebuilds:
#   docker build --build-arg PYTHON_IMAGE=python:3.12.12-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# Only for builds behind a TLS-intercepting proxy: the path of its CA bundle, mounted into the
# build (scripts/build-image does it when the host's pip has PIP_CERT or SSL_CERT_FILE). A
# builder-stage argument, so it never reaches the runtime image.
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The shipped venv has no pip of its own: a throw-away tool venv (pip from the standard
# library's ensurepip, present in both kinds of base) installs into it with --python, so the
# runtime image carries no package installer whatever the base image ships.
RUN python -m venv --without-pip /opt/venv \
    && python -m venv /opt/tools
COPY pyproject.toml README.md ./
COPY sync_exporter ./sync_exporter
# The wheel build needs the package metadata and README; the install compiles .pyc files
# now, because the read-only runtime filesystem cannot take them later.
RUN /opt/tools/bin/pip --python /opt/venv/bin/python install --no-cache-dir --compile . \
    && /opt/venv/bin/sync-exporter --version

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/sync-exporter/sync-exporter
LABEL org.opencontainers.image.title="sync-exporter" \
      org.opencontainers.image.description="Prometheus exporter for BitTorrent Sync / Resilio Sync nodes (API v1)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}/blob/main/docs/docker.md"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNC_EXPORTER_HEALTHCHECK_URL=http://127.0.0.1:9888/-/healthy
# A passwd entry makes `ps` and log tooling show a name; USER below stays numeric, because
# Kubernetes' runAsNonRoot can only verify a numeric user.
# The official python:slim base has pip installed system-wide; it goes, so no package
# installer ships (the Debian base has none to remove).
RUN groupadd --system --gid 10001 sync-exporter \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin sync-exporter \
    && if python -m pip --version >/dev/null 2>&1; then \
           python -m pip uninstall --yes --no-cache-dir pip; \
       fi
COPY --from=builder /opt/venv /opt/venv
# The default --config.file (sync-exporter.yml) is relative: it resolves here.
WORKDIR /etc/sync-exporter
USER 10001:10001
EXPOSE 9888
# Docker and Compose only: Kubernetes ignores HEALTHCHECK and uses the chart's probes.
# The slim image has no curl; Python's urllib exits non-zero on a refused connection or a
# non-2xx answer. /-/healthy never contacts a Sync node, so a down node is not "unhealthy".
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SYNC_EXPORTER_HEALTHCHECK_URL'], timeout=3)"]
# Exec form: the exporter is PID 1 and gets SIGTERM (graceful stop) and SIGHUP (reload)
# directly. It starts no child processes, so no init process is needed to reap them.
ENTRYPOINT ["/opt/venv/bin/sync-exporter"]
CMD ["--config.file=/etc/sync-exporter/sync-exporter.yml", "--web.listen-address=:9888"]
