"""The geofence engine: pure geometry and rules, no web framework and no database."""
