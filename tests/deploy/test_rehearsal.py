"""Deploy rehearsal: template.yaml as CloudFormation runs it, checked for what `sam validate` cannot see.

The template is translated offline by the SAM translator that ships with sam-cli (tests/support/rehearsal.py),
then each invariant of a working first `sam deploy` is asserted on the result (issue 18).
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ctibridge import client_address
from ctibridge_local import api_forward
from tests.support.aws_calls import CodeBase
from tests.support.rehearsal import ROOT, Evaluator, code_dir, source_template, translate

# What the platform needs, not the code: the function's own logs and traces.
PLATFORM_ACTIONS = ("logs:", "xray:")
# What Lambda's SQS event source mapping calls with the function's role.
SQS_EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# Managed policies a function role may carry: SAM's basic execution (logs) and X-Ray (Tracing: Active).
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# The paths of the HTTP API the webphone's CloudFront host forwards (issue 16: one public host).
API_PATH_PATTERNS = {"/v1/*", "/*/thirdParty/*", "/wsapi/*", "/click2call.php", "/health"}
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translate()


def _resources(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in cfn["Resources"].items() if r["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role(cfn: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return cfn["Resources"][role_id]  # type: ignore[no-any-return]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _sqs_triggered(cfn: dict[str, Any]) -> set[str]:
    return {
        m["Properties"]["FunctionName"]["Ref"]
        for m in _resources(cfn, "AWS::Lambda::EventSourceMapping").values()
        if "sqs" in json.dumps(m["Properties"]["EventSourceArn"]).lower()
        or "Queue" in json.dumps(m["Properties"]["EventSourceArn"])
    }


FUNCTIONS = sorted(
    name for name, r in source_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
)


@pytest.fixture(scope="module")
def code() -> CodeBase:
    return CodeBase()


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_role_grants_exactly_the_aws_calls_its_code_makes(
    cfn: dict[str, Any], code: CodeBase, function_id: str
) -> None:
    # Given the translated function, its role, and the AWS calls its code can reach (found statically)
    function = cfn["Resources"][function_id]
    role = _role(cfn, function)
    called = code.actions(code_dir(function))
    # When the role's grants are listed (but logs/traces, and the SQS event source's own calls)
    granted = {
        action
        for s in _statements(role)
        if s["Effect"] == "Allow"
        for action in _as_list(s["Action"])
        if not action.startswith(PLATFORM_ACTIONS)
    }
    if function_id in _sqs_triggered(cfn):
        assert granted >= SQS_EVENT_SOURCE_ACTIONS, "the SQS event source mapping needs these"
        granted -= SQS_EVENT_SOURCE_ACTIONS
    # Then they are the same: nothing the code calls is refused, nothing is granted it never calls
    assert not set(called) - granted, {a: sorted(called[a]) for a in set(called) - granted}
    assert not granted - set(called), f"granted but never called: {sorted(granted - set(called))}"
    assert set(role["Properties"].get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES
    # and ManageConnections names the @connections methods the code uses (POST a message, DELETE a tab)
    connection_resources = json.dumps(
        [s["Resource"] for s in _statements(role) if "execute-api:ManageConnections" in _as_list(s["Action"])]
    )
    granted_methods = set(re.findall(r"/(POST|DELETE|GET)/@connections/\*", connection_resources))
    assert granted_methods == code.connection_methods(code_dir(function))


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_grants_name_exact_resources(cfn: dict[str, Any], function_id: str) -> None:
    # Given the function's role
    statements = _statements(_role(cfn, cfn["Resources"][function_id]))
    for s in statements:
        actions, resources = _as_list(s["Action"]), _as_list(s["Resource"])
        # Then no action is a wildcard, and "*" is only X-Ray's (it has no resource-level permissions)
        assert not any("*" in a for a in actions), actions
        assert "*" not in resources or all(a.startswith("xray:") for a in actions), s
        # and DynamoDB grants name the table, and its indexes only for Query
        if any(a.startswith("dynamodb:") for a in actions):
            table, indexes = {"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::Sub": "${Table.Arn}/index/*"}
            assert all(r in (table, indexes) for r in resources), s
            assert indexes not in resources or "dynamodb:Query" in actions, s


def test_no_function_uses_sam_policy_templates_or_the_sqs_execution_role() -> None:
    # Given the source template's functions
    for name in FUNCTIONS:
        properties = source_template()["Resources"][name]["Properties"]
        # Then their policies are explicit statements (SAM's templates grant Scan, BatchWriteItem, ...)
        for policy in properties.get("Policies", []):
            assert set(policy) == {"Statement"}, f"{name}: {policy}"
    # and no translated role got AWSLambdaSQSQueueExecutionRole (receive/delete on every queue)
    assert "AWSLambdaSQSQueueExecutionRole" not in json.dumps(translate())


def _cors(cfn: dict[str, Any], **parameters: str) -> dict[str, Any] | None:
    """The HTTP API's CORS configuration as API Gateway gets it (None: no CORS at all)."""
    body = Evaluator(source_template(), **parameters).value(cfn["Resources"]["HttpApi"]["Properties"]["Body"])
    return body.get("x-amazon-apigateway-cors")  # type: ignore[no-any-return]


def test_cors_allows_each_listed_crm_origin_as_a_list() -> None:
    # Given two CRM origins in the parameter
    crms = "https://crm.shop.vn,https://crm.acme.vn"
    cfn = translate(CorsAllowOrigin=crms)
    # Then API Gateway gets them as a list (not one comma-joined string), with the methods and headers
    cors = _cors(cfn, CorsAllowOrigin=crms)
    assert cors is not None
    assert cors["allowOrigins"] == ["https://crm.shop.vn", "https://crm.acme.vn"]
    assert {"POST", "OPTIONS"} <= set(cors["allowMethods"])
    assert {"Authorization", "X-Api-Key", "Content-Type"} <= set(cors["allowHeaders"])


def test_cors_without_crm_origins_allows_none(cfn: dict[str, Any]) -> None:
    # Given the default (no CRM page calls the API cross-origin); Then no origin is allowed ...
    assert _cors(cfn) is None
    # ... and none is needed by the webphone: CloudFront serves it and the API on one host
    assert "CorsAllowOrigin" not in json.dumps(cfn["Resources"]["WebphoneDistribution"])


def _path_matches(pattern: str, path: str) -> bool:
    # CloudFront path patterns: * is any run of characters (slashes included), ? one character
    return fnmatch.fnmatchcase(path, pattern)


def test_webphone_host_forwards_every_api_route_to_the_http_api(cfn: dict[str, Any]) -> None:
    # Given the webphone's distribution
    config = cfn["Resources"]["WebphoneDistribution"]["Properties"]["DistributionConfig"]
    api_origin = next(o for o in config["Origins"] if "HttpApi" in json.dumps(o["DomainName"]))
    behaviours = {
        b["PathPattern"]: b for b in config["CacheBehaviors"] if b["TargetOriginId"] == api_origin["Id"]
    }
    # Then the API paths go to the HTTP API, uncached, every method, viewer headers but Host forwarded
    assert set(behaviours) == API_PATH_PATTERNS
    for behaviour in behaviours.values():
        assert behaviour["CachePolicyId"] == CACHING_DISABLED
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
        assert {"GET", "POST", "DELETE", "OPTIONS", "PUT", "PATCH", "HEAD"} == set(
            behaviour["AllowedMethods"]
        )
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # and every route of the API is reachable on that host (the catch-all $default answers whatever
    # else reaches the API)
    routes = [
        re.sub(r"\{[^}]+\}", "x", event["Properties"]["Path"])
        for name in FUNCTIONS
        for event in source_template()["Resources"][name]["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi" and event["Properties"]["Path"] != "$default"
    ]
    assert routes
    unreachable = [r for r in routes if not any(_path_matches(p, r) for p in behaviours)]
    assert not unreachable
    # and `make dev`'s web port forwards the same paths (one host locally too)
    assert {re.sub(r"\{[^}]+\}", "*", p) for p in api_forward.API_PATHS} == set(behaviours)


def test_the_api_origin_gets_the_viewer_address_and_a_proof_only_the_login_function_can_check(
    cfn: dict[str, Any],
) -> None:
    # Given the distribution's HTTP API origin and the login function
    config = cfn["Resources"]["WebphoneDistribution"]["Properties"]["DistributionConfig"]
    api_origin = next(o for o in config["Origins"] if "HttpApi" in json.dumps(o["DomainName"]))
    login = cfn["Resources"]["AgentLoginFunction"]
    # Then CloudFront adds the proof header the code checks, its value the stack's generated secret,
    # resolved at deploy time (a dynamic reference: never in the template or its outputs)
    (header,) = api_origin["OriginCustomHeaders"]
    assert header["HeaderName"].lower() == client_address.ORIGIN_VERIFY_HEADER
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString}}"
    }
    secret = cfn["Resources"]["OriginVerifySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert generated["ExcludePunctuation"] is True
    assert "OriginVerifySecret" not in json.dumps(cfn.get("Outputs", {}))
    # and every API behaviour forwards the viewer's headers without its Host (the policies that add
    # CloudFront's own viewer-address header forward the Host too: API Gateway answers 403) and runs the
    # function that writes the viewer's address into our header, before the origin request
    for behaviour in config["CacheBehaviors"]:
        if behaviour["TargetOriginId"] == api_origin["Id"]:
            assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
            assert behaviour["FunctionAssociations"] == [
                {
                    "EventType": "viewer-request",
                    "FunctionARN": {"Fn::GetAtt": ["ViewerAddressFunction", "FunctionARN"]},
                }
            ]
    function = cfn["Resources"]["ViewerAddressFunction"]
    assert function["Type"] == "AWS::CloudFront::Function"
    assert function["Properties"]["AutoPublish"] is True  # associations use the LIVE stage
    # and the login function is told where the value is, and may read exactly that secret
    assert login["Properties"]["Environment"]["Variables"]["ORIGIN_VERIFY_SECRET_ARN"] == {
        "Ref": "OriginVerifySecret"
    }
    granted = [
        r
        for s in _statements(_role(cfn, login))
        if "secretsmanager:GetSecretValue" in _as_list(s["Action"])
        for r in _as_list(s["Resource"])
    ]
    assert {"Ref": "OriginVerifySecret"} in granted
    # and no other function may read it
    for name in FUNCTIONS:
        if name != "AgentLoginFunction":
            assert "OriginVerifySecret" not in json.dumps(_role(cfn, cfn["Resources"][name])), name


@pytest.mark.parametrize("viewer", ["198.51.100.10", "2001:db8::7"])
def test_the_viewer_address_function_writes_the_viewer_ip_over_what_the_viewer_sent(
    cfn: dict[str, Any], viewer: str
) -> None:
    # Given the CloudFront Function's code as deployed, and a viewer request (CloudFront Functions' event
    # structure: lower-case header names, {value} objects) forging the header and carrying other headers
    code = cfn["Resources"]["ViewerAddressFunction"]["Properties"]["FunctionCode"]
    event = {
        "version": "1.0",
        "viewer": {"ip": viewer},
        "request": {
            "method": "POST",
            "uri": "/demo/thirdParty/login",
            "querystring": {},
            "headers": {
                client_address.VIEWER_ADDRESS_HEADER: {"value": "192.0.2.1"},
                "authorization": {"value": "Bearer t"},
            },
            "cookies": {},
        },
    }
    # When it runs (node runs the same JavaScript subset as cloudfront-js-2.0 for this code)
    script = f"{code}\nprocess.stdout.write(JSON.stringify(handler({json.dumps(event)})));"
    ran = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    request = json.loads(ran.stdout)
    # Then the request goes on with the viewer's own IP in our header (the form client_address reads), the
    # forged value gone, the rest untouched
    assert request["headers"][client_address.VIEWER_ADDRESS_HEADER] == {"value": viewer}
    assert (
        client_address.viewer_ip(request["headers"][client_address.VIEWER_ADDRESS_HEADER]["value"]) == viewer
    )
    assert request["headers"]["authorization"] == {"value": "Bearer t"}
    assert request["uri"] == "/demo/thirdParty/login"


def test_alarm_topic_key_lets_cloudwatch_publish(cfn: dict[str, Any]) -> None:
    # Given the alarm topic and its key
    topic = cfn["Resources"]["AlarmTopic"]["Properties"]
    key_id = topic["KmsMasterKeyId"]["Ref"]
    key = cfn["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    # Then the key policy lets CloudWatch decrypt and generate data keys (an AWS-managed key cannot)
    grants = [
        set(_as_list(s["Action"]))
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert any({"kms:Decrypt", "kms:GenerateDataKey*"} <= g for g in grants)
    assert key["Properties"]["EnableKeyRotation"] is True
    # and every alarm notifies that topic
    for alarm in _resources(cfn, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_function_logs_to_its_own_group_with_retention(cfn: dict[str, Any]) -> None:
    groups = _resources(cfn, "AWS::Logs::LogGroup")
    seen = set()
    for name in FUNCTIONS:
        # Given a function; Then it logs to an explicit group of the stack, kept LogRetentionDays
        group_id = cfn["Resources"][name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group_id]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        seen.add(group_id)
    assert len(seen) == len(FUNCTIONS)  # one group each


def test_api_stages_log_access_without_query_strings(cfn: dict[str, Any]) -> None:
    # Given both API stages (HTTP: the PBX secret is in ?secret=; WebSocket: the session token in ?token=)
    stages = _resources(cfn, "AWS::ApiGatewayV2::Stage")
    assert len(stages) == 2
    groups = _resources(cfn, "AWS::Logs::LogGroup")
    for stage in stages.values():
        settings = stage["Properties"]["AccessLogSettings"]
        # Then each logs to a group with retention, in a format that names no query string
        group_id = settings["DestinationArn"]["Fn::GetAtt"][0]
        assert groups[group_id]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert "querystring" not in settings["Format"].lower()
        assert "$request." not in settings["Format"]
        json.loads(settings["Format"].replace("$", ""))  # one JSON object a line


def test_recording_lifecycle_is_valid_for_every_allowed_retention() -> None:
    # Given every value RecordingRetentionDays accepts
    spec = source_template()["Parameters"]["RecordingRetentionDays"]
    cfn = translate()
    rules = cfn["Resources"]["RecordingsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    for days in range(int(spec["MinValue"]), int(spec["MaxValue"]) + 1):
        for rule in Evaluator(source_template(), RecordingRetentionDays=str(days)).value(rules):
            # Then S3 accepts the rule: the expiration comes after every transition
            expiration = int(rule["ExpirationInDays"])
            assert expiration == days
            assert all(expiration > int(t["TransitionInDays"]) for t in rule.get("Transitions", [])), days
    # and recordings kept longer than 30 days still move to STANDARD_IA
    tiered = Evaluator(source_template(), RecordingRetentionDays="365").value(rules)[0]
    assert tiered["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]


def test_a_crm_page_that_doubles_the_slash_after_the_host_gets_the_vendors_files(cfn: dict[str, Any]) -> None:
    # Given the 3C demo's page with only its host changed: `$hoster = "https://<host>/"`, then
    # `<?= $hoster ?>/js/embed/cs_voice.js`, so the browser asks for //js/embed/cs_voice.js
    asked = ["//js/embed/jquery.min.js", "//js/embed/cs_voice.js", "//images/320x240.ogg", "/js/embed/x.js"]
    # When CloudFront's default behaviour (the webphone bucket) runs its viewer-request function on them
    distribution = cfn["Resources"]["WebphoneDistribution"]["Properties"]["DistributionConfig"]
    associations = distribution["DefaultCacheBehavior"].get("FunctionAssociations", [])
    (association,) = [a for a in associations if a["EventType"] == "viewer-request"]
    function = cfn["Resources"][association["FunctionARN"]["Fn::GetAtt"][0]]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    # (node runs the same JavaScript, as CloudFront's runtime would)
    uris = f"{json.dumps(asked)}.map((uri) => handler({{request: {{uri}}}}).uri)"
    run = f"{function['FunctionCode']}\nconsole.log(JSON.stringify({uris}));"
    done = subprocess.run(["node", "-e", run], capture_output=True, text=True, timeout=30, check=True)
    # Then S3 is asked for the keys the files are stored under
    assert json.loads(done.stdout) == [
        "/js/embed/jquery.min.js",
        "/js/embed/cs_voice.js",
        "/images/320x240.ogg",
        "/js/embed/x.js",
    ]


def test_webphone_frame_ancestors_default_to_self() -> None:
    assert source_template()["Parameters"]["WebphoneFrameAncestors"]["Default"] == "'self'"


def test_stack_deletion_and_second_regions_and_operations_details(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    # The webphone bucket is retained (CloudFormation cannot delete it once files are published)
    assert resources["WebphoneBucket"]["DeletionPolicy"] == "Retain"
    # CloudFront names are global to the account: they carry the region
    for name in ("WebphoneOriginAccessControl", "WebphoneHeadersPolicy"):
        config = next(v for k, v in resources[name]["Properties"].items() if k.endswith("Config"))
        assert "${AWS::Region}" in json.dumps(config["Name"])
    assert "${AWS::Region}" in json.dumps(resources["WebphonePathFunction"]["Properties"]["Name"])
    # Every dead-letter queue is on the dashboard
    body = json.dumps(resources["OperationsDashboard"]["Properties"]["DashboardBody"])
    dead_letter_queues = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in _resources(cfn, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    assert len(dead_letter_queues) == 3
    for queue in dead_letter_queues:
        assert f"${{{queue}.QueueName}}" in body
    # A deploy with nothing to change does not fail (make deploy re-runs safely)
    samconfig = tomllib.loads(Path(ROOT / "samconfig.toml").read_text())
    for env in samconfig.values():
        if isinstance(env, dict) and "deploy" in env:
            assert env["deploy"]["parameters"]["fail_on_empty_changeset"] is False
