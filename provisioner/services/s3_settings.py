"""A bucket's settings: each is an S3 sub-resource with its own calls, written from the spec's shape
(what S3Buckets.desired gives) and read back into it from S3's answers. They are independent of each
other, so they are read and written at the same time."""
from __future__ import annotations

from provisioner.engine.operations import Call
from provisioner.policy.canonical import canonical_policy, policy_json
from provisioner.services.base import NOT_RETURNED

PUBLIC_ACCESS_BLOCK = {"block_public_acls": "BlockPublicAcls", "ignore_public_acls": "IgnorePublicAcls",
                       "block_public_policy": "BlockPublicPolicy", "restrict_public_buckets": "RestrictPublicBuckets"}
# spec field of a notification -> (kind of the target, key of S3's configuration, key of the target's ARN)
TARGET_KINDS = {"sqs_queue": ("sqs_queues", "QueueConfigurations", "QueueArn"),
                "sns_topic": ("sns_topics", "TopicConfigurations", "TopicArn"),
                "function": ("lambda_functions", "LambdaFunctionConfigurations", "LambdaFunctionArn")}


# --- the spec's shape ---
def lifecycle_rule(rule: dict) -> dict:
    return {
        "enabled": rule["enabled"],
        "prefix": rule.get("prefix", ""),
        "tags": dict(sorted(rule.get("tags", {}).items())),
        "expire_days": rule.get("expire_days"),
        "noncurrent_expire_days": rule.get("noncurrent_expire_days"),
        "noncurrent_newer_versions": rule.get("noncurrent_newer_versions"),
        "abort_multipart_days": rule.get("abort_multipart_days"),
        "transitions": [{"days": t["days"], "storage_class": t["storage_class"]}
                        for t in sorted(rule.get("transitions", []), key=lambda t: t["days"])],
        "noncurrent_transitions": [{"days": t["days"], "storage_class": t["storage_class"]}
                                   for t in sorted(rule.get("noncurrent_transitions", []), key=lambda t: t["days"])],
    }


def cors_rule(rule: dict) -> dict:
    return {"allowed_origins": sorted(rule["allowed_origins"]), "allowed_methods": sorted(rule["allowed_methods"]),
            "allowed_headers": sorted(rule.get("allowed_headers", [])),
            "expose_headers": sorted(rule.get("expose_headers", [])),
            "max_age_seconds": rule.get("max_age_seconds")}


# --- reads: get(method, **params) is the bucket's read, None where the setting is not there ---
def read_versioning(get, name: str) -> str:
    return (get("get_bucket_versioning", Bucket=name) or {}).get("Status", "Suspended")


def read_encryption(get, name: str) -> dict | None:
    found = get("get_bucket_encryption", Bucket=name)
    if found is None:
        return None
    rules = found["ServerSideEncryptionConfiguration"]["Rules"]
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
    kms = default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse")
    return {"algorithm": default.get("SSEAlgorithm"), "kms_key": default.get("KMSMasterKeyID") if kms else None,
            "bucket_key": bool(rules[0].get("BucketKeyEnabled")) if kms else False}


def read_public_access_block(get, name: str) -> dict:
    block = (get("get_public_access_block", Bucket=name) or {}).get("PublicAccessBlockConfiguration", {})
    return {field: bool(block.get(key, False)) for field, key in PUBLIC_ACCESS_BLOCK.items()}


def read_lifecycle(get, name: str, emulated: bool) -> dict:
    rules = (get("get_bucket_lifecycle_configuration", Bucket=name) or {}).get("Rules", [])
    out = {}
    for rule in rules:
        found = rule.get("Filter", {})
        conditions = found.get("And", found)
        tags = conditions.get("Tags", []) + ([conditions["Tag"]] if "Tag" in conditions else [])
        noncurrent = rule.get("NoncurrentVersionExpiration", {})
        newer = noncurrent.get("NewerNoncurrentVersions")
        if newer is None and noncurrent and emulated:
            newer = NOT_RETURNED   # the emulator drops it (see the README)
        out[rule.get("ID", "")] = {
            "enabled": rule.get("Status") == "Enabled",
            "prefix": conditions.get("Prefix", rule.get("Prefix", "")),
            "tags": dict(sorted((t["Key"], t["Value"]) for t in tags)),
            "expire_days": rule.get("Expiration", {}).get("Days"),
            "noncurrent_expire_days": noncurrent.get("NoncurrentDays"),
            "noncurrent_newer_versions": newer,
            "abort_multipart_days": rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
            "transitions": sorted(({"days": t.get("Days"), "storage_class": t["StorageClass"]}
                                   for t in rule.get("Transitions", [])), key=lambda t: t["days"] or 0),
            "noncurrent_transitions": sorted(
                ({"days": t.get("NoncurrentDays"), "storage_class": t["StorageClass"]}
                 for t in rule.get("NoncurrentVersionTransitions", [])), key=lambda t: t["days"] or 0),
        }
    return out


def read_policy(get, name: str):
    return canonical_policy((get("get_bucket_policy", Bucket=name) or {}).get("Policy"))


def read_cors(get, name: str) -> list:
    rules = (get("get_bucket_cors", Bucket=name) or {}).get("CORSRules", [])
    return [{"allowed_origins": sorted(r.get("AllowedOrigins", [])),
             "allowed_methods": sorted(r.get("AllowedMethods", [])),
             "allowed_headers": sorted(r.get("AllowedHeaders", [])),
             "expose_headers": sorted(r.get("ExposeHeaders", [])),
             "max_age_seconds": r.get("MaxAgeSeconds")} for r in rules]


def read_notifications(get, name: str) -> dict:
    config = get("get_bucket_notification_configuration", Bucket=name) or {}
    out = {}
    for _, key, arn_key in TARGET_KINDS.values():
        for item in config.get(key, []):
            rules = {r["Name"].lower(): r["Value"]
                     for r in item.get("Filter", {}).get("Key", {}).get("FilterRules", [])}
            out[item.get("Id", "")] = {"target": item[arn_key], "events": sorted(item["Events"]),
                                       "prefix": rules.get("prefix", ""), "suffix": rules.get("suffix", "")}
    return out


# --- writes: the call setting each from desired (an empty setting is deleted) ---
def write_public_access_block(name: str, desired: dict) -> Call:
    block = desired["public_access_block"]
    return Call("s3", "put_public_access_block", {"Bucket": name, "PublicAccessBlockConfiguration": {
        key: block[field] for field, key in PUBLIC_ACCESS_BLOCK.items()}})


def write_encryption(name: str, desired: dict) -> Call:
    encryption = desired["encryption"]
    default = {"SSEAlgorithm": encryption["algorithm"]}
    if encryption["kms_key"]:
        default["KMSMasterKeyID"] = encryption["kms_key"]
    return Call("s3", "put_bucket_encryption", {"Bucket": name, "ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": encryption["bucket_key"]}]}})


def write_versioning(name: str, desired: dict) -> Call:
    return Call("s3", "put_bucket_versioning",
                {"Bucket": name, "VersioningConfiguration": {"Status": desired["versioning"]}})


def write_lifecycle(name: str, desired: dict) -> Call:
    if not desired["lifecycle"]:
        return Call("s3", "delete_bucket_lifecycle", {"Bucket": name})
    return Call("s3", "put_bucket_lifecycle_configuration", {"Bucket": name, "LifecycleConfiguration": {
        "Rules": [_lifecycle_request(rule_id, rule) for rule_id, rule in desired["lifecycle"].items()]}})


def _lifecycle_request(rule_id: str, rule: dict) -> dict:
    conditions = {}
    if rule["prefix"]:
        conditions["Prefix"] = rule["prefix"]
    tags = [{"Key": k, "Value": v} for k, v in rule["tags"].items()]
    if len(conditions) + len(tags) > 1:
        flt = {"And": {**conditions, **({"Tags": tags} if tags else {})}}
    elif tags:
        flt = {"Tag": tags[0]}
    else:
        flt = conditions
    out = {"ID": rule_id, "Status": "Enabled" if rule["enabled"] else "Disabled", "Filter": flt}
    if rule["expire_days"]:
        out["Expiration"] = {"Days": rule["expire_days"]}
    if rule["noncurrent_expire_days"]:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["noncurrent_expire_days"]}
        if rule["noncurrent_newer_versions"]:
            out["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = rule["noncurrent_newer_versions"]
    if rule["abort_multipart_days"]:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule["abort_multipart_days"]}
    if rule["transitions"]:
        out["Transitions"] = [{"Days": t["days"], "StorageClass": t["storage_class"]} for t in rule["transitions"]]
    if rule["noncurrent_transitions"]:
        out["NoncurrentVersionTransitions"] = [{"NoncurrentDays": t["days"], "StorageClass": t["storage_class"]}
                                               for t in rule["noncurrent_transitions"]]
    return out


def write_cors(name: str, desired: dict) -> Call:
    if not desired["cors"]:
        return Call("s3", "delete_bucket_cors", {"Bucket": name})
    return Call("s3", "put_bucket_cors", {"Bucket": name, "CORSConfiguration": {"CORSRules": [
        {k: v for k, v in {"AllowedOrigins": r["allowed_origins"], "AllowedMethods": r["allowed_methods"],
                           "AllowedHeaders": r["allowed_headers"], "ExposeHeaders": r["expose_headers"],
                           "MaxAgeSeconds": r["max_age_seconds"]}.items() if v not in (None, [])}
        for r in desired["cors"]]}})


def write_policy(name: str, desired: dict) -> Call:
    if not desired["_policy_document"]:
        return Call("s3", "delete_bucket_policy", {"Bucket": name})
    return Call("s3", "put_bucket_policy", {"Bucket": name, "Policy": policy_json(desired["_policy_document"])})


def write_notifications(name: str, desired: dict) -> Call:
    config = {}
    for notification in desired["_notifications"]:
        _, key, arn_key = TARGET_KINDS[notification["field"]]
        item = {"Id": notification["id"], arn_key: notification["target"], "Events": notification["events"]}
        rules = [{"Name": n, "Value": notification[n]} for n in ("prefix", "suffix") if notification[n]]
        if rules:
            item["Filter"] = {"Key": {"FilterRules": rules}}
        config.setdefault(key, []).append(item)
    # S3 validates each destination (retried while a policy or permission just written propagates)
    return Call("s3", "put_bucket_notification_configuration",
                {"Bucket": name, "NotificationConfiguration": config, "SkipDestinationValidation": False})


WRITES = {   # field of desired -> its call, in the order they are sent
    "public_access_block": write_public_access_block,
    "encryption": write_encryption,
    "versioning": write_versioning,
    "lifecycle": write_lifecycle,
    "cors": write_cors,
    "policy": write_policy,
    "notifications": write_notifications,
}
