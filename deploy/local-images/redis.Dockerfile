# A stand-in for the official redis image, built from Debian's packages on a base made with
# debootstrap, for machines without an image registry (scripts/compose-smoke).
ARG BASE_IMAGE=local/python:3.11
FROM ${BASE_IMAGE}

# Unpinned: the versions are those of the Debian release the base image was made from.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data
# The package's own system user, whose uid Debian picks at install time.
# hadolint ignore=DL3066
USER redis
WORKDIR /data
CMD ["redis-server", "--dir", "/data"]
