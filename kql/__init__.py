"""The packaged KQL: installed as ``analysis.kql`` (see ``analysis.assets``)."""
