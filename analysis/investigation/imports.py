"""Keep a slow optional import out of the report's processes.

jsonschema (used by nbformat, papermill and the findings check) imports ``rfc3987_syntax`` when it
is installed, for its "iri" format checker; that module builds about forty parsers on import, 1 to 2
seconds of every report process (python-jsonschema issue #1428). Nothing the kit validates uses
that format, so the kit's processes skip the import; jsonschema then simply has no "iri" checker.
"""

from __future__ import annotations

import sys


def skip_iri_checker() -> None:
    """Call before jsonschema is first imported; once it is, this changes nothing."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
