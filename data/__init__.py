"""The embedded sample incident: installed as ``analysis.data`` (see ``analysis.assets``)."""
