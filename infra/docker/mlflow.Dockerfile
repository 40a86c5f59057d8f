# MLflow tracking server for the team stack: PostgreSQL backend, S3 artifacts, basic-auth.
# The official image lacks the PostgreSQL and S3 clients, hence this one. Build context: infra/.
# psycopg 3: SQLAlchemy 2.1 maps plain postgresql:// URIs to it (psycopg2 would need postgresql+psycopg2://).
FROM python:3.11-slim

ARG MLFLOW_VERSION=3.17.2
RUN pip install --no-cache-dir \
        "mlflow[auth]==${MLFLOW_VERSION}" \
        "psycopg[binary]>=3.2,<4" \
        "boto3>=1.34,<2" \
    && useradd --create-home --uid 1000 mlflow

COPY mlflow/entrypoint.sh /usr/local/bin/mlflow-entrypoint
USER mlflow
EXPOSE 5000
ENTRYPOINT ["mlflow-entrypoint"]
