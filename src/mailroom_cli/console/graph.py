"""The state machine as an SVG, each state coloured by what one execution did in it.

Two pure functions: ``states_run`` reads a ``GetExecutionHistory`` event list into an outcome per
state, ``render_svg`` lays the ASL out top to bottom and draws it. No graphviz, no JavaScript: the
layout is computed here, and the same ASL and outcomes always give the same bytes, so a page that
inlines the SVG can be compared and cached.

How the history reads (the shapes are botocore's ``stepfunctions`` model; see tests/events/README.md):

- Only ``*StateEntered`` / ``*StateExited`` events name their state. Every other event is tied to its
  state by ``previousEventId``: a ``TaskFailed`` points at its ``TaskStarted``, that at its
  ``TaskScheduled``, that at the ``TaskStateEntered``.
- A retry stays inside one entry of the state (``TaskFailed`` → ``TaskScheduled`` again).
- A failure a Catch takes elsewhere still *exits* the state: ``TaskFailed`` → ``TaskStateExited``
  (its output is the error at the Catch's ``ResultPath``) → the Catch's ``Next`` entered.
- A failure nothing catches has no exit: ``TaskFailed`` → ``ExecutionFailed``.
- A redrive adds ``ExecutionRedriven`` (no second ``ExecutionStarted``) and re-enters the state
  that failed; states that had succeeded are not entered again.

So a state's outcome is read from its latest entry (a redrive's or a loop's re-entry replaces the
earlier one): *succeeded* — it exited and its last attempt did not fail; *caught* — it exited straight
after a failure (its last attempt failed, or the exit's ``previousEventId`` is a failure event), which
only a Catch does; *failed* — never exited and the execution stopped (failed, timed out or aborted);
*running* — never exited and the execution has not stopped. A state never entered is not in the map.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Final

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
CAUGHT: Final = "caught"
RUNNING: Final = "running"
NOT_RUN: Final = "not-run"
OUTCOMES: Final = (SUCCEEDED, FAILED, CAUGHT, RUNNING, NOT_RUN)

_DESCRIPTIONS: Final = {
    SUCCEEDED: "succeeded",
    FAILED: "failed: the execution stopped here",
    CAUGHT: "caught: failed, and a Catch went on elsewhere",
    RUNNING: "running",
    NOT_RUN: "not run",
}

# The events that end an attempt of a state in failure; a Retry may follow, or a Catch, or the end.
_FAILURES: Final = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "ActivityFailed",
        "ActivityTimedOut",
        "ActivityScheduleFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionScheduleFailed",
        "LambdaFunctionStartFailed",
        "MapStateFailed",
        "ParallelStateFailed",
        "EvaluationFailed",
    }
)
_SUCCESSES: Final = frozenset(
    {"TaskSucceeded", "ActivitySucceeded", "LambdaFunctionSucceeded", "MapStateSucceeded", "ParallelStateSucceeded"}
)
_STARTS: Final = frozenset({"ExecutionStarted", "ExecutionRedriven"})
_UNSUCCESSFUL_ENDS: Final = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})


@dataclasses.dataclass
class _Entry:
    """One entry into a state: the latest one is the state's outcome."""

    name: str
    exited: bool = False
    last_attempt_failed: bool = False
    stopped_execution: bool = False


def states_run(events: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each state's outcome in this execution (``succeeded``, ``failed``, ``caught``, ``running``); absent: not run."""
    by_id = {int(e["id"]): e for e in events}
    entries: dict[int, _Entry] = {}  # id of the *StateEntered event -> that entry
    latest: dict[str, _Entry] = {}
    ended = False
    for event_id in sorted(by_id):
        event = by_id[event_id]
        kind = str(event["type"])
        if "stateEnteredEventDetails" in event:
            entry = _Entry(name=str(event["stateEnteredEventDetails"]["name"]))
            entries[event_id] = latest[entry.name] = entry
        elif "stateExitedEventDetails" in event:
            exited = latest.get(str(event["stateExitedEventDetails"]["name"]))
            if exited is not None:
                exited.exited = True
                # A Catch exits straight after the failure (for a Parallel or Map too, whose failure
                # event may trace back into one of its branches rather than to the state itself).
                before = by_id.get(int(event.get("previousEventId") or 0))
                if before is not None and before["type"] in _FAILURES:
                    exited.last_attempt_failed = True
        elif kind in _STARTS:
            ended = False
        elif kind in _FAILURES or kind in _SUCCESSES:
            owner = _entry_of(event, by_id, entries)
            if owner is not None:
                owner.last_attempt_failed = kind in _FAILURES
        elif kind in _UNSUCCESSFUL_ENDS:
            ended = True
            owner = _entry_of(event, by_id, entries)
            if owner is not None and not owner.exited:
                owner.stopped_execution = True
        elif kind == "ExecutionSucceeded":
            ended = True
    return {name: _outcome(entry, ended=ended) for name, entry in latest.items()}


def _outcome(entry: _Entry, *, ended: bool) -> str:
    if entry.exited:
        return CAUGHT if entry.last_attempt_failed else SUCCEEDED
    if entry.stopped_execution or ended:
        # Entered and never left when the execution stopped: where it failed, timed out or was
        # aborted (a Parallel's other branches, aborted with it, read the same).
        return FAILED
    return RUNNING


def _entry_of(
    event: Mapping[str, Any], by_id: Mapping[int, Mapping[str, Any]], entries: Mapping[int, _Entry]
) -> _Entry | None:
    """The state entry an event belongs to: up its ``previousEventId`` chain to a ``*StateEntered``."""
    seen: set[int] = set()
    current: Mapping[str, Any] | None = event
    while current is not None:
        current_id = int(current["id"])
        if current_id in entries:
            return entries[current_id]
        if "stateExitedEventDetails" in current or current_id in seen:
            return None  # after a state had left: the event belongs to none
        seen.add(current_id)
        previous = current.get("previousEventId")
        current = by_id.get(int(previous)) if previous else None
    return None


# --------------------------------------------------------------------------------------------- layout

_LAYER_GAP: Final = 64
_NODE_HEIGHT: Final = 44
_NODE_GAP: Final = 28
_MARGIN: Final = 24
_CHAR_WIDTH: Final = 7.2  # 12px sans-serif, a generous average so names fit their box
_MIN_NODE_WIDTH: Final = 112
_DUMMY_WIDTH: Final = 8
_START_SPACE: Final = 36
_LEGEND_ROW: Final = 18
_SWEEPS: Final = 4
_LOOP_GAP: Final = 14
_LEGEND_WIDTH: Final = 180


@dataclasses.dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    kind: str  # "next", "choice", "default", "catch" or "start"


@dataclasses.dataclass
class _Node:
    key: str
    width: float
    layer: int = 0
    x: float = 0.0  # centre
    y: float = 0.0  # top


def _edges(asl: Mapping[str, Any]) -> list[_Edge]:
    """Transitions in ASL order: ``Next``, ``Choices[].Next``, ``Default``, ``Catch[].Next``; one per pair."""
    found: list[_Edge] = []
    pairs: set[tuple[str, str]] = set()
    states: Mapping[str, Any] = asl["States"]
    for name, state in states.items():
        targets: list[tuple[str, str]] = []
        if isinstance(state.get("Next"), str):
            targets.append((state["Next"], "next"))
        targets += [(c["Next"], "choice") for c in state.get("Choices", []) if isinstance(c.get("Next"), str)]
        if isinstance(state.get("Default"), str):
            targets.append((state["Default"], "default"))
        targets += [(c["Next"], "catch") for c in state.get("Catch", []) if isinstance(c.get("Next"), str)]
        for target, kind in targets:
            if target in states and (name, target) not in pairs:
                pairs.add((name, target))
                found.append(_Edge(name, target, kind))
    return found


def _layers(names: Sequence[str], start: str, edges: Sequence[_Edge]) -> dict[str, int]:
    """Longest-path layers from ``StartAt`` after a depth-first walk drops the edges that close a loop."""
    out: dict[str, list[str]] = {n: [] for n in names}
    for edge in edges:
        out[edge.source].append(edge.target)
    order: list[str] = []  # reverse post-order: a topological order of the graph without back edges
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the walk's stack, 2 done
    roots = [start, *[n for n in names if n != start]] if start in out else list(names)
    for root in roots:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, index = stack.pop()
            if index < len(out[node]):
                stack.append((node, index + 1))
                target = out[node][index]
                if state.get(target) == 1:
                    back.add((node, target))
                elif target not in state:
                    state[target] = 1
                    stack.append((target, 0))
            else:
                state[node] = 2
                order.append(node)
    layer = dict.fromkeys(names, 0)
    for node in reversed(order):
        for target in out[node]:
            if (node, target) not in back:
                layer[target] = max(layer[target], layer[node] + 1)
    return layer


def _layout(asl: Mapping[str, Any]) -> tuple[dict[str, _Node], list[tuple[_Edge, list[str]]], float, float]:
    """Nodes placed, each edge with the chain of node keys it passes through, and the drawing's size."""
    names = list(asl["States"])
    edges = _edges(asl)
    layer = _layers(names, str(asl.get("StartAt", "")), edges)
    nodes = {n: _Node(n, max(_MIN_NODE_WIDTH, _CHAR_WIDTH * len(n) + 28), layer[n]) for n in names}
    routed: list[tuple[_Edge, list[str]]] = []
    for edge in edges:
        low, high = nodes[edge.source].layer, nodes[edge.target].layer
        chain = [edge.source]
        if high > low + 1:  # a long edge runs through placeholders, one per layer it crosses
            for between in range(low + 1, high):
                key = f"\x00{len(nodes)}"
                nodes[key] = _Node(key, _DUMMY_WIDTH, between)
                chain.append(key)
        chain.append(edge.target)
        routed.append((edge, chain))
    rows: list[list[str]] = [[] for _ in range(max(n.layer for n in nodes.values()) + 1)] if nodes else []
    for key, node in nodes.items():
        rows[node.layer].append(key)
    _order(rows, routed)
    width = max((sum(nodes[k].width for k in row) + _NODE_GAP * (len(row) - 1) for row in rows), default=0.0)
    for index, row in enumerate(rows):
        row_width = sum(nodes[k].width for k in row) + _NODE_GAP * (len(row) - 1)
        x = _MARGIN + (width - row_width) / 2
        for key in row:
            node = nodes[key]
            node.x, node.y = x + node.width / 2, _MARGIN + _START_SPACE + index * (_NODE_HEIGHT + _LAYER_GAP)
            x += node.width + _NODE_GAP
    height = _MARGIN + _START_SPACE + len(rows) * (_NODE_HEIGHT + _LAYER_GAP) - _LAYER_GAP / 2
    return nodes, routed, width + 2 * _MARGIN, height


def _order(rows: list[list[str]], routed: Sequence[tuple[_Edge, list[str]]]) -> None:
    """Fewer crossings: each row sorted by the mean position of its neighbours above, then below."""
    above: dict[str, list[str]] = {}
    below: dict[str, list[str]] = {}
    for _, chain in routed:
        for upper, lower in itertools.pairwise(chain):
            above.setdefault(lower, []).append(upper)
            below.setdefault(upper, []).append(lower)
    for sweep in range(_SWEEPS):
        downward = sweep % 2 == 0
        sequence = range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)
        for index in sequence:
            reference = rows[index - 1] if downward else rows[index + 1]
            position = {k: i for i, k in enumerate(reference)}
            links = above if downward else below
            current = {k: i for i, k in enumerate(rows[index])}
            weight: dict[str, float] = {}
            for key in rows[index]:
                placed = [position[k] for k in links.get(key, []) if k in position]
                weight[key] = sum(placed) / len(placed) if placed else float(current[key])
            rows[index].sort(key=lambda k: (weight[k], current[k]))


# --------------------------------------------------------------------------------------------- drawing

STYLE: Final = """
.sfn-graph text{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:12px;fill:#1f2328}
.sfn-graph text.kind{font-size:10px;fill:#57606a}
.sfn-graph .state rect,.sfn-graph .legend-item rect{stroke-width:1.5px}
.sfn-graph .succeeded rect{fill:#dafbe1;stroke:#1a7f37}
.sfn-graph .failed rect{fill:#ffebe9;stroke:#cf222e}
.sfn-graph .caught rect{fill:#fff1e5;stroke:#d1600f}
.sfn-graph .running rect{fill:#ddf4ff;stroke:#0969da}
.sfn-graph .not-run rect{fill:#f6f8fa;stroke:#8c959f}
.sfn-graph .not-run text{fill:#57606a}
.sfn-graph .edge path{fill:none;stroke:#57606a;stroke-width:1.2px}
.sfn-graph .edge polygon{fill:#57606a}
.sfn-graph .edge.catch path{stroke-dasharray:5 4}
.sfn-graph .start circle{fill:#57606a}
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def render_svg(asl: Mapping[str, Any], outcomes: Mapping[str, str], *, embed_style: bool = True) -> str:
    """The ASL's top-level states as an SVG graph, each state's class and ``data-outcome`` from ``outcomes``.

    ``embed_style=False`` leaves out the ``<style>`` element, for a page whose Content-Security-Policy allows
    only its own stylesheet (which then carries ``STYLE``).
    """
    unknown = sorted({o for o in outcomes.values() if o not in OUTCOMES})
    if unknown:
        raise ValueError(f"unknown outcomes {unknown}; expected one of {OUTCOMES}")
    states: Mapping[str, Any] = asl["States"]
    nodes, routed, width, height = _layout(asl)
    # Edges that close a loop go up the right-hand side, each in its own lane.
    loops = [i for i, (_, chain) in enumerate(routed) if nodes[chain[-1]].layer <= nodes[chain[0]].layer]
    total_width = max(width + _LOOP_GAP * len(loops), _LEGEND_WIDTH + 2 * _MARGIN)
    legend_top = height + _MARGIN
    total_height = legend_top + len(OUTCOMES) * _LEGEND_ROW + _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sfn-graph" role="img" '
        f'width="{_num(total_width)}" height="{_num(total_height)}" '
        f'viewBox="0 0 {_num(total_width)} {_num(total_height)}">',
        f"<title>{_esc(asl.get('Comment') or 'State machine')}</title>",
    ]
    if embed_style:
        parts.append(f"<style>{STYLE}</style>")
    start = str(asl.get("StartAt", ""))
    if start in states:
        node = nodes[start]
        top = node.y - _START_SPACE + 8
        parts.append(
            f'<g class="start"><title>Start</title><circle cx="{_num(node.x)}" cy="{_num(top)}" r="6"/></g>'
            + _edge_svg(_Edge("", start, "start"), [(node.x, top + 6), (node.x, node.y)])
        )
    ports = _ports(routed, nodes)
    for index, (edge, chain) in enumerate(routed):
        lane = loops.index(index) if index in loops else 0
        spots = (ports.get((index, 0), 0.0), ports.get((index, 1), 0.0))
        parts.append(_edge_svg(edge, _route(chain, nodes, spots, width - _MARGIN, lane)))
    for name, state in states.items():
        parts.append(_state_svg(name, state, nodes[name], outcomes.get(name, NOT_RUN)))
    parts.append(_legend_svg(_MARGIN, legend_top))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _ports(routed: Sequence[tuple[_Edge, list[str]]], nodes: Mapping[str, _Node]) -> dict[tuple[int, int], float]:
    """Where each downward edge leaves its source and enters its target, spread along the box in neighbour order."""
    leaving: dict[str, list[tuple[float, int]]] = {}
    entering: dict[str, list[tuple[float, int]]] = {}
    for index, (_, chain) in enumerate(routed):
        if nodes[chain[-1]].layer > nodes[chain[0]].layer:
            leaving.setdefault(chain[0], []).append((nodes[chain[1]].x, index))
            entering.setdefault(chain[-1], []).append((nodes[chain[-2]].x, index))
    ports: dict[tuple[int, int], float] = {}
    for end, groups in ((0, leaving), (1, entering)):
        for key, group in groups.items():
            spacing = min(16.0, nodes[key].width / (len(group) + 1))
            for rank, (_, index) in enumerate(sorted(group)):
                ports[(index, end)] = nodes[key].x + (rank - (len(group) - 1) / 2) * spacing
    return ports


def _route(
    chain: Sequence[str], nodes: Mapping[str, _Node], ports: tuple[float, float], right: float, lane: int
) -> list[tuple[float, float]]:
    """Points an edge passes: out of the source's bottom and into the target's top, or round the right for a loop."""
    source, target = nodes[chain[0]], nodes[chain[-1]]
    if target.layer <= source.layer:  # across in the gaps between rows, where there are no boxes
        out_x, in_x = source.x + source.width / 4, target.x + target.width / 4
        below = source.y + _NODE_HEIGHT + _LAYER_GAP / 2 - 5 * (lane % 4)
        above = target.y - _LAYER_GAP / 2 + 5 * (lane % 4)
        loop_x = right + _LOOP_GAP * (lane + 1)  # each loop in its own lane, right of every box
        return [
            (out_x, source.y + _NODE_HEIGHT),
            (out_x, below),
            (loop_x, below),
            (loop_x, above),
            (in_x, above),
            (in_x, target.y),
        ]
    points = [(ports[0], source.y + _NODE_HEIGHT)]
    for key in chain[1:-1]:
        node = nodes[key]
        points += [(node.x, node.y), (node.x, node.y + _NODE_HEIGHT)]
    points.append((ports[1], target.y))
    return points


def _edge_svg(edge: _Edge, points: Sequence[tuple[float, float]]) -> str:
    path = "M" + " L".join(f"{_num(x)} {_num(y)}" for x, y in points)
    (x1, y1), (x2, y2) = points[-2], points[-1]
    length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1e-9)
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    head = [(x2, y2), (x2 - 8 * ux + 4 * uy, y2 - 8 * uy - 4 * ux), (x2 - 8 * ux - 4 * uy, y2 - 8 * uy + 4 * ux)]
    arrow = " ".join(f"{_num(x)},{_num(y)}" for x, y in head)
    css = "edge catch" if edge.kind == "catch" else "edge"
    return (
        f'<g class="{css}" data-from="{_esc(edge.source)}" data-to="{_esc(edge.target)}" data-kind="{edge.kind}">'
        f'<path d="{path}"/><polygon points="{arrow}"/></g>'
    )


def _state_svg(name: str, state: Mapping[str, Any], node: _Node, outcome: str) -> str:
    kind = str(state.get("Type", ""))
    left, top = node.x - node.width / 2, node.y
    hover = f"{name} ({kind}): {_DESCRIPTIONS[outcome]}"
    if state.get("Comment"):
        hover += f"\n{state['Comment']}"
    return (
        f'<g class="state {outcome}" data-state="{_esc(name)}" data-outcome="{outcome}">'
        f"<title>{_esc(hover)}</title>"
        f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(node.width)}" height="{_NODE_HEIGHT}" rx="8" ry="8"/>'
        f'<text x="{_num(node.x)}" y="{_num(top + 19)}" text-anchor="middle">{_esc(name)}</text>'
        f'<text class="kind" x="{_num(node.x)}" y="{_num(top + 34)}" text-anchor="middle">{_esc(kind)}</text>'
        "</g>"
    )


def _legend_svg(left: float, top: float) -> str:
    rows = ['<g class="legend">']
    for index, outcome in enumerate(OUTCOMES):
        y = top + index * _LEGEND_ROW
        label = outcome.replace("-", " ")
        rows.append(
            f'<g class="legend-item {outcome}">'
            f'<rect x="{_num(left)}" y="{_num(y)}" width="14" height="12" rx="3" ry="3"/>'
            f'<text x="{_num(left + 20)}" y="{_num(y + 10)}">{label}</text></g>'
        )
    rows.append("</g>")
    return "".join(rows)
