"""One investigation: a source's results for a window, diagnosed, and the findings document."""
