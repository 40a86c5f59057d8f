#!/bin/sh
# MLflow tracking server with authentication (basic-auth app): writes the auth configuration from
# the environment, then runs the server. Nothing secret lives in a file of this repository.
#
#   MLFLOW_BACKEND_STORE_URI      runs, metrics, registry (postgresql://USER:PASSWORD@HOST:5432/mlflow)
#   MLFLOW_ARTIFACTS_DESTINATION  where the server stores artifacts (s3://BUCKET/PATH; clients never see it)
#   MLFLOW_AUTH_DATABASE_URI      users and permissions (postgresql://.../mlflow_auth)
#   MLFLOW_AUTH_ADMIN_USERNAME    admin user created on first start (default admin)
#   MLFLOW_AUTH_ADMIN_PASSWORD    its password, read on first start only
#   MLFLOW_FLASK_SERVER_SECRET_KEY  signs the auth app's sessions
#   MLFLOW_AUTH_DEFAULT_PERMISSION  what authenticated users may do by default (READ)
#   MLFLOW_ALLOWED_HOSTS          Host headers accepted (default: the compose service name and localhost)
#   MLFLOW_HOST, MLFLOW_PORT, MLFLOW_WORKERS  where and how the server listens
set -eu
: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (postgresql://user:password@host:5432/mlflow)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (s3://bucket/artifacts)}"
: "${MLFLOW_AUTH_DATABASE_URI:?set MLFLOW_AUTH_DATABASE_URI (postgresql://user:password@host:5432/mlflow_auth)}"
: "${MLFLOW_AUTH_ADMIN_PASSWORD:?set MLFLOW_AUTH_ADMIN_PASSWORD (the admin password on first start)}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?set MLFLOW_FLASK_SERVER_SECRET_KEY (a long random string)}"

config="${MLFLOW_AUTH_CONFIG_PATH:-${TMPDIR:-/tmp}/mlflow-basic-auth.ini}"
umask 077
cat > "${config}" <<INI
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = ${MLFLOW_AUTH_DATABASE_URI}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="${config}"

exec mlflow server \
    --app-name basic-auth \
    --backend-store-uri "${MLFLOW_BACKEND_STORE_URI}" \
    --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION}" \
    --serve-artifacts \
    --host "${MLFLOW_HOST:-0.0.0.0}" \
    --port "${MLFLOW_PORT:-5000}" \
    --workers "${MLFLOW_WORKERS:-2}" \
    --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-mlflow,mlflow:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*}" \
    "$@"
