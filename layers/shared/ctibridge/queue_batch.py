"""Powertools' batch utility for the SQS consumers, without the event classes they never receive.

``aws_lambda_powertools.utilities.batch`` imports the SQS, Kinesis, DynamoDB-stream and Kafka record
classes from ``utilities.data_classes``, whose ``__init__`` imports every event class Powertools has (S3
batch operations, Cognito, AppSync, Code Pipeline, ...): ~20 ms of each consumer's cold start. The
package's ``__init__`` is deferred (``ctibridge.deferred_package``), so only those record modules load.

Consumers import the batch names from here first, before any module that imports pydantic: Powertools'
``batch.types`` imports its parser's pydantic models of SQS, Kinesis, DynamoDB-stream and Kafka records
(~45 ms) if, and only if, pydantic is already loaded; the models serve ``model=`` processors, which these
consumers don't use.
"""

from ctibridge.deferred_package import defer_init

defer_init("aws_lambda_powertools.utilities.data_classes")
# The batch utility's base module imports asyncio for its async processor, which these consumers never
# use (~30 ms: asyncio's __init__ loads its event loops, streams, subprocesses...). Deferred the same way:
# anything asking asyncio for a name runs its real __init__ then.
defer_init("asyncio")

from aws_lambda_powertools.utilities.batch import (  # noqa: E402
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse  # noqa: E402
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord  # noqa: E402

__all__ = [
    "BatchProcessor",
    "EventType",
    "PartialItemFailureResponse",
    "SQSRecord",
    "SqsFifoPartialProcessor",
    "process_partial_response",
]
