# PostgreSQL and Redis for the compose stack (infra/prefect-server/compose.yaml), from Debian's
# packages on the same debootstrap base as the AutoAgent image: no registry is pulled.
# Built by `python infra/docker/image.py build --infra`.
FROM autoagent-base:bookworm
LABEL org.autoagent.image=infra

RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        postgresql-15 redis-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data

COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
RUN chmod 755 /usr/local/bin/postgres-entrypoint
