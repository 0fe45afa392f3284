"""The registry of reconcilers, one per resource kind, registered explicitly."""
from provisioner.services.apigateway import ApiGateways
from provisioner.services.base import Registry
from provisioner.services.cloudfront import CloudFrontDistributions
from provisioner.services.cloudwatch_alarms import Alarms
from provisioner.services.cloudwatch_dashboards import Dashboards
from provisioner.services.dynamodb import DynamoDbTables
from provisioner.services.events import EventRules
from provisioner.services.iam import IamRoles
from provisioner.services.kms import KmsKeys
from provisioner.services.lambda_functions import LambdaFunctions
from provisioner.services.lambda_layers import LambdaLayers
from provisioner.services.logs import LogGroups
from provisioner.services.s3 import S3Buckets
from provisioner.services.secrets import Secrets
from provisioner.services.sns import SnsTopics
from provisioner.services.sqs import SqsQueues
from provisioner.services.states import StateMachines
from provisioner.services.vpc import Vpcs


def default_registry() -> Registry:
    return Registry([KmsKeys(), IamRoles(), LogGroups(), SqsQueues(), SnsTopics(), DynamoDbTables(), S3Buckets(),
                     LambdaLayers(), LambdaFunctions(), ApiGateways(), StateMachines(), EventRules(), Alarms(),
                     Dashboards(), Secrets(), Vpcs(), CloudFrontDistributions()])
