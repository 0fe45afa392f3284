"""The registry of reconcilers, one per resource kind, registered explicitly."""
from provisioner.reconcilers.base import Registry
from provisioner.reconcilers.dynamodb import DynamoDbTables
from provisioner.reconcilers.kms import KmsKeys
from provisioner.reconcilers.sns import SnsTopics
from provisioner.reconcilers.sqs import SqsQueues


def default_registry() -> Registry:
    return Registry([KmsKeys(), SqsQueues(), SnsTopics(), DynamoDbTables()])
