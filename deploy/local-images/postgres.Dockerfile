# A stand-in for the official postgres image, built from Debian's packages on a base made
# with debootstrap, for machines without an image registry (scripts/compose-smoke). It
# honours the same POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB variables and PGDATA.
ARG BASE_IMAGE=local/python:3.11
FROM ${BASE_IMAGE}

# Unpinned: the versions are those of the Debian release the base image was made from.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
RUN mkdir -p "$PGDATA" /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 700 "$PGDATA"
# The package's own system user, whose uid Debian picks at install time.
# hadolint ignore=DL3066
USER postgres
ENTRYPOINT ["postgres-entrypoint"]
CMD ["postgres"]
