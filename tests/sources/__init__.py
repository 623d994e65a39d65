"""Tests of each source and its wrappers, through the real SDK clients against local wire-format answers."""
