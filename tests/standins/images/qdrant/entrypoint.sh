#!/bin/sh
# The Qdrant stand-in's entrypoint (see its Dockerfile): REST on 0.0.0.0:6333, the API key
# from QDRANT__SERVICE__API_KEY (which qdrant_server.py reads), storage in /qdrant/storage.
set -eu
if [ -z "${QDRANT__SERVICE__API_KEY:-}" ]; then
  echo "warning: QDRANT__SERVICE__API_KEY is not set: the API is open" >&2
fi
exec python /qdrant/qdrant_server.py --host 0.0.0.0 --port 6333 --path /qdrant/storage \
  --log-level "${QDRANT_STANDIN_LOG_LEVEL:-warning}" "$@"
