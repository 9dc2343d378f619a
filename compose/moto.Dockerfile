# moto server (an AWS-protocol emulator) for docker-compose.yml: the web app's AWS mode runs
# against it on one machine. The version matches infra/requirements-infra.txt.
#
#   docker build -f compose/moto.Dockerfile -t imgcap-moto compose
#
# BASE_IMAGE needs python3 with the venv module (scripts/compose-smoke.sh imports a debootstrap
# image with python3-venv where public images cannot be pulled).

ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ARG MOTO_VERSION=5.2.5
RUN python3 -m venv /opt/moto \
    && /opt/moto/bin/pip install --no-cache-dir --disable-pip-version-check "moto[server]==${MOTO_VERSION}" \
    && groupadd --system --gid 10002 moto \
    && useradd --system --no-log-init --uid 10002 --gid 10002 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin moto
USER 10002:10002
EXPOSE 5000
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=5 \
    CMD ["/opt/moto/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/moto-api/' % os.environ.get('MOTO_PORT', '5000'), timeout=2)"]
ENTRYPOINT ["/opt/moto/bin/moto_server", "-H", "0.0.0.0"]
CMD ["-p", "5000"]
