"""The eibench command line."""
