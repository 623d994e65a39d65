"""The report: the notebook run with papermill into an out folder, and its self-contained HTML page."""
