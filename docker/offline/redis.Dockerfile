# Redis where `redis:7.2-bookworm` cannot be pulled (docker/compose.offline.yml): Debian
# bookworm's redis-server, which the debootstrap base already holds. Like the official image,
# no config file and protected mode off: only the compose network reaches it (no host port).
ARG ENCORE_OFFLINE_BASE=encore-offline/base:bookworm
FROM ${ENCORE_OFFLINE_BASE}
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
