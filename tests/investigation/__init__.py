"""Tests of one investigation and its findings document."""
