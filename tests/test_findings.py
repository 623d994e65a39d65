"""The findings document's fixed strings come from the enums, and reach JSON as plain strings."""

from __future__ import annotations

import json

from analysis import findings as findings_doc
from analysis.assessment import Classification
from analysis.investigation import investigate
from analysis.mitigations import MitigationId
from analysis.sources import open_source
from analysis.verdict import Outcome


def test_the_schema_allows_exactly_the_enum_values():
    schema = json.loads(findings_doc.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$defs"]["classification"]["enum"] == [c.value for c in Classification]
    assert schema["properties"]["verdict"]["enum"] == [o.value for o in Outcome]
    mitigation_ids = schema["properties"]["mitigations"]["items"]["properties"]["id"]["enum"]
    assert mitigation_ids == [m.value for m in MitigationId]


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
