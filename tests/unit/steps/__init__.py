"""Each step of the pipeline on in-memory fakes (tests/fakes.py), one module per state."""
