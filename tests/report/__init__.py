"""Tests of the notebook run, the out folder and the HTML page."""
