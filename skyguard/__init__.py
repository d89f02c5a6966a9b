"""skyguard: drone no-fly-zone geofence alerting."""

__version__ = "0.1.0"
