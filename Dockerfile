# The service image: one image for the web app, the workers and the scheduler
# (the command picks the role). Built without network access: Python packages
# come from a wheelhouse and Debian packages from .deb files, both prepared on
# the host by deploy/build-images.sh through pip's and apt's own configuration.
# No secret is ever copied in: keys and passwords arrive at run time as files.
#
#   deploy/build-images.sh                       # prepares deploy/build/, then builds
#   BASE_IMAGE=python:3.11-slim-bookworm deploy/build-images.sh
#
# BASE_IMAGE: any Debian 12 (bookworm) image with python3 and its venv module.
# Where no registry can be reached, build-images.sh uses the Debian root
# filesystem that `acceptance image build` imported (acceptance-sandbox-base).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG APP_UID=10002
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/acceptance/venv/bin:$PATH \
    ACCEPTANCE_DATA_DIR=/var/lib/acceptance

# git (checkouts on the worker), libmagic (ScanCode's file types), tini (PID 1:
# signals and zombie reaping for git and ScanCode children), CA certificates,
# pango and DejaVu fonts (WeasyPrint renders the acceptance certificates' PDF).
COPY deploy/build/debs/ /tmp/debs/
RUN set -eu; \
    if ls /tmp/debs/*.deb >/dev/null 2>&1; then dpkg -i /tmp/debs/*.deb; fi; \
    if ! command -v git >/dev/null || ! command -v tini >/dev/null \
       || ! ldconfig -p | grep -q 'libmagic\.so\.1 ' \
       || ! ldconfig -p | grep -q 'libpangoft2-1\.0\.so\.0 '; then \
      apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends git libmagic1 tini ca-certificates \
        libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core; \
    fi; \
    rm -rf /tmp/debs /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

COPY deploy/build/wheelhouse/ /tmp/wheels/
RUN set -eu; \
    python3 -m venv /opt/acceptance/venv; \
    /opt/acceptance/venv/bin/pip install --no-index --no-cache-dir --progress-bar off \
      --find-links /tmp/wheels -r /tmp/wheels/requirements.txt; \
    rm -rf /tmp/wheels; \
    groupadd --gid "$APP_UID" acceptance; \
    useradd --uid "$APP_UID" --gid "$APP_UID" --home-dir /var/lib/acceptance \
      --no-create-home --shell /usr/sbin/nologin acceptance; \
    install -d -o acceptance -g acceptance -m 0750 /var/lib/acceptance; \
    acceptance --version

USER acceptance:acceptance
WORKDIR /var/lib/acceptance
EXPOSE 8000
ENTRYPOINT ["tini", "--", "acceptance"]
CMD ["web", "--host", "0.0.0.0", "--port", "8000"]
