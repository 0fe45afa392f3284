"""Where the code of a function or a layer comes from, and how a function's package reaches Lambda.

The code is a folder next to the spec (or above it), packaged deterministically once per run. A function's
package goes inline (ZipFile) unless its code names an artifacts bucket, asks for `upload: s3`, or is over
the 50 MB direct-upload limit: then it is put once per content at lambda/FUNCTION/SHA256.zip (HeadObject
first: an object already there is not sent again) and the function is created or updated from
S3Bucket/S3Key. With no bucket named, the package goes to the environment's own bucket
s3_buckets.artifacts, an implied node (one per spec, however many functions use it): an ordinary bucket
with the secure defaults, tagged, removed by destroy.
"""
from __future__ import annotations

import copy
from pathlib import Path

from provisioner.aws.errors import unless_missing
from provisioner.engine.operations import Call
from provisioner.services.lambda_packaging import (
    Package,
    PackagingError,
    artifact_key,
    build_package,
    exceeds_direct_upload,
    may_exceed_direct_upload,
)
from provisioner.spec.refs import Ref

NO_OBJECT = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")
ARTIFACTS_BUCKET = "artifacts"   # logical name of the environment's own bucket for packages (s3_buckets.artifacts)
# Packages are kept by content: a delete leaves a noncurrent version, expired after a month.
ARTIFACTS_LIFECYCLE = [{"id": "expire-deleted-packages", "noncurrent_expire_days": 30, "abort_multipart_days": 1}]


def code_folder(spec, code: str) -> Path | None:
    """`code` relative to the spec file's folder or the nearest folder above it that has it."""
    for folder in [Path(spec.file).resolve().parent, *Path(spec.file).resolve().parent.parents]:
        candidate = folder / code
        if candidate.is_dir():
            return candidate
    return None


def folder_package(node, folder: Path | None, path: str | None, architecture: str, runtime: str,
                   prefix: str = "") -> Package:
    """The package of the node's code folder (found at path); PackagingError when it is not there."""
    if folder is None:
        raise PackagingError(f"{node.address}: code folder '{path}' not found")
    return build_package(folder, architecture, runtime, prefix=prefix)


def code_settings(code) -> dict:
    """`code: FOLDER` or `code: {path, upload, artifacts_bucket}` -> the mapping, with every field."""
    settings = {"path": code} if isinstance(code, str) else dict(code)
    return {"path": settings.get("path"), "upload": settings.get("upload", "auto"),
            "artifacts_bucket": settings.get("artifacts_bucket")}


def uses_s3(code: dict, package_size: int | None = None) -> bool:
    """Whether a package goes through S3: a bucket is named, upload is s3, or it is over the direct-upload
    limit (package_size None: not known, not counted)."""
    return (code["artifacts_bucket"] is not None or code["upload"] == "s3"
            or (package_size is not None and exceeds_direct_upload(package_size)))


def artifacts_bucket(node, spec) -> list:
    """The function's code settings completed; the environment's artifacts bucket as a companion when
    this function is the first that sends its package through S3 without naming a bucket."""
    props = node.props
    code = props["code"] = code_settings(props["code"])
    bucket = code["artifacts_bucket"]
    if isinstance(bucket, Ref):   # a typed reference names the bucket's ARN; S3Bucket takes its name
        code["artifacts_bucket"] = Ref(bucket.address, "name", written=bucket.written)
        return []
    folder = code_folder(spec, code["path"]) if code["path"] else None
    if not (code["upload"] == "s3"
            or folder is not None and may_exceed_direct_upload(folder, props["architecture"], props["runtime"])):
        return []
    address = f"s3_buckets.{ARTIFACTS_BUCKET}"
    code["artifacts_bucket"] = Ref(address, "name")
    found = spec.nodes.get(address)
    if found is not None and found.owner is not None:   # made for an earlier function already
        return []
    return [("s3_buckets", ARTIFACTS_BUCKET, {"lifecycle": copy.deepcopy(ARTIFACTS_LIFECYCLE)})]


def function_package(node, spec) -> Package:
    props = node.props
    path = props["code"]["path"]
    return folder_package(node, code_folder(spec, path) if path else None, path, props["architecture"],
                          props["runtime"])


def shared_package(node, ctx) -> Package:
    """Functions sharing a code folder share its package: the folder is read and hashed once per run."""
    props = node.props
    return ctx.memo(f"package:{props['code']['path']}:{props['architecture']}:{props['runtime']}",
                    lambda: function_package(node, ctx.spec))


def artifact(node, package) -> dict | None:
    """{bucket: Ref to the bucket's name, key} when the package goes through S3, else None."""
    code = node.props["code"]
    if not uses_s3(code, package.size):
        return None
    if code["artifacts_bucket"] is None:   # cannot happen: companions() names a bucket for any such package
        raise PackagingError(f"{node.address}: the package is {package.size} bytes, over the direct-upload "
                             "limit, and no artifacts bucket takes it")
    return {"bucket": code["artifacts_bucket"], "key": artifact_key(node.physical_name, package)}


def read_code_location(node, config, ctx) -> str | None:
    """s3://BUCKET/KEY of the deployed code when the spec sends the package through S3 and the object of
    the deployed CodeSha256 is there with that content; None otherwise (GetFunction never tells where code
    came from, so the package in the bucket is what can be checked)."""
    wanted = artifact(node, shared_package(node, ctx))
    if wanted is None or not config.get("CodeSha256"):
        return None
    bucket = ctx.resolve(wanted["bucket"])
    deployed = Package(zip_bytes=b"", sha256=config["CodeSha256"], size=config.get("CodeSize", 0), files=())
    key = artifact_key(node.physical_name, deployed)
    if not holds(head_artifact(ctx, bucket, key), deployed):
        return None
    return f"s3://{bucket}/{key}"


def head_artifact(ctx, bucket, key) -> dict | None:
    return unless_missing(ctx.client("s3").head_object, *NO_OBJECT, Bucket=bucket, Key=key, ChecksumMode="ENABLED")


def holds(found: dict | None, package: Package) -> bool:
    """Whether a HeadObject answer is the package: its size, and its SHA-256 when S3 keeps one (an object
    the tool put always has it)."""
    return (found is not None and found.get("ContentLength", package.size) == package.size
            and found.get("ChecksumSHA256", package.sha256) == package.sha256)


def code_request(desired, node, ctx):
    """The Code of CreateFunction (and UpdateFunctionCode's arguments): S3Bucket/S3Key once the package is
    in the artifacts bucket (put only when that key is not there yet), else the zip itself."""
    package, where = desired["_package"], desired["_artifact"]
    if where is None:
        return {"ZipFile": package.zip_bytes}
    bucket, key = where["bucket"], where["key"]
    if not holds(head_artifact(ctx, bucket, key), package):
        ctx.progress(node.address, f"uploading the package to s3://{bucket}/{key}")
        # S3 checks the content against ChecksumSHA256 and keeps it, for read() to compare with CodeSha256
        yield Call("s3", "put_object", {"Bucket": bucket, "Key": key, "Body": package.zip_bytes,
                                        "ContentType": "application/zip", "ChecksumSHA256": package.sha256},
                   "upload the package")
    return {"S3Bucket": bucket, "S3Key": key}
