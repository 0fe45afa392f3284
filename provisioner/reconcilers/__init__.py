"""The registry of reconcilers, one per resource kind, registered explicitly."""
from provisioner.reconcilers.apigateway import ApiGateways
from provisioner.reconcilers.base import Registry
from provisioner.reconcilers.cloudfront import CloudFrontDistributions
from provisioner.reconcilers.cloudwatch import Alarms, Dashboards
from provisioner.reconcilers.dynamodb import DynamoDbTables
from provisioner.reconcilers.events import EventRules
from provisioner.reconcilers.iam import IamRoles
from provisioner.reconcilers.kms import KmsKeys
from provisioner.reconcilers.lambda_functions import LambdaFunctions
from provisioner.reconcilers.lambda_layers import LambdaLayers
from provisioner.reconcilers.logs import LogGroups
from provisioner.reconcilers.s3 import S3Buckets
from provisioner.reconcilers.secrets import Secrets
from provisioner.reconcilers.sns import SnsTopics
from provisioner.reconcilers.sqs import SqsQueues
from provisioner.reconcilers.states import StateMachines
from provisioner.reconcilers.vpc import Vpcs


def default_registry() -> Registry:
    return Registry([KmsKeys(), IamRoles(), LogGroups(), SqsQueues(), SnsTopics(), DynamoDbTables(), S3Buckets(),
                     LambdaLayers(), LambdaFunctions(), ApiGateways(), StateMachines(), EventRules(), Alarms(),
                     Dashboards(), Secrets(), Vpcs(), CloudFrontDistributions()])
