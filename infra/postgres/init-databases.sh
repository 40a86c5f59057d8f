#!/bin/sh
# Runs once, on an empty data volume (docker-entrypoint-initdb.d): one database per service.
# POSTGRES_DB (mlflow) is created by the image itself; the others are named in KNOWCODER_DATABASES.
set -eu
for database in ${KNOWCODER_DATABASES:-}; do
    echo "creating database ${database}"
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" \
        -c "CREATE DATABASE \"${database}\" OWNER \"${POSTGRES_USER}\";"
done
