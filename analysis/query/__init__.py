"""The KQL pack: packaged queries with typed parameters, rendered as typed literals for each logging mode."""
