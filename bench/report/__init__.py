"""The run's outputs besides results.json: results.md and the PNG plots."""
