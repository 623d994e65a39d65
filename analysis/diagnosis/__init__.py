"""The diagnosis: pure functions over small frames, from the minutes of each destination to a verdict.

Nothing here reads a file or a service; the investigation hands it frames."""
