"""The report and explorer notebooks: installed as ``analysis.notebooks`` (see ``analysis.assets``)."""
