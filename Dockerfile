# The Haechi image for deploy/docker-compose.yml (API, workers, beat: one image, three commands).
# NOT built on the development machine: it has the docker client but no daemon. The same
# processes run in CI as plain processes against PostgreSQL and Redis.
FROM python:3.11-slim-bookworm
# a C compiler for pdqhash; Debian's Chromium for evidence screenshots; a Korean font for PDF reports
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential chromium fonts-nanum \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/haechi
COPY pyproject.toml README.md ./
COPY haechi ./haechi
RUN pip install --no-cache-dir '.[s3]'   # the whole tool: the watermark decoder is vendored
RUN useradd --uid 10001 --home-dir /srv/haechi --create-home haechi
USER 10001
ENV HAECHI_HOME=/srv/haechi
EXPOSE 8000
CMD ["haechi", "serve", "--host", "0.0.0.0", "--port", "8000"]
