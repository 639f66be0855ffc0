"""The one place where logger and metrics are created; every module imports them from here."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
