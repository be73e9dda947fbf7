"""The template reader of local mode: parameters, conditions and intrinsics evaluated like CloudFormation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailroom_cli.local.redrive import failed_state
from mailroom_cli.local.template import Physical, SamTemplate, TemplateError
from mailroom_cli.operator import OperatorError, _percentiles, parse_duration

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev, AllowedPattern: "^[a-z]+$"}
  Lock: {Type: String, Default: Disabled, AllowedValues: [Enabled, Disabled]}
Conditions:
  Locked: !Equals [!Ref Lock, Enabled]
  NotLocked: !Not [!Condition Locked]
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Bucket:
    Type: AWS::S3::Bucket
    DependsOn: Policy
    Properties:
      BucketName: !Sub "mr-${Stage}-${AWS::AccountId}"
      Target: !GetAtt Queue.Arn
      Lock: !If [Locked, {Days: 1}, !Ref AWS::NoValue]
      Joined: !Join ["-", [a, !Ref Stage, !Select [1, !Split [",", "x,y,z"]]]]
  Policy: {Type: AWS::SQS::QueuePolicy, Properties: {Queues: [!Ref Queue]}}
  OnlyLocked: {Type: AWS::SNS::Topic, Condition: Locked}
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "template.yaml"
    p.write_text(TEMPLATE)
    return p


def _template(path: Path, **parameters: str) -> SamTemplate:
    return SamTemplate(path, parameters=parameters, region="eu-west-1", account_id="123456789012", stack_name="s")


def test_intrinsics_resolve_against_parameters_pseudo_parameters_and_created_resources(path: Path) -> None:
    t = _template(path)
    t.physical["Queue"] = Physical("https://q", {"Arn": "arn:aws:sqs:eu-west-1:123456789012:q"})
    props = t.properties("Bucket")
    assert props == {
        "BucketName": "mr-dev-123456789012",
        "Target": "arn:aws:sqs:eu-west-1:123456789012:q",
        "Joined": "a-dev-y",
    }
    assert _template(path, Lock="Enabled").condition("Locked")


def test_conditions_decide_which_resources_exist(path: Path) -> None:
    assert _template(path).of_type("AWS::SNS::Topic") == []
    assert _template(path, Lock="Enabled").of_type("AWS::SNS::Topic") == ["OnlyLocked"]
    assert _template(path).condition("NotLocked")


def test_resources_are_created_after_what_they_reference_or_depend_on(path: Path) -> None:
    order = _template(path).creation_order(["Bucket", "Policy", "Queue"])
    assert order.index("Queue") < order.index("Policy") < order.index("Bucket")


def test_bad_parameters_and_unknown_references_are_clear_errors(path: Path) -> None:
    with pytest.raises(TemplateError, match="not one of"):
        _template(path, Lock="Sometimes")
    with pytest.raises(TemplateError, match="does not match"):
        _template(path, Stage="UPPER")
    with pytest.raises(TemplateError, match="unknown parameters"):
        _template(path, Nope="1")
    with pytest.raises(TemplateError, match=r"Fn::GetAtt Queue\.Arn"):
        _template(path).properties("Bucket")


def test_the_failed_state_is_the_last_one_entered_and_never_exited() -> None:
    def entered(name: str, data: str = "{}") -> dict[str, object]:
        return {"stateEnteredEventDetails": {"name": name, "input": data}}

    def exited(name: str) -> dict[str, object]:
        return {"stateExitedEventDetails": {"name": name}}

    def numbered(*events: dict[str, object]) -> list[dict[str, object]]:
        return [{"id": n, **e} for n, e in enumerate(events, 1)]

    events = numbered(entered("Decrypt"), exited("Decrypt"), entered("Archive", '{"k": 1}'), {"type": "TaskFailed"})
    assert failed_state(events) == ("Archive", '{"k": 1}')
    assert failed_state(list(reversed(events))) == ("Archive", '{"k": 1}')  # newest first, as reverseOrder gives
    with pytest.raises(Exception, match="no unfinished state"):
        failed_state(numbered(entered("A"), exited("A")))


def test_durations_and_percentiles_for_the_operator_cli() -> None:
    assert parse_duration("90s").total_seconds() == 90
    assert parse_duration("2h").total_seconds() == 7200
    assert parse_duration("7d").days == 7
    with pytest.raises(OperatorError):
        parse_duration("yesterday")
    assert _percentiles([]) == {"p50": None, "p95": None}
    assert _percentiles(list(map(float, range(1, 101)))) == {"p50": 50.5, "p95": pytest.approx(95.05, abs=0.1)}
