"""The console's graph: each state's outcome from a GetExecutionHistory, and the ASL drawn as safe SVG."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mailroom_cli.console.graph import render_svg, states_run

ROOT = Path(__file__).resolve().parents[2]
ASL: dict[str, Any] = json.loads((ROOT / "statemachine" / "inbound_email.asl.json").read_text())
EVENTS = ROOT / "tests" / "events"
STEPS = ["Decrypt", "Parse", "Archive", "Inbox"]
SVG = "{http://www.w3.org/2000/svg}"


def history(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((EVENTS / f"sfn_history_{name}.json").read_text())["events"]
    return events


def until(events: list[dict[str, Any]], last_id: int) -> list[dict[str, Any]]:
    """The history as GetExecutionHistory would have answered once event ``last_id`` had happened."""
    return [e for e in events if e["id"] <= last_id]


def event_id(events: list[dict[str, Any]], kind: str, nth: int = 0) -> int:
    return int([e["id"] for e in events if e["type"] == kind][nth])


def drawn_states(svg: str) -> list[ET.Element]:
    return [g for g in ET.fromstring(svg).iter(f"{SVG}g") if "data-state" in g.attrib]


# ------------------------------------------------------------------------------------------ states_run


def test_a_delivered_email_has_its_four_steps_succeeded_even_the_one_retried() -> None:
    events = history("succeeded")
    assert "TaskFailed" in [e["type"] for e in events]  # Parse's first attempt failed, its retry did not
    assert states_run(events) == dict.fromkeys(STEPS, "succeeded")


def test_a_failure_caught_at_archive_marks_archive_caught_and_the_quarantine_path_succeeded() -> None:
    outcomes = states_run(history("caught_archive"))
    assert outcomes == {
        "Decrypt": "succeeded",
        "Parse": "succeeded",
        "Archive": "caught",
        "QuarantinedAtArchive": "succeeded",
        "RecordQuarantine": "succeeded",
        "Quarantined": "succeeded",
    }
    assert "Inbox" not in outcomes


def test_the_caught_state_exits_like_any_other_so_caught_is_read_from_its_last_attempt() -> None:
    events = history("caught_archive")
    exits = [e["stateExitedEventDetails"]["name"] for e in events if "stateExitedEventDetails" in e]
    assert "Archive" in exits  # the real shape: TaskFailed → TaskStateExited → the Catch's Next
    just_exited = until(events, event_id(events, "TaskFailed") + 1)
    assert states_run(just_exited)["Archive"] == "caught"


def test_a_redriven_execution_shows_its_latest_attempt_of_each_state() -> None:
    events = history("redriven")
    assert [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e].count(
        "Inbox"
    ) == 2
    assert states_run(events) == dict.fromkeys(STEPS, "succeeded")


def test_the_redriven_history_read_before_the_redrive_shows_inbox_failed() -> None:
    events = history("redriven")
    outcomes = states_run(until(events, event_id(events, "ExecutionFailed")))
    assert outcomes == {"Decrypt": "succeeded", "Parse": "succeeded", "Archive": "succeeded", "Inbox": "failed"}


def test_the_redriven_history_read_mid_attempt_shows_inbox_running() -> None:
    events = history("redriven")
    assert states_run(until(events, event_id(events, "TaskStarted", nth=-1)))["Inbox"] == "running"
    assert states_run(until(events, event_id(events, "TaskFailed")))["Inbox"] == "running"  # retries remain


def test_a_state_entered_when_the_execution_was_stopped_is_failed() -> None:
    events = until(history("succeeded"), 9)  # Parse's first attempt started
    aborted = {"timestamp": "2026-11-27T08:15:06.000+00:00", "type": "ExecutionAborted", "id": 10, "previousEventId": 9}
    assert states_run([*events, aborted]) == {"Decrypt": "succeeded", "Parse": "failed"}


def test_the_event_order_does_not_matter_as_with_reverse_order() -> None:
    events = history("caught_archive")
    assert states_run(list(reversed(events))) == states_run(events)


def test_no_events_means_no_state_run() -> None:
    assert states_run([]) == {}


# ------------------------------------------------------------------------------------------ render_svg


def test_every_state_of_the_asl_is_drawn_exactly_once_with_its_outcome() -> None:
    outcomes = states_run(history("caught_archive"))
    drawn = drawn_states(render_svg(ASL, outcomes))
    assert sorted(g.attrib["data-state"] for g in drawn) == sorted(ASL["States"])
    for g in drawn:
        outcome = outcomes.get(g.attrib["data-state"], "not-run")
        assert g.attrib["data-outcome"] == outcome
        assert g.attrib["class"] == f"state {outcome}"
        assert g.find(f"{SVG}title") is not None
        assert g.find(f"{SVG}rect") is not None


def test_the_graph_of_a_caught_archive_shows_inbox_not_run() -> None:
    drawn = {g.attrib["data-state"]: g for g in drawn_states(render_svg(ASL, states_run(history("caught_archive"))))}
    assert drawn["Archive"].attrib["data-outcome"] == "caught"
    assert drawn["QuarantinedAtArchive"].attrib["data-outcome"] == "succeeded"
    assert drawn["Inbox"].attrib["data-outcome"] == "not-run"


def test_every_transition_is_an_edge_and_the_catches_are_dashed() -> None:
    root = ET.fromstring(render_svg(ASL, {}))
    edges = {
        (g.attrib["data-from"], g.attrib["data-to"]): g.attrib["class"]
        for g in root.iter(f"{SVG}g")
        if "data-kind" in g.attrib and g.attrib["data-kind"] != "start"
    }
    expected = {}
    for name, state in ASL["States"].items():
        if "Next" in state:
            expected[(name, state["Next"])] = "edge"
        for catch in state.get("Catch", []):
            expected[(name, catch["Next"])] = "edge catch"
    assert edges == expected
    style = "".join(s.text or "" for s in root.iter(f"{SVG}style"))
    assert re.search(r"\.edge\.catch path\{[^}]*stroke-dasharray", style)


def test_the_layout_goes_down_from_start_at() -> None:
    drawn = {g.attrib["data-state"]: g for g in drawn_states(render_svg(ASL, {}))}

    def top(name: str) -> float:
        rect = drawn[name].find(f"{SVG}rect")
        assert rect is not None
        return float(rect.attrib["y"])

    assert top("Decrypt") < top("Parse") < top("Archive") < top("Inbox")
    assert top("QuarantinedAtInbox") < top("RecordQuarantine") < top("Quarantined")


def test_names_with_markup_characters_are_escaped_and_round_trip() -> None:
    name = 'Check <b>&"quotes"\'s'
    asl = {"StartAt": name, "States": {name: {"Type": "Pass", "Next": "Done"}, "Done": {"Type": "Succeed"}}}
    svg = render_svg(asl, {name: "succeeded"})
    assert "<b>" not in svg
    assert "Check &lt;b&gt;&amp;&quot;quotes&quot;&#x27;s" in svg
    drawn = drawn_states(svg)
    assert [g.attrib["data-state"] for g in drawn] == [name, "Done"]
    texts = [t.text for t in drawn[0].iter(f"{SVG}text")]
    assert name in texts


def test_the_svg_has_no_scripts_links_or_external_references() -> None:
    svg = render_svg(ASL, states_run(history("redriven")))
    root = ET.fromstring(svg)
    tags = {el.tag.removeprefix(SVG) for el in root.iter()}
    assert tags <= {"svg", "title", "style", "g", "rect", "text", "path", "polygon", "circle"}
    attributes = {name for el in root.iter() for name in el.attrib}
    assert not [a for a in attributes if a.startswith("on") or "href" in a]
    assert "url(" not in svg
    assert "@import" not in svg


def test_the_style_is_scoped_to_the_graph_so_inlining_it_styles_nothing_else_on_the_page() -> None:
    root = ET.fromstring(render_svg(ASL, {}))
    assert "sfn-graph" in root.attrib["class"].split()
    style = "".join(s.text or "" for s in root.iter(f"{SVG}style"))
    selectors = [rule.split("{")[0] for rule in style.strip().splitlines()]
    assert selectors
    assert all(part.strip().startswith(".sfn-graph ") for s in selectors for part in s.split(","))


def test_the_legend_names_every_outcome_and_is_not_a_state() -> None:
    root = ET.fromstring(render_svg(ASL, {}))
    items = [g for g in root.iter(f"{SVG}g") if "legend-item" in g.attrib.get("class", "").split()]
    assert [g.attrib["class"].split()[1] for g in items] == ["succeeded", "failed", "caught", "running", "not-run"]
    assert all("data-state" not in g.attrib for g in items)


def test_the_same_input_draws_the_same_bytes() -> None:
    outcomes = states_run(history("caught_archive"))
    assert render_svg(ASL, outcomes) == render_svg(json.loads(json.dumps(ASL)), dict(outcomes))


def test_choices_loops_and_unreachable_states_are_all_drawn() -> None:
    asl = {
        "StartAt": "Poll",
        "States": {
            "Poll": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done?"},
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Fan out"}],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Poll"},
            "Fan out": {"Type": "Parallel", "Branches": [], "Next": "Stop"},
            "Stop": {"Type": "Fail", "Error": "Stopped"},
            "Orphan": {"Type": "Pass", "End": True},
        },
    }
    root = ET.fromstring(render_svg(asl, {"Poll": "running"}))
    assert sorted(g.attrib["data-state"] for g in root.iter(f"{SVG}g") if "data-state" in g.attrib) == sorted(
        asl["States"]
    )
    kinds = {
        (g.attrib["data-from"], g.attrib["data-to"]): g.attrib["data-kind"]
        for g in root.iter(f"{SVG}g")
        if "data-kind" in g.attrib
    }
    assert kinds[("Done?", "Fan out")] == "choice"
    assert kinds[("Done?", "Wait")] == "default"
    assert kinds[("Wait", "Poll")] == "next"


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown outcomes"):
        render_svg(ASL, {"Decrypt": "exploded"})


def parallel_history(*, caught: bool) -> list[dict[str, Any]]:
    """A Parallel whose branch A fails while branch B is still working: B is aborted with it."""
    shape = [
        (1, 0, "ExecutionStarted", None),
        (2, 0, "ParallelStateEntered", "Fan out"),
        (3, 2, "ParallelStateStarted", None),
        (4, 3, "TaskStateEntered", "A"),
        (5, 3, "TaskStateEntered", "B"),
        (6, 4, "TaskScheduled", None),
        (7, 5, "TaskScheduled", None),
        (8, 6, "TaskStarted", None),
        (9, 7, "TaskStarted", None),
        (10, 8, "TaskFailed", None),
        (11, 9, "TaskStateAborted", None),
        (12, 10, "ParallelStateFailed", None),
    ]
    if caught:
        shape += [(13, 12, "ParallelStateExited", "Fan out"), (14, 13, "PassStateEntered", "Handled")]
        shape += [(15, 14, "PassStateExited", "Handled"), (16, 15, "ExecutionSucceeded", None)]
    else:
        shape += [(13, 12, "ExecutionFailed", None)]
    events = []
    for number, previous, kind, name in shape:
        event: dict[str, Any] = {"timestamp": "2026-11-27T08:00:00.000+00:00", "type": kind, "id": number}
        event["previousEventId"] = previous
        if name is not None:
            key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
            event[key] = {"name": name, "input" if kind.endswith("Entered") else "output": "{}"}
        if kind == "TaskFailed":
            event["taskFailedEventDetails"] = {"error": "Boom", "cause": "branch A", "resource": "invoke"}
        events.append(event)
    return events


def test_a_parallel_that_fails_leaves_its_aborted_branch_failed_too() -> None:
    assert states_run(parallel_history(caught=False)) == {"Fan out": "failed", "A": "failed", "B": "failed"}


def test_a_parallel_whose_failure_is_caught_is_caught() -> None:
    outcomes = states_run(parallel_history(caught=True))
    assert outcomes["Fan out"] == "caught"
    assert outcomes["Handled"] == "succeeded"
