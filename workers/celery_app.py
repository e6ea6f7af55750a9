"""The Celery application: queues, routing and delivery guarantees. No result backend: progress lives in Postgres.

Queues: ``cpu`` (probe, on-screen text, subtitles, speech, the final write; on-screen text read again alone),
``gpu`` (frame sampling and the vision encoder, when a vision model is configured; else frames go to ``cpu``),
``index`` (the one task that writes the FAISS indexes: give it to a single worker process). Tasks are
acknowledged after they finish (``acks_late``) and handed back when their worker dies, so a crash loses no work;
each worker takes one task at a time.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

QUEUES = ("cpu", "gpu", "index")
TASK_PROBE = "indexer.probe_file"
TASK_FRAMES = "indexer.encode_frames"
TASK_TEXT = "indexer.read_text"
TASK_OCR = "indexer.read_screen_text_again"
TASK_SYNC = "index.sync_vectors"


def make_app(broker_url: str, visibility_timeout_s: float = 7200.0) -> Celery:
    app = Celery("scenedex", broker=broker_url)
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        task_routes={TASK_PROBE: {"queue": "cpu"}, TASK_TEXT: {"queue": "cpu"}, TASK_OCR: {"queue": "cpu"},
                     TASK_SYNC: {"queue": "index"}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a broker that goes away is waited for, not given up on
        broker_transport_options={"visibility_timeout": visibility_timeout_s},
        worker_hijack_root_logger=False,
        worker_send_task_events=True,  # for Flower
        task_send_sent_event=True,
    )
    return app
