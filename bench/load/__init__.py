"""Load generators: wrk for throughput and latency, client threads for the drills."""
