"""Lambda runtimes: the identifiers botocore's Lambda model knows (shape `Runtime`), their deprecation dates,
and what a runtime means for packaging and handler checks.

The schema's `$defs.lambda_runtime` enum is botocore's `Runtime` enum (a unit test keeps them equal). AWS
publishes deprecation dates at https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html: after that
date a runtime gets no more security patches, and some time later AWS blocks creating and then updating
functions on it.
"""
from __future__ import annotations

import datetime
from pathlib import Path

# runtime -> the date AWS deprecates (or deprecated) it
DEPRECATION = {
    "nodejs": "2016-10-31", "nodejs4.3": "2020-03-05", "nodejs4.3-edge": "2020-03-05", "nodejs6.10": "2019-08-12",
    "nodejs8.10": "2020-03-06", "nodejs10.x": "2021-07-30", "nodejs12.x": "2023-03-31", "nodejs14.x": "2023-12-04",
    "nodejs16.x": "2024-06-12", "nodejs18.x": "2025-09-01", "nodejs20.x": "2026-04-30", "nodejs22.x": "2027-04-30",
    "python2.7": "2021-07-15", "python3.6": "2022-07-18", "python3.7": "2023-12-04", "python3.8": "2024-10-14",
    "python3.9": "2025-12-15", "python3.10": "2026-06-30", "python3.11": "2026-06-30", "python3.12": "2028-10-31",
    "python3.13": "2029-06-30",
    "java8": "2024-01-08", "java8.al2": "2026-06-30", "java11": "2026-06-30", "java17": "2026-06-30",
    "java21": "2029-06-30",
    "dotnetcore1.0": "2019-07-27", "dotnetcore2.0": "2019-05-30", "dotnetcore2.1": "2022-01-05",
    "dotnetcore3.1": "2023-04-03", "dotnet6": "2024-11-12", "dotnet8": "2026-11-10",
    "ruby2.5": "2021-07-30", "ruby2.7": "2023-11-27", "ruby3.2": "2026-03-31", "ruby3.3": "2027-03-31",
    "go1.x": "2024-01-08", "provided": "2024-01-08", "provided.al2": "2026-06-30", "provided.al2023": "2029-06-30",
}
NODE_SUFFIXES = (".js", ".mjs", ".cjs")


def botocore_runtimes() -> list[str]:
    """The Runtime enum of the installed botocore's Lambda model."""
    import botocore.session
    return list(botocore.session.get_session().get_service_model("lambda").shape_for("Runtime").enum)


def deprecation_warning(runtime: str, today: datetime.date | None = None) -> str | None:
    """A warning for a runtime AWS has deprecated by today, else None."""
    date = DEPRECATION.get(runtime)
    today = today or datetime.date.today()
    if date is None or datetime.date.fromisoformat(date) > today:
        return None
    return (f"runtime {runtime} was deprecated by AWS on {date}: it gets no security patches, and AWS blocks "
            "creating and then updating functions on it some months later; move to a supported runtime")


def is_python(runtime: str) -> bool:
    return runtime.startswith("python")


def check_node_handler(folder: Path, handler: str) -> str | None:
    """A Node.js handler FILE.EXPORT needs FILE.js, .mjs or .cjs in the folder (its export is not parsed)."""
    module = handler.rpartition(".")[0]
    if not module:
        return f"handler '{handler}' must be FILE.EXPORT"
    if handler_source(folder, "nodejs", handler) is not None:
        return None
    return f"handler '{handler}': none of {', '.join(module + s for s in NODE_SUFFIXES)} found in {folder}"


def handler_source(folder: Path, runtime: str, handler: str) -> str | None:
    """The text of the file a Python or Node.js handler lives in, or None (not found, or another runtime)."""
    module = handler.rpartition(".")[0].replace(".", "/") if is_python(runtime) else handler.rpartition(".")[0]
    suffixes = (".py", "/__init__.py") if is_python(runtime) else NODE_SUFFIXES if runtime.startswith("nodejs") else ()
    for suffix in suffixes:
        path = folder / f"{module}{suffix}"
        if module and path.is_file():
            return path.read_text(errors="replace")
    return None
