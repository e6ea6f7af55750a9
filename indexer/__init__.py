"""Media in, arrays out: probing, frame sampling, shots, encoders and feature files.

Nothing here imports SQLAlchemy, Celery or the settings object.
"""
