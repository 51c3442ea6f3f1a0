# mmstack's container image: the API server (`mmstack up`) by default; the same image runs
# the ingestion workers (`mmstack worker`) and every other `mmstack` command.
#
#   docker build -t mmstack .
#   docker run -p 8000:8000 -v mmstack-data:/data --read-only --tmpfs /tmp mmstack
#
# Everything it writes is under /data (MMSTACK_DATA_DIR: database, blobs, vectors, model
# cache, generated secrets) and /tmp; the root filesystem can be read-only. The bundled
# models (embeddings, OCR, Whisper, the 1.5B chat model) are Python packages of the lock,
# so they are inside the virtualenv: nothing is downloaded at run time.
#
# BASE_IMAGE: any Debian bookworm (its Python 3.11 runs the virtualenv); where no registry
# is reachable, a local one (scripts/docker-engine builds mmstack-base/debian:bookworm):
#   docker build --network host --build-arg BASE_IMAGE=mmstack-base/debian:bookworm .
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS uv
ARG UV_VERSION=0.13.9
# pip and uv trust the system's CA bundle (Mozilla's, plus any CA the base image adds in
# /usr/local/share/ca-certificates, such as an egress proxy's) rather than their own copies.
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PATH=/opt/uv/bin:$PATH \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/mmstack/.venv \
    UV_LINK_MODE=copy
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# uv, pinned as scripts/bootstrap pins it, in a virtualenv that stays in the build stages.
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /src

# The locked dependencies alone (models included): the image's big layer, rebuilt and
# shipped again only when uv.lock changes. Less the test suites of numpy, scipy, PyWavelets
# and shapely (57 MB), which nothing imports.
FROM uv AS deps
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --compile-bytecode --no-install-project \
 && cd /opt/mmstack/.venv/lib/python3*/site-packages \
 && find numpy scipy pywt shapely -type d -name tests -prune -exec rm -rf {} +

# Then mmstack itself, as a wheel (hatchling: pyproject.toml, README.md, src/mmstack),
# and its files set apart in /project: the image's small layer, all a code change ships.
FROM deps AS project
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --compile-bytecode \
 && cd /opt/mmstack/.venv \
 && mkdir /project \
 && cp -a --parents bin/mmstack lib/python3*/site-packages/mmstack \
      lib/python3*/site-packages/mmstack-*.dist-info /project/

FROM ${BASE_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# python3: the interpreter the virtualenv was made with (/usr/bin/python3.11).
# libgomp1: OpenMP, which xllamacpp (llama.cpp) links to; the other wheels bundle their
# native libraries (`ldd` on every .so in the virtualenv finds nothing else missing).
# ca-certificates: TLS to upstream LLMs, S3 and the Hugging Face Hub.
# PyAV bundles its own FFmpeg libraries: no ffmpeg package.
# restic and postgresql-client (pg_dump, pg_restore): `mmstack backup` (docs/OPERATIONS.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 ca-certificates \
      restic postgresql-client \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 mmstack \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin mmstack \
 && mkdir -p /data /backups \
 && chown 10001:10001 /data /backups
COPY --from=deps /opt/mmstack/.venv /opt/mmstack/.venv
COPY --from=project /project/ /opt/mmstack/.venv/
# HOME and the caches a library might keep point at /tmp, so that nothing writes to a
# read-only root filesystem (mmstack's own model cache is /data/models).
ENV PATH=/opt/mmstack/.venv/bin:$PATH \
    VIRTUAL_ENV=/opt/mmstack/.venv \
    MMSTACK_DATA_DIR=/data \
    MMSTACK_HOST=0.0.0.0 \
    MMSTACK_PORT=8000 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    HF_HOME=/tmp/.cache/huggingface \
    HF_HUB_DISABLE_TELEMETRY=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# /healthz of the server on MMSTACK_PORT (python: the image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MMSTACK_PORT', '8000'), timeout=4).status == 200 else 1)"]
# Host and port come from MMSTACK_HOST / MMSTACK_PORT (0.0.0.0:8000), so that
# `-e MMSTACK_PORT=...` moves the server and its health check together.
CMD ["mmstack", "up"]
