"""Throwaway credentials: written to the service's secrets dir, sent by every client."""

API_KEY = "bench-key-" + "k" * 32
AUTHORIZATION = f"Bearer {API_KEY}"
