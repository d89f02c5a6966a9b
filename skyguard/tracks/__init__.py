"""Flights, launch points and track history: what a drone did, and where its pilot stood."""
