"""Grounded answers: claims tied to the moments they rest on, checked against those moments' text; an extractive
answer that only quotes; declining when nothing retrieved answers the question."""

from qa.grounding.claims import Citation, Claim, GroundedAnswer, Verdict
from qa.grounding.verify import Verifier, VerifierThresholds

__all__ = ["Citation", "Claim", "GroundedAnswer", "Verdict", "Verifier", "VerifierThresholds"]
