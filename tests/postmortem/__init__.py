"""Tests of the postmortem's words, tables and figures."""
