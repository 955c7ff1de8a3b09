"""The system under test and the bounded handling of its processes and requests."""
