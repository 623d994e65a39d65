"""The findings document's fixed strings come from the enums, and reach JSON as plain strings."""

from __future__ import annotations

import json

from analysis.diagnosis.assessment import CheckOutcome, Classification, PoolState
from analysis.diagnosis.mitigations import MitigationId
from analysis.diagnosis.pools import PoolKind
from analysis.diagnosis.verdict import Outcome
from analysis.investigation import findings as findings_doc
from analysis.investigation.run import investigate
from analysis.sources import open_source
from analysis.sources.local import open_local


def test_the_schema_allows_exactly_the_enum_values():
    schema = json.loads(findings_doc.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$defs"]["classification"]["enum"] == [c.value for c in Classification]
    assert schema["properties"]["verdict"]["enum"] == [o.value for o in Outcome]
    mitigation_ids = schema["properties"]["mitigations"]["items"]["properties"]["id"]["enum"]
    assert mitigation_ids == [m.value for m in MitigationId]
    pool = schema["properties"]["pools"]["items"]["properties"]
    assert pool["kind"]["enum"] == [k.value for k in PoolKind]
    assert pool["state"]["enum"] == [s.value for s in PoolState]
    assert schema["$defs"]["check"]["properties"]["outcome"]["enum"] == [o.value for o in CheckOutcome]


def test_enums_reach_the_document_as_plain_strings():
    document = investigate(open_source("sample")).findings
    texts = [
        document["verdict"],
        *(d["classification"] for d in document["destinations"]),
        *(e["classification"] for e in document["timeline"]),
        *(m["id"] for m in document["mitigations"]),
    ]
    assert texts and all(type(text) is str for text in texts)
    assert json.loads(findings_doc.dumps(document)) == document


def test_logs_that_cannot_tell_give_a_valid_document_naming_what_is_missing(scenario_export):
    document = investigate(open_local(scenario_export("three_columns_export"))).findings
    findings_doc.validate(document)
    assert document["verdict"] == "insufficient_data" and document["missing"]
    assert {d["classification"] for d in document["destinations"]} == {"unknown"}
    assert {"LastErrorReason", "BackendTime"} <= set(document["absent_columns"])


def test_every_destination_names_its_region_and_pool_and_the_pools_their_members():
    document = investigate(open_source("sample")).findings
    pools = {p["id"]: p for p in document["pools"]}
    for entry in document["destinations"]:
        assert entry["region"] == "West Europe"
        if entry["pool"] is not None:
            assert entry["destination"] in [m["destination"] for m in pools[entry["pool"]]["members"]]
    (exhausted,) = [p for p in document["pools"] if p["state"] == "exhausted"]
    assert exhausted["peak_demand_low"] < exhausted["capacity_low"] < exhausted["peak_demand_high"]
    assert document["impact"]["exhausted_destinations"] == 1 and document["impact"]["recovered"]
