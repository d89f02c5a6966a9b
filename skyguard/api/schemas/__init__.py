"""Pydantic models of the API's bodies: the edge, and nowhere else."""
