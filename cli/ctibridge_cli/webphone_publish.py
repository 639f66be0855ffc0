"""``make publish-webphone``: upload webphone/ to the deployed stack's bucket, with its config.json.

What ``aws s3 sync webphone/ s3://<WebphoneBucketName> --delete`` does, plus what it can't: the
``config.json`` the page reads (``{httpApiUrl, websocketUrl, stage}``, from the stack's Outputs, the
same file the local stack serves), content types and cache headers per file, and a CloudFront
invalidation so agents get the new files at once. The stack name and region come from samconfig.toml
(``--config-env prod`` for the [prod] environment).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WEBPHONE = ROOT / "webphone"
# Files whose names don't change between releases must be revalidated; everything is small.
NO_CACHE = {"index.html", "config.json", "webphone"}
# The seed vendors' paths on this host (issue 16): a CRM written for VCC / 3C / Alohub changes only the
# host it loads them from. Built by `make install` (npm run build:embed, sox), never committed.
VENDOR_PATHS = (
    "js/embed/jquery.min.js",
    "js/embed/jssip-3.0.7.js",
    "js/embed/jssip-3.2.10.js",
    "js/embed/init-3.0.7.js",
    "js/embed/web.push.js",
    "js/embed/cs_const.js",
    "js/embed/cs_voice.js",
    "images/320x240.ogg",
    "jssip-3.10.0.min.js",
    "sipjs.js",
)
# myCC's iframe src is {host}/webphone (seed 003): the page itself under that key too.
MYCC_PAGE = "webphone"
SHORT_CACHE = "public, max-age=300"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


def deploy_settings(config_env: str, samconfig: Path = ROOT / "samconfig.toml") -> tuple[str, str | None]:
    """(stack name, region) of a samconfig.toml environment."""
    config = tomllib.loads(samconfig.read_text())
    env = config.get(config_env, {})
    stack = env.get("global", {}).get("parameters", {}).get("stack_name") or env.get("deploy", {}).get(
        "parameters", {}
    ).get("stack_name")
    region = env.get("deploy", {}).get("parameters", {}).get("region")
    if not stack:
        raise SystemExit(f"samconfig.toml has no stack_name for [{config_env}]")
    return stack, region


# Not published: the SDK's sources (bundled into ctibridge.js) and the demo CRM, which needs the local
# stack's /dev/token route.
LOCAL_ONLY_DIRS = ("sdk/", "demo-crm/")


def site_files(root: Path | None = None) -> dict[str, Path]:
    """Object key → file, for every file of the site (no dotfiles, no config.json: it is generated)."""
    root = root or WEBPHONE
    files = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if (
            path.is_file()
            and not any(part.startswith(".") for part in path.parts)
            and key != "config.json"
            and not key.startswith(LOCAL_ONLY_DIRS)
        ):
            files[key] = path
    return files


def content_type(key: str) -> str:
    suffix = Path(key).suffix
    return TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def publish(stack_name: str, region: str | None, *, dry_run: bool = False) -> dict[str, str]:
    import boto3

    session = boto3.session.Session(region_name=region)
    stack = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    bucket = outputs["WebphoneBucketName"]
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    config = {
        # The API on the webphone's own CloudFront host (same origin: no CORS for the page); a stack
        # from before that host forwarded the API has only the execute-api URL.
        "httpApiUrl": outputs.get("PublicApiUrl") or outputs["HttpApiUrl"],
        "websocketUrl": outputs["WebSocketUrl"],
        "stage": params.get("Stage", "dev"),
    }
    files = site_files()
    if "vendor/jssip.js" not in files:
        raise SystemExit("webphone/vendor/jssip.js is missing: run `make install` (npm run build:webphone)")
    if "ctibridge.js" not in files:
        raise SystemExit(
            "webphone/ctibridge.js (the CRM SDK) is missing: run `make install` (npm run build:sdk)"
        )
    missing = [path for path in VENDOR_PATHS if path not in files]
    if missing:
        raise SystemExit(
            f"the vendors' paths are missing ({', '.join(missing)}): run `make install` (npm run build:embed)"
        )
    s3 = session.client("s3")
    uploads: list[tuple[str, bytes, str]] = [(k, p.read_bytes(), content_type(k)) for k, p in files.items()]
    uploads.append((MYCC_PAGE, files["index.html"].read_bytes(), TYPES[".html"]))
    uploads.append(("config.json", json.dumps(config, indent=2).encode(), "application/json"))
    for key, body, ctype in uploads:
        cache = "no-cache" if key in NO_CACHE else SHORT_CACHE
        print(f"  s3://{bucket}/{key} ({ctype}, {len(body)} B)")
        if not dry_run:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=ctype, CacheControl=cache)
    wanted = {key for key, _, _ in uploads}
    stale: list[Any] = []  # [{"Key": ...}], as delete_objects takes them
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale += [{"Key": o["Key"]} for o in page.get("Contents", []) if o["Key"] not in wanted]
    for start in range(0, len(stale), 1000):
        print(f"  deleting {len(stale[start : start + 1000])} stale object(s)")
        if not dry_run:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": stale[start : start + 1000]})
    if not dry_run:
        session.client("cloudfront").create_invalidation(
            DistributionId=outputs["WebphoneDistributionId"],
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": ["/*"]},
                "CallerReference": f"publish-webphone-{time.time_ns()}",
            },
        )
    return {**config, "webphoneUrl": outputs.get("WebphoneUrl", ""), "bucket": bucket}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webphone-publish", description=__doc__)
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment (default, prod)")
    parser.add_argument("--stack-name", help="override samconfig.toml's stack_name")
    parser.add_argument("--region", help="override samconfig.toml's region")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    args = parser.parse_args(argv)
    stack, region = deploy_settings(args.config_env)
    result = publish(args.stack_name or stack, args.region or region, dry_run=args.dry_run)
    print(f"\nWebphone: {result['webphoneUrl']} (its API on the same host: {result['httpApiUrl']})")
    print(
        "CRM pages that call the API from their own origin (the SDK) go in CorsAllowOrigin (comma-separated)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
