"""Tests of the diagnosis' pure functions on built frames."""
