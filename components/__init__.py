"""The Pulumi program's rooms, imported one way: config -> kube -> platform, build, data, app,
network -> __main__.py (ARCHITECTURE.md)."""
