"""Media in, arrays out: probing, frame sampling and shots, vision encoders (CLIP/SigLIP) and pooled features,
speech (faster-whisper), subtitles (sidecar and embedded), on-screen text (PP-OCR), text chunks and their sentence
vectors, feature files, and the packaged model files with their sha256 checks.

Nothing here imports SQLAlchemy, Celery or the settings object.
"""
