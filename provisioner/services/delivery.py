"""Deliveries: an AWS service sending to a resource of the spec on behalf of another one, and the
resource-policy and key-policy statements they need."""
from __future__ import annotations

from dataclasses import dataclass

from provisioner.spec.refs import Ref, Template

# services that deliver with the sender's own role (a function's execution role), which its grants cover
ENCRYPTS_AS_CALLER = {"lambda.amazonaws.com"}



@dataclass(frozen=True)
class Delivery:
    """A service that sends to a resource of the spec on behalf of another one (SNS -> queue, S3 -> topic).

    The target's reconciler turns deliveries into its resource policy or permissions, and the key
    that encrypts the target gets a grant for the service: no per-pair code.
    """

    target: str        # address receiving, e.g. "sqs_queues.orders"
    service: str       # principal delivering, e.g. "sns.amazonaws.com"
    source: str        # address sending, e.g. "sns_topics.order-events"
    source_arn: object  # ARN string or Ref of the sender
    label: str = ""     # tells apart several deliveries of one sender (an API's routes)

    def condition(self, account: str) -> dict:
        """Only this sender may deliver; S3 ARNs carry no account, so S3 is also pinned to ours."""
        condition = {"ArnEquals": {"aws:SourceArn": self.source_arn}}
        if self.service == "s3.amazonaws.com":
            condition["StringEquals"] = {"aws:SourceAccount": account}
        return condition



def service_sid(service: str) -> str:
    """Stable statement id for a service principal: sns.amazonaws.com -> Sns."""
    return "".join(part.capitalize() for part in service.split(".")[0].split("-"))



def service_key_statement(service: str, account: str) -> dict:
    """Lets an AWS service use a key for this account's resources only (confused-deputy safe)."""
    return {"Sid": "Allow" + service_sid(service), "Effect": "Allow", "Principal": {"Service": service},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}}}



def managed_key_refusal(who: str, managed_key: str) -> str:
    """Why services that must use a resource's key cannot have AWS's managed one."""
    return (f"{who} cannot use the AWS managed key {managed_key} (its key policy cannot grant a service): "
            "name a kms_key of the spec, whose policy gets the grant")



def logical_sid(address: str) -> str:
    return "".join(p.capitalize() for p in address.split(".", 1)[1].replace("_", "-").split("-"))



def predictable(value, spec) -> bool:
    """Whether every reference in value is known before its resource exists (an ARN built from a name)."""
    from provisioner.aws.session import offline_context
    refs = [value] if isinstance(value, Ref) else value.refs() if isinstance(value, Template) else []
    context = offline_context(spec)
    return all(ref.attr in spec.registry[ref.kind].predicted_outputs(spec.nodes[ref.address], context)
               for ref in refs if ref.address in spec.nodes)



def senders_known_after_creation(node, spec) -> set:
    """Addresses of the resources delivering to node whose ARN (which node's policy or permissions name)
    exists only once they do: a distribution reading a bucket, an API invoking a function."""
    return {delivery.source for delivery in spec.deliveries_to(node.address)
            if not predictable(delivery.source_arn, spec)}
