"""The HTTP API: thin routers, their pydantic schemas, dependencies and problem rendering."""
