# paperbot in a container: slim, non-root; the database and the list's work tree live on
# the /data volume. Settings come from the environment (compose.yaml reads .env).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 paperbot

WORKDIR /src
COPY pyproject.toml README.md LICENSE paperbot.example.toml .env.example ./
COPY bot ./bot
COPY storage ./storage
RUN pip install --no-cache-dir . && rm -rf /src

# /data holds paperbot.db, its lock files, paperbot.toml and the list's git work tree.
ENV PAPERBOT_DB=/data/paperbot.db \
    PAPERBOT_CONFIG=/data/paperbot.toml \
    PYTHONUNBUFFERED=1
RUN mkdir /data && chown paperbot:paperbot /data
VOLUME ["/data"]
WORKDIR /data
USER paperbot

# healthy: a run holds the database and its last polls worked; degraded counts as unhealthy.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["paperbot", "status", "--check"]

# SIGTERM lets in-flight work finish and exits 0 within 10 s.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "test -f paperbot.toml || paperbot init; exec paperbot run"]
