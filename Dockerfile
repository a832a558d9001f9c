# The Breakwater image: the wheel built from this repository, on a slim Python 3.11,
# run as an unprivileged user. deploy/kubernetes/ uses it (replace its placeholder
# image name with where you push this one):
#   docker build -t registry.example.com/breakwater:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY breakwater ./breakwater
RUN pip wheel --no-cache-dir --constraint constraints.txt --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels breakwater \
    && rm -rf /wheels \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin breakwater
USER 10001:10001
# xDS and the gRPC API; the HTTP admin API (probes, metrics, console).
EXPOSE 18000 18001
ENTRYPOINT ["breakwater"]
# Listening beyond loopback needs the admin token and the proxies' credentials: mount the
# policies, a token file and a proxy token file (owner-readable, see docs/security.md) there,
# or give your own arguments.
CMD ["serve", "--config", "/etc/breakwater/policies", "--xds-address", "0.0.0.0:18000", "--admin-address", "0.0.0.0:18001", "--token-file", "/etc/breakwater/token/token", "--proxy-token-file", "/etc/breakwater/proxy-tokens/tokens"]
