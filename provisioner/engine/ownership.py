"""Ownership: the tags that mark a resource as this project's and environment's, and nothing else's."""
from __future__ import annotations

from dataclasses import dataclass

OWNER_PROJECT, OWNER_ENVIRONMENT, OWNER_RESOURCE = (
    "provisioner:project", "provisioner:environment", "provisioner:resource")
PROTECTED = "provisioner:deletion-protection"   # set while the spec says deletion_protection: true


@dataclass(frozen=True)
class Owner:
    project: str
    environment: str

    def owns(self, tags: dict) -> bool:
        return (tags.get(OWNER_PROJECT) == self.project
                and tags.get(OWNER_ENVIRONMENT) == self.environment)

    def describe(self, tags: dict) -> str:
        if OWNER_PROJECT not in tags:
            return "has no provisioner ownership tags"
        return f"is owned by project '{tags.get(OWNER_PROJECT)}' environment '{tags.get(OWNER_ENVIRONMENT)}'"
