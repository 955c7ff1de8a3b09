"""Prometheus and Grafana objects for the stack (`Monitoring`), all off by default.

- `scraping`: metrics Services and the ServiceMonitor   - `alerts`: the PrometheusRule
- `dashboard`: the Grafana dashboard's ConfigMap        - `queries`: the PromQL both share
"""

from components.monitoring.monitoring import Monitoring, MonitoringArgs

__all__ = ["Monitoring", "MonitoringArgs"]
