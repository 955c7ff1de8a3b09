# Naive single-stage image of the same app, the way the seed documents build theirs: base +
# build tools + pip install, everything in one stage. Only a comparison point for
# bench/image.sh (size over the base vs app/Dockerfile); never shipped.
# Build context: app/ (same context and .dockerignore as the real image).
#   buildah bud --format docker --build-arg PYTHON_IMAGE=localhost/standin-python:bookworm \
#       -f bench/naive.Dockerfile app/
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm
FROM ${PYTHON_IMAGE}

# Compilers and headers, as the seeds' Dockerfiles install (gcc/g++/libmysqlclient-dev there;
# build-essential here). The stand-in drops apt lists, so update first.
RUN apt-get update && apt-get install -y build-essential

WORKDIR /app
COPY . /app

# Debian's python3 is externally managed (PEP 668): a venv, then pip (PyPI over the machine's
# CA; SSL_CERT_FILE is set in the stand-in base).
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install /app
ENV PATH="/opt/venv/bin:${PATH}"

EXPOSE 8000
CMD ["python", "-m", "service"]
