# popgate on Debian 13 (trixie), with its own build of mbedTLS 3.6 (TLS 1.2 and 1.3): Debian's
# mbedtls source package built with popgate's config (tls/mbedtls_config.h), linked statically.
#
#   docker build -t popgate .
#   docker run -d --name popgate -p 995:995 -p 110:110 -p 9110:9110 \
#     -v /srv/popgate:/etc/popgate:ro popgate
#
# The config is read from /etc/popgate/popgate.toml (mount a directory holding it and its
# certificate and key; paths in it are relative to it). Logs go to stderr (`docker logs`). For
# the health check, [metrics] bind must be set: `popgate --healthcheck` asks its /healthz.
#
# popgate runs as the unprivileged user "popgate". Docker (20.10 and later) and Podman give a
# container on its own network namespace net.ipv4.ip_unprivileged_port_start=0, so it may bind
# 995 and 110. With --network host that sysctl is the host's: bind ports above 1023 there, or
# run as root (--user 0) with [server] user = "popgate" so popgate drops to it after binding.

# --- build: compile, run the unit tests ------------------------------------------------------
FROM debian:trixie-slim AS build
ARG JOBS=2
ARG DEBIAN_FRONTEND=noninteractive
# The deb-src line (this stage only) lets apt-get source fetch Debian's mbedtls source package:
# verified against the signed index, unpacked with Debian's patches by dpkg-source.
RUN sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      >/etc/apt/sources.list.d/debian-src.sources \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ make cmake pkg-config dpkg-dev \
      libuv1-dev libtomlplusplus-dev prometheus-cpp-dev libfmt-dev libhiredis-dev \
      googletest libgtest-dev \
 && mkdir -p /usr/src/mbedtls && cd /usr/src/mbedtls \
 && apt-get source -qq mbedtls \
 && ln -s mbedtls-*/ source \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Unit tests only: the integration tests need Dovecot and real clients (scripts/trixie runs
# them on Debian 13).
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DPOPGATE_WERROR=ON \
      -DPOPGATE_MBEDTLS=bundled -DPOPGATE_MBEDTLS_SOURCE_DIR=/usr/src/mbedtls/source \
 && cmake --build /build -j"${JOBS}" \
 && ctest --test-dir /build -L unit -j"${JOBS}" --output-on-failure \
 && cmake --install /build --strip --prefix /out \
 && /out/sbin/popgate --version

# --- runtime: the binary and the shared libraries it links, nothing else ----------------------
FROM debian:trixie-slim
ARG DEBIAN_FRONTEND=noninteractive
# The trixie runtime packages behind popgate's -dev build dependencies (libstdc++6 and libc6
# are in the base image already). toml++ is a compiled library on trixie, not header-only.
# mbedTLS is linked in statically: no libmbedtls package.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libuv1t64 libhiredis1.1.0 \
      libprometheus-cpp-core1.0 libfmt10 libtomlplusplus3t64 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
      /var/log/apt /var/log/dpkg.log \
 && useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin popgate \
 && mkdir -p /etc/popgate
COPY --from=build /out/sbin/popgate /usr/bin/popgate
# Fails the build if a shared library is missing from the list above.
RUN popgate --version

USER popgate
EXPOSE 995 110 9110
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["popgate", "--healthcheck"]
ENTRYPOINT ["popgate"]
CMD ["-c", "/etc/popgate/popgate.toml"]
