# The one-shot `provision` service of docker-compose.yml: Terraform applies
# infra/terraform/envs/emulator against moto, then compose/provision.py hands the resource names
# to the web app. Built from the repository root:
#
#   docker build -f compose/provision.Dockerfile -t imgcap-provision .
#
# TERRAFORM_IMAGE gives the terraform binary at /bin/terraform; `terraform init` runs in it at
# build time, so the container needs no registry at run time. The official image downloads the
# AWS provider from the Terraform registry; where that cannot be reached, an image that carries
# the provider in the implied local mirror /usr/share/terraform/plugins works offline
# (scripts/compose-smoke.sh makes one from this machine's terraform and /opt/tf-plugins).
# BASE_IMAGE needs python3 (the standard library only).

ARG TERRAFORM_IMAGE=hashicorp/terraform:1.11
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${TERRAFORM_IMAGE} AS terraform
# The repository's layout: modules/policy-template reads the policies from docs/iam.
WORKDIR /opt/imgcap
COPY infra/terraform/envs/emulator/ infra/terraform/envs/emulator/
COPY infra/terraform/modules/ infra/terraform/modules/
COPY docs/iam/ docs/iam/
# -L: a provider from a local mirror in unpacked layout is linked, not copied; the copy must
# hold the files themselves.
RUN terraform -chdir=infra/terraform/envs/emulator init -backend=false -input=false -no-color \
        -lockfile=readonly \
    && cp -RL infra/terraform/envs/emulator/.terraform /tmp/dot-terraform \
    && rm -rf infra/terraform/envs/emulator/.terraform \
    && mv /tmp/dot-terraform infra/terraform/envs/emulator/.terraform

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="imgcap-provision" \
      org.opencontainers.image.description="creates imgcap's AWS resources in the moto emulator for docker-compose"
RUN groupadd --system --gid 10003 provision \
    && useradd --system --no-log-init --uid 10003 --gid 10003 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin provision \
    && install -d -o 10003 -g 10003 -m 0755 /var/lib/imgcap-provision /run/imgcap-aws
COPY --from=terraform /bin/terraform /usr/local/bin/terraform
COPY --from=terraform /opt/imgcap/ /opt/imgcap/
COPY compose/provision.py /opt/imgcap/provision.py
ENV CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0 PYTHONUNBUFFERED=1
USER 10003:10003
ENTRYPOINT ["python3", "/opt/imgcap/provision.py"]
