import pytest


@pytest.fixture(autouse=True)
def _close_figures():
    """The got10k toolkit's report leaves its matplotlib figures open; close them after each test."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
