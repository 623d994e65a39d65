"""Tests of the incident generator's physics."""
