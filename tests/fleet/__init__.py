"""Tests of fleet files and batch runs."""
