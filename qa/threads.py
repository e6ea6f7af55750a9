"""OpenMP threads that wait quietly. An answer runs two torch models at once on the CPU: the answer model
generating on its worker thread (``qa.background``) and the sentence model scoring evidence and claims on the
reader's thread. Each torch call is a team of OpenMP threads, and libgomp's threads spin while they wait for
the next piece of work (OMP_WAIT_POLICY unset: active for a while). Two teams spinning against each other, and
against the other processes of a loaded 2-core machine, stall each other: on this machine (load 13-20) the
sentence model took 2-4 s to embed 15 short lines with 2 spinning threads, 0.15-0.3 s with passive ones, and
0.5-0.9 s on one thread (``bench/answers_profile.py``, README "Answer quality").

libgomp reads the policy once, when torch's library is loaded, so it has to be in the environment before the
first ``import torch``; a policy the user set is kept.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_openmp() -> bool:
    """Make OpenMP threads sleep while they wait, unless the user chose a policy; True when it takes effect
    (torch is not loaded yet, or was loaded with the passive policy already)."""
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")
    return "torch" not in sys.modules or os.environ[WAIT_POLICY].upper() == "PASSIVE"
