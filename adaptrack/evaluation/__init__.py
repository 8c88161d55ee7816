"""See the package docstring of adaptrack."""
