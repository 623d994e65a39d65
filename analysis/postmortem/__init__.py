"""The postmortem's words, tables and figures, from the findings document alone."""
