"""Tags as each service writes and reads them: the tag API a kind declares, and tag list/map shapes."""
from __future__ import annotations

from dataclasses import dataclass

from provisioner.aws.errors import unless_missing
from provisioner.engine.operations import Call


@dataclass(frozen=True)
class TagApi:
    """How a service tags a resource, declared once per kind: the engine reads tags, writes them on create
    and turns a tag diff into the service's own untag and tag calls."""

    service: str
    resource_param: str            # the call's identifier parameter: "QueueUrl", "ResourceArn", "KeyId"
    resource_output: str = "arn"   # the output holding that identifier
    tag: str = "tag_resource"
    untag: str = "untag_resource"
    list: str = "list_tags_for_resource"
    tags_param: str = "Tags"       # in the tag call and the create call
    keys_param: str = "TagKeys"
    as_map: bool = False           # {key: value} rather than [{Key: .., Value: ..}]
    key: str = "Key"
    value: str = "Value"
    listed: str = "Tags"           # the list answer's field holding them
    wrapper: str = ""              # CloudFront's {"Items": [...]}, S3's {"TagSet": [...]}
    replaces: bool = False         # one call sets the whole set (S3): no untag call
    resource_as_list: bool = False  # EC2's Resources=[id]
    keys_as_tags: bool = False     # EC2's DeleteTags takes Tags=[{Key: ..}]
    pages: bool = False            # the list answer continues with NextToken (DynamoDB)

    def format(self, tags: dict):
        """Tags in the service's shape, for the create call's tags parameter."""
        items = dict(sorted(tags.items())) if self.as_map else tags_to_list(tags, self.key, self.value)
        return {self.wrapper: items} if self.wrapper else items

    def parse(self, answer: dict) -> dict:
        found = answer.get(self.listed) or ({} if self.as_map else [])
        if self.wrapper and isinstance(found, dict) and self.wrapper in found:
            found = found[self.wrapper]
        if self.as_map:
            return {k: v for k, v in found.items() if not k.startswith("aws:")}
        return tags_from_list(found, self.key, self.value)

    def read(self, ctx, resource_id: str, missing: tuple = ()) -> dict:
        list_tags = getattr(ctx.client(self.service), self.list)
        request, tags = self._resource(resource_id), {}
        while True:
            answer = unless_missing(list_tags, *missing, default={}, **request)
            tags.update(self.parse(answer))
            if not (self.pages and answer.get("NextToken")):
                return tags
            request = {**request, "NextToken": answer["NextToken"]}

    def _resource(self, resource_id: str) -> dict:
        return {self.resource_param: [resource_id] if self.resource_as_list else resource_id}

    def calls(self, resource_id: str, desired: dict, actual: dict):
        """The calls taking the resource's tags from actual to desired (aws:* keys are never touched)."""
        to_set, to_remove = tag_changes(desired, actual)
        resource = self._resource(resource_id)
        if self.replaces:
            if to_set or to_remove:
                yield Call(self.service, self.tag, {**resource, self.tags_param: self.format(desired)}, "set tags")
            return
        if to_remove:
            keys = [{self.key: k} for k in to_remove] if self.keys_as_tags else to_remove
            yield Call(self.service, self.untag,
                       {**resource, self.keys_param: {"Items": keys} if self.wrapper == "Items" else keys},
                       "remove tags " + ", ".join(to_remove))
        if to_set:
            yield Call(self.service, self.tag, {**resource, self.tags_param: self.format(to_set)},
                       "set tags " + ", ".join(sorted(to_set)))



def tags_from_list(items, key: str = "Key", value: str = "Value") -> dict:
    """AWS tag list -> dict, without the aws:* tags AWS manages itself."""
    return {t[key]: t[value] for t in items or [] if not t[key].startswith("aws:")}



def tags_to_list(tags: dict, key: str = "Key", value: str = "Value") -> list:
    return [{key: k, value: v} for k, v in sorted(tags.items())]



def tag_changes(desired: dict, actual: dict) -> tuple[dict, list]:
    """(tags to set, keys to remove) to go from actual to desired; aws:* keys are never touched."""
    to_set = {k: v for k, v in desired.items() if actual.get(k) != v}
    to_remove = sorted(k for k in actual if k not in desired and not k.startswith("aws:"))
    return to_set, to_remove
