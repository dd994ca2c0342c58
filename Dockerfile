# pricecast: one image for the API, the job worker and the CLI; the command picks the role
# (`serve`, `worker`, `migrate`, ...). Build with `docker build -t pricecast .` or through
# docker-compose.yml. There is deliberately no `# syntax=` line: the file builds with the
# classic builder too, without pulling a frontend image.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Where pip gets torch. The default is PyTorch's CPU-only index: about 200 MB instead of
# several GB of CUDA wheels that a CPU service never uses. A build without access to that
# index points pip at local wheels put in docker-context-extra/, e.g.
#   --build-arg TORCH_PIP_ARGS="--find-links /tmp/pip-extra"
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
# pip's CA bundle, for builds behind a TLS-intercepting proxy, e.g.
#   --build-arg PIP_CERT=/tmp/pip-extra/ca-certificates.crt
# (a build argument, not ENV, so it stays out of the image's configuration).
ARG PIP_CERT

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A virtualenv rather than the system interpreter: Debian's own Python (PEP 668) refuses
# system-wide pip installs, and the official image gains nothing from them.
RUN python3 -m venv "$VIRTUAL_ENV"

WORKDIR /app

# docker-context-extra/ holds what a build behind a TLS-intercepting proxy or without the
# torch index needs (a CA bundle, local wheels); it exists only where such a build creates
# it. The bracket makes it optional: constraints.txt always matches, so the COPY never fails.
COPY constraints.txt requirements.lock docker-context-extr[a] /tmp/pip-extra/

# Dependencies before code, so that editing the code does not reinstall them, at the versions
# requirements.lock pins (the ones the test suite ran against; scripts/lock refreshes it).
# torch first, alone and without its dependencies, from its own index; then everything
# pyproject.toml lists, torch's dependencies included, constrained to the lock (its test-only
# pins are never installed: a constraint only applies to what is asked for).
# TORCH_PIP_ARGS holds several pip options, so it is expanded unquoted on purpose.
RUN pip install $TORCH_PIP_ARGS --no-deps -c /tmp/pip-extra/requirements.lock -c /tmp/pip-extra/constraints.txt torch
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c /tmp/pip-extra/requirements.lock -c /tmp/pip-extra/constraints.txt \
        -r /tmp/requirements.txt setuptools \
    && rm -rf /tmp/pip-extra /tmp/requirements.txt

# The code. An editable install keeps it in /app, next to migrations/, which
# `pricecast migrate` reads from the source tree.
COPY README.md alembic.ini ./
COPY migrations ./migrations
COPY models ./models
COPY service ./service
RUN pip install --no-deps --no-build-isolation -e . \
    && python3 -c "import service, models, torch"

# Run as a user without privileges. /data is PRICECAST_DATA_DIR. Checkpoints are rows in the
# database; /data/checkpoints is only used with PRICECAST_CHECKPOINT_STORE=files (mount a
# shared volume there then; a new named volume takes this ownership).
RUN groupadd --system --gid 10001 pricecast \
    && useradd --system --create-home --uid 10001 --gid 10001 pricecast \
    && mkdir -p /data/checkpoints \
    && chown -R pricecast:pricecast /data
# Numeric, so runAsNonRoot-style checks can verify it without reading /etc/passwd.
USER 10001:10001

ENV PRICECAST_DATA_DIR=/data \
    PRICECAST_HOST=0.0.0.0 \
    PRICECAST_PORT=8000
EXPOSE 8000

# Healthy = the API answers and its database schema is at head. Containers that run
# another command (worker, migrate) turn this off or replace it in docker-compose.yml.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PRICECAST_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["pricecast"]
CMD ["serve"]
