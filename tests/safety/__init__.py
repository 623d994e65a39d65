"""Tests of bounded reads and masked credentials."""
