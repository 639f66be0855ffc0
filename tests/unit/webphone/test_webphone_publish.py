"""`make publish-webphone`: the site and a config.json from the stack's Outputs land in its bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ctibridge_cli import webphone_publish

REGION = "ap-southeast-1"
TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: prod}
  DistributionId: {Type: String}
Resources:
  WebphoneBucket: {Type: "AWS::S3::Bucket"}
Outputs:
  HttpApiUrl: {Value: "https://abc.execute-api.ap-southeast-1.amazonaws.com"}
  WebSocketUrl: {Value: "wss://def.execute-api.ap-southeast-1.amazonaws.com/prod"}
  WebphoneBucketName: {Value: !Ref WebphoneBucket}
  WebphoneDistributionId: {Value: !Ref DistributionId}
  WebphoneUrl: {Value: "https://d111111abcdef8.cloudfront.net"}
  PublicApiUrl: {Value: "https://d111111abcdef8.cloudfront.net"}
"""


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "webphone"
    (site / "js").mkdir(parents=True)
    (site / "vendor").mkdir()
    (site / "index.html").write_text("<!doctype html>")
    (site / "js" / "app.js").write_text("export {};")
    (site / "vendor" / "jssip.js").write_text("export default {};")
    (site / "ctibridge.js").write_text("window.CTIBridge = {};")
    for vendor_path in webphone_publish.VENDOR_PATHS:
        (site / vendor_path).parent.mkdir(parents=True, exist_ok=True)
        (site / vendor_path).write_text("")
    # Local only: the SDK's sources (bundled into ctibridge.js) and the demo CRM (needs /dev/token).
    for local_only in ("sdk/index.js", "demo-crm/index.html"):
        (site / local_only).parent.mkdir()
        (site / local_only).write_text("")
    (site / "config.json").write_text('{"httpApiUrl": "http://127.0.0.1:3000"}')  # a local one: not uploaded
    monkeypatch.setattr(webphone_publish, "WEBPHONE", site)
    with mock_aws():
        distribution = boto3.client("cloudfront", region_name=REGION).create_distribution(
            DistributionConfig={
                "CallerReference": "t",
                "Comment": "",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "o",
                            "DomainName": "b.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "o",
                    "ViewerProtocolPolicy": "allow-all",
                    "MinTTL": 0,
                },
            }
        )["Distribution"]["Id"]
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="ctibridge-prod",
            TemplateBody=TEMPLATE,
            Parameters=[{"ParameterKey": "DistributionId", "ParameterValue": distribution}],
        )
        yield distribution


def _objects(bucket: str) -> dict[str, dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key) for key in keys}


def test_uploads_the_site_and_the_config_of_the_stack(deployed: str) -> None:
    # Given the prod stack deployed, and a stale file left in its bucket by an older release
    stack, region = webphone_publish.deploy_settings("prod")
    assert (stack, region) == ("ctibridge-prod", REGION)
    outputs = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=stack)["Stacks"][0]
    bucket = next(o["OutputValue"] for o in outputs["Outputs"] if o["OutputKey"] == "WebphoneBucketName")
    boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key="js/old.js", Body=b"")
    # When the webphone is published
    result = webphone_publish.publish(stack, region)
    # Then the bucket holds the site, with the types and cache headers a browser needs, and no stale file
    objects = _objects(bucket)
    site = ["config.json", "ctibridge.js", "index.html", "js/app.js", "vendor/jssip.js", "webphone"]
    assert sorted(objects) == sorted([*site, *webphone_publish.VENDOR_PATHS])
    assert objects["js/app.js"]["ContentType"] == "text/javascript; charset=utf-8"
    # And the seed vendors' paths answer as theirs did: scripts, the demos' Ogg, myCC's /webphone page
    assert objects["js/embed/cs_voice.js"]["ContentType"] == "text/javascript; charset=utf-8"
    assert objects["images/320x240.ogg"]["ContentType"] in {"audio/ogg", "video/ogg", "application/ogg"}
    assert objects["webphone"]["ContentType"] == "text/html; charset=utf-8"
    assert objects["webphone"]["Body"].read() == b"<!doctype html>"
    assert objects["index.html"]["CacheControl"] == "no-cache"
    # And config.json points the page at the stack's APIs (never the local one of the work tree): the
    # HTTP API on the webphone's own host, which CloudFront forwards to API Gateway (same origin)
    config = json.loads(objects["config.json"]["Body"].read())
    assert config == {
        "httpApiUrl": "https://d111111abcdef8.cloudfront.net",
        "websocketUrl": "wss://def.execute-api.ap-southeast-1.amazonaws.com/prod",
        "stage": "prod",
    }
    assert result["webphoneUrl"] == "https://d111111abcdef8.cloudfront.net"
    # And CloudFront was told to drop its cached copies
    invalidations = boto3.client("cloudfront", region_name=REGION).list_invalidations(DistributionId=deployed)
    assert invalidations["InvalidationList"]["Quantity"] == 1


def test_refuses_to_publish_without_the_bundled_jssip(deployed: str) -> None:
    (webphone_publish.WEBPHONE / "vendor" / "jssip.js").unlink()
    with pytest.raises(SystemExit, match="npm run build:webphone"):
        webphone_publish.publish("ctibridge-prod", REGION)


def test_refuses_to_publish_without_the_sdk(deployed: str) -> None:
    (webphone_publish.WEBPHONE / "ctibridge.js").unlink()
    with pytest.raises(SystemExit, match="npm run build:sdk"):
        webphone_publish.publish("ctibridge-prod", REGION)


def test_refuses_to_publish_without_the_vendors_paths(deployed: str) -> None:
    # A CRM written for VCC / 3C loads these from the host: publishing without them breaks it
    (webphone_publish.WEBPHONE / "js" / "embed" / "cs_voice.js").unlink()
    with pytest.raises(SystemExit, match="npm run build:embed"):
        webphone_publish.publish("ctibridge-prod", REGION)
