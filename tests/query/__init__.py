"""Tests of the KQL pack, its literals and Kusto's own language service."""
