"""The interactive explorer for JupyterLab: widgets over the same investigation."""
