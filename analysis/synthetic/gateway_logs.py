"""Turn drawn calls and outcomes into ``ApiManagementGatewayLogs`` rows.

One row per request, every column of the table, dtypes as the schema CSV
says. Column values are built with array operations per destination and per
operation (a handful of groups), never row by row, so a two-hour sample of
tens of thousands of rows takes well under a second.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.query.schema import GATEWAY_LOGS, conform
from analysis.synthetic.outcomes import MESSAGES, Outcome, Outcomes
from analysis.synthetic.scenarios import Caller, Destination, Scenario
from analysis.synthetic.traffic import MICROS_PER_MINUTE, Calls

ERROR_SOURCE = "forward-request"
ERROR_SECTION = "backend"
SUCCESS_CODE_BY_METHOD = {"GET": 200, "POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}


@dataclass(frozen=True, eq=False)
class DestinationDraw:
    """Everything drawn for one destination, ready to become rows."""

    destination: Destination
    calls: Calls
    outcomes: Outcomes


def apim_host(scenario: Scenario) -> str:
    """Front-end host of the APIM instance.

    >>> from datetime import datetime
    >>> apim_host(Scenario("x", datetime(2025, 2, 25), 1, ()))
    'contoso-apim.azure-api.net'
    """
    return f"{scenario.service}.azure-api.net"


def resource_id(scenario: Scenario) -> str:
    """``_ResourceId`` of the APIM instance, lower-case as resource-specific tables store it."""
    return (
        f"/subscriptions/{scenario.azure_subscription_id}/resourcegroups/{scenario.resource_group}"
        f"/providers/microsoft.apimanagement/service/{scenario.service}"
    ).lower()


def _fill(template: str, values: dict[str, npt.NDArray[np.str_]], n: int) -> npt.NDArray[np.object_]:
    """``template`` with each ``{token}`` replaced by the matching element of ``values[token]``.

    >>> _fill("/orders/{id}?page={n}", {"id": np.array(["7", "8"]), "n": np.array(["1", "2"])}, 2).tolist()
    ['/orders/7?page=1', '/orders/8?page=2']
    """
    out = np.full(n, "", dtype=object)
    for piece in re.split(r"(\{\w+\})", template):
        token = piece[1:-1]
        if piece.startswith("{") and token in values:
            out = out + values[token].astype(object)
        elif piece:
            out = out + piece
    return out


def _urls(
    draw: DestinationDraw, scenario: Scenario, rng: np.random.Generator
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Front-end ``Url`` and ``BackendUrl`` of every call of one destination."""
    calls, ops = draw.calls, draw.destination.operations
    n = len(calls)
    ids = rng.integers(10_000, 1_000_000, n).astype(str)
    pages = rng.integers(1, 21, n).astype(str)
    front = np.empty(n, dtype=object)
    back = np.empty(n, dtype=object)
    base = draw.destination.base_url.rstrip("/")
    host = apim_host(scenario)
    for index, op in enumerate(ops):
        mask = calls.operation == index
        path = _fill(op.path + op.query, {"id": ids[mask], "n": pages[mask]}, int(mask.sum()))
        front[mask] = f"https://{host}/{op.api_suffix.strip('/')}" + path
        back[mask] = base + path
    return front, back


def _errors_json(reason: str, message: str, elapsed: int, source: str, section: str) -> str:
    return json.dumps(
        [{"elapsed": elapsed, "source": source, "section": section, "reason": reason, "message": message}],
        separators=(",", ":"),
    )


def _timings(out: Outcomes, rng: np.random.Generator) -> dict[str, npt.NDArray[np.int64]]:
    """Gateway overhead, client, cache and backend milliseconds, and their total."""
    outcome = out.outcome
    n = len(outcome)
    overhead = np.round(np.exp(1.0 + 0.5 * rng.standard_normal(n))).astype(np.int64) + 1
    client = np.where(
        outcome == Outcome.OK, np.round(np.exp(0.8 + 1.1 * rng.standard_normal(n))), np.round(rng.uniform(0, 2, n))
    ).astype(np.int64)
    cache = np.where(outcome == Outcome.CACHE_HIT, rng.integers(0, 3, n), 0).astype(np.int64)
    backend = np.round(np.nan_to_num(out.backend_ms)).astype(np.int64)
    side = np.round(np.where(outcome == Outcome.SIDE_CALL_FAILURE, out.elapsed_ms, 0.0)).astype(np.int64)
    total = overhead + client + cache + backend + side
    return {"overhead": overhead, "client": client, "cache": cache, "backend": backend, "total": total}


#: Outcome -> (LastErrorReason, LastErrorSource, LastErrorSection) of a failed request.
ERROR_OF: dict[int, tuple[str, str, str]] = {
    Outcome.CONNECTION_FAILURE: ("BackendConnectionFailure", ERROR_SOURCE, ERROR_SECTION),
    Outcome.TIMEOUT: ("Timeout", ERROR_SOURCE, ERROR_SECTION),
    Outcome.CLIENT_FAILURE: ("ClientConnectionFailure", ERROR_SOURCE, ERROR_SECTION),
    Outcome.SIDE_CALL_FAILURE: ("BackendConnectionFailure", "send-request", "inbound"),
}


def _error_columns(out: Outcomes, overhead: npt.NDArray[np.int64]) -> dict[str, np.ndarray]:
    """``LastError*`` and ``Errors`` values, set for failed requests only (not for backend answers)."""
    outcome = out.outcome
    n = len(outcome)
    columns = {
        name: np.full(n, "", dtype=object)
        for name in ("LastErrorReason", "LastErrorSource", "LastErrorSection", "Errors")
    }
    for kind, values in ERROR_OF.items():
        mask = outcome == kind
        for name, value in zip(("LastErrorReason", "LastErrorSource", "LastErrorSection"), values, strict=False):
            columns[name][mask] = value
    failed = out.message >= 0
    message = np.where(failed, np.array(MESSAGES + ("",), dtype=object)[out.message], "")
    elapsed = np.where(failed, overhead + np.round(np.nan_to_num(out.elapsed_ms)).astype(np.int64), -1)
    errors = columns["Errors"]
    for i in np.flatnonzero(failed):
        errors[i] = _errors_json(
            str(columns["LastErrorReason"][i]),
            str(message[i]),
            int(elapsed[i]),
            str(columns["LastErrorSource"][i]),
            str(columns["LastErrorSection"][i]),
        )
    return {**columns, "LastErrorMessage": message, "LastErrorElapsed": elapsed}


def _sizes(
    outcome: npt.NDArray[np.int8], response: npt.NDArray[np.int32], method: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Request and response sizes in bytes: small for errors and 204s, lognormal bodies otherwise."""
    n = len(outcome)
    failed = np.isin(outcome, list(ERROR_OF))
    body = np.round(np.exp(7.4 + 0.8 * rng.standard_normal(n))).astype(np.int64)
    response_size = np.select(
        [response == 204, outcome == Outcome.APP_ERROR, failed, outcome == Outcome.NOT_FOUND],
        [rng.integers(250, 320, n), rng.integers(380, 520, n), rng.integers(180, 240, n), rng.integers(300, 420, n)],
        default=body + 300,
    )
    has_body = np.isin(method, ["POST", "PUT", "PATCH"])
    request_body = np.where(has_body, np.round(np.exp(7.0 + 0.6 * rng.standard_normal(n))), 0).astype(np.int64)
    return {"ResponseSize": response_size, "RequestSize": rng.integers(520, 900, n) + request_body}


def _destination_columns(
    draw: DestinationDraw, scenario: Scenario, callers: tuple[Caller, ...], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Row values of one destination, unsorted, as plain arrays (``-1`` standing for null numbers)."""
    calls, out, dest = draw.calls, draw.outcomes, draw.destination
    ops, outcome, n = dest.operations, draw.outcomes.outcome, len(draw.calls)
    backend = ~np.isnan(out.backend_ms)

    def per_op(values: list[object]) -> np.ndarray:
        return np.array(values, dtype=object)[calls.operation]

    def per_caller(values: list[str]) -> np.ndarray:
        return np.array(values, dtype=object)[calls.caller]

    method = per_op([op.method for op in ops])
    success = per_op([SUCCESS_CODE_BY_METHOD.get(op.method, 200) for op in ops]).astype(np.int32)
    response = np.select(
        [
            outcome == Outcome.NOT_FOUND,
            outcome == Outcome.APP_ERROR,
            outcome == Outcome.CLIENT_FAILURE,
            np.isin(outcome, list(ERROR_OF)),
        ],
        [404, out.app_status, 0, 500],
        default=success,
    ).astype(np.int32)
    answered = np.isin(outcome, [Outcome.OK, Outcome.NOT_FOUND, Outcome.APP_ERROR])
    times = _timings(out, rng)
    errors = _error_columns(out, times["overhead"])
    sizes = _sizes(outcome, response, method, rng)
    url, backend_url = _urls(draw, scenario, rng)
    cache = np.where(
        outcome == Outcome.CACHE_HIT, "hit", np.where((dest.cache_hit_share > 0) & (method == "GET"), "miss", "none")
    )
    return {
        "_t": calls.minute * MICROS_PER_MINUTE + calls.offset_us,
        "ApiId": per_op([op.api_id for op in ops]),
        "OperationId": per_op([op.operation_id for op in ops]),
        "ApimSubscriptionId": per_caller([c.subscription for c in callers]),
        "CallerIpAddress": per_caller([c.ip for c in callers]),
        "ProductId": per_caller([c.product for c in callers]),
        "Method": method,
        "BackendMethod": np.where(backend, method, ""),
        "BackendProtocol": np.where(backend, "HTTP/1.1", ""),
        "BackendId": np.full(n, dest.backend_id, dtype=object),
        "Url": url,
        "BackendUrl": backend_url,
        "ResponseCode": response,
        "BackendResponseCode": np.where(answered, response, -1),
        "BackendTime": np.where(backend, times["backend"], -1),
        "TotalTime": times["total"],
        "ClientTime": times["client"],
        "CacheTime": times["cache"],
        "Cache": cache,
        **sizes,
        **errors,
        "IsRequestSuccess": (response >= 200) & (response < 400),
        "Region": np.array([r.name for r in scenario.gateway_regions], dtype=object)[calls.region],
        "ClientProtocol": np.where(rng.random(n) < 0.3, "HTTP/2", "HTTP/1.1"),
        "ClientTlsVersion": np.where(rng.random(n) < 0.35, "1.3", "1.2"),
    }


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    """Version-4-shaped UUID strings drawn from ``rng``, so reruns repeat them."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexes = [row.tobytes().hex() for row in raw]
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes]


def build_rows(
    draws: list[DestinationDraw], scenario: Scenario, callers: tuple[Caller, ...], rng: np.random.Generator
) -> pd.DataFrame:
    """All rows of the scenario, sorted by ``TimeGenerated``, ingestion gaps removed."""
    parts = [_destination_columns(draw, scenario, callers, rng) for draw in draws]
    columns = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]} if parts else {}
    frame = pd.DataFrame(columns)
    if frame.empty:
        return conform(frame, GATEWAY_LOGS)
    frame = frame.sort_values("_t", kind="stable", ignore_index=True)
    minute = frame["_t"].to_numpy() // MICROS_PER_MINUTE
    frame = frame.loc[~np.isin(minute, scenario.noise.dropped_minutes)].reset_index(drop=True)

    n = len(frame)
    start = np.datetime64(pd.Timestamp(scenario.start).as_unit("us").to_datetime64(), "us")
    time = start + frame.pop("_t").to_numpy().astype("timedelta64[us]")
    for name in ("BackendResponseCode", "BackendTime", "LastErrorElapsed"):
        frame[name] = frame[name].where(frame[name] >= 0)
    frame["TimeGenerated"] = time
    frame["Timestamp"] = time
    frame["CorrelationId"] = _uuids(rng, n)
    frame["ApiRevision"] = "1"
    frame["Category"] = "GatewayLogs"
    frame["Type"] = GATEWAY_LOGS
    frame["OperationName"] = "Microsoft.ApiManagement/GatewayLogs"
    frame["SourceSystem"] = "Azure"
    frame["_ResourceId"] = resource_id(scenario)
    frame["_SubscriptionId"] = scenario.azure_subscription_id
    frame["TenantId"] = scenario.workspace_id
    frame["_IsBillable"] = "True"
    for flag in ("IsMasterTrace", "IsTraceAllowed", "IsTraceExpired", "IsTraceRequested"):
        frame[flag] = False
    billed = 900 + frame["Url"].str.len() + frame["BackendUrl"].str.len() + frame["Errors"].str.len()
    frame["_BilledSize"] = billed.astype("float64")
    return conform(frame, GATEWAY_LOGS)
