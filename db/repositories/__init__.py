"""Repositories: functions that take a session, read or write rows, and never commit."""
