"""A source whose results come back with every credential masked (``analysis.safety.credentials``).

``open_source`` puts it right in front of the source that reads the rows (a file, a service),
so what is kept in the cache, shown or saved never holds a credential the logs quoted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.safety.credentials import scrub_frame
from analysis.sources.base import Request, Source, Wrapping


@dataclass
class Scrubbed(Wrapping):
    """``inner`` with every credential in its results masked."""

    inner: Source

    def run(self, kql: str) -> pd.DataFrame:
        return scrub_frame(self.inner.run(kql))

    def run_request(self, request: Request) -> pd.DataFrame:
        return scrub_frame(self.inner.run_request(request))
