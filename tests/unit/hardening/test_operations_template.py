"""template.yaml's operations side: an alarm on every dead-letter queue and every function, API error
rates, a topic every alarm notifies, and a dashboard showing every metric the code emits."""

from __future__ import annotations

import json
import re
from typing import Any

from ctibridge.observability import METRICS
from tests.support.aws import load_template


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def test_every_dead_letter_queue_has_a_depth_alarm() -> None:
    resources = load_template()["Resources"]
    dead_letter_queues = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in _of_type(resources, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in _of_type(resources, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Threshold"] == 0
    }
    assert dead_letter_queues
    assert dead_letter_queues <= watched


def test_every_function_has_an_errors_alarm() -> None:
    resources = load_template()["Resources"]
    functions = set(_of_type(resources, "AWS::Serverless::Function"))
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in _of_type(resources, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and alarm["Properties"].get("MetricName") == "Errors"
    }
    assert functions - watched == set(), "add an <Name>ErrorsAlarm for each new function"


def test_api_errors_and_the_emf_metrics_are_alarmed_and_every_alarm_notifies_the_topic() -> None:
    resources = load_template()["Resources"]
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm")
    metric_names = {
        m["MetricStat"]["Metric"]["MetricName"]
        for alarm in alarms.values()
        for m in alarm["Properties"].get("Metrics", [])
        if "MetricStat" in m
    } | {alarm["Properties"].get("MetricName") for alarm in alarms.values()}
    assert {"5xx", "IntegrationError", "WebhooksRejected", "BackendUnavailable"} <= metric_names
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}


def test_the_dashboard_shows_every_metric_the_code_emits() -> None:
    body = load_template()["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # What CloudFormation will hand CloudWatch once ${...} are substituted: valid JSON
    document = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    shown = {
        metric[1]
        for widget in document["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if metric and metric[0] == "CTIBridge"
    }
    assert shown == set(METRICS)
    assert {"${RecordingDeadLetterQueue.QueueName}", "${DeliveryDeadLetterQueue.QueueName}"} <= set(
        re.findall(r"\$\{[^}]+\}", body)
    )
