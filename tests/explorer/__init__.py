"""Tests of the interactive explorer."""
