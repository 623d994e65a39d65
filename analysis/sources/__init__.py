"""Where query results come from: local exports (duckdb-kql) or Azure."""
