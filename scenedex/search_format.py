"""Search results and evaluation reports as text a person reads in a terminal."""

from __future__ import annotations

import shutil
from pathlib import Path

from scenedex.search_service import SearchResponse
from search.cutoff_eval import CutoffReport
from search.library_eval import EvalQuery, EvalReport
from search.moments import Moment

METRIC_ORDER = ("R1@0.5", "R1@0.7", "R5@0.5", "R5@0.7", "mAP", "mAP@0.5", "mAP@0.75")


def hms(t_s: float) -> str:
    """Seconds as hh:mm:ss.s.

    >>> hms(3725.4)
    '01:02:05.4'
    """
    t_s = max(0.0, t_s)
    h, rest = divmod(t_s, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:04.1f}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _evidence_line(moment: Moment, width: int) -> list[str]:
    lines = []
    for e in moment.evidence[:3]:
        what = f'"{e.text}"' if e.text else f"frame {e.frame_id} at {hms(e.start_s)}"
        lines.append(_clip(f"{e.channel.value:<9} {what}", width))
    return lines


def _confidence(m: Moment) -> str:
    """'high 0.91', 'medium 0.42', 'low 0.07 (below the cut-off)'."""
    score = m.calibrated_score if m.calibrated_score is not None else 0.0
    label = f"{m.confidence or 'low':<6} {score:.2f}"
    return f"{label} (below the cut-off)" if m.below_cutoff else label


def results_text(response: SearchResponse) -> str:
    width = max(60, shutil.get_terminal_size((110, 20)).columns)
    out: list[str] = []
    page = response.moments if response.moments is not None else response.videos
    assert page is not None
    if page.total == 0:
        out.append("No moments found." if not response.below_cutoff else
                   "No moment above the confidence cut-off.")
    elif response.moments is not None:
        first = (page.page - 1) * page.page_size + 1
        for i, m in enumerate(response.moments.items, first):
            out += _moment_block(i, m, response, width)
    else:
        assert response.videos is not None
        first = (page.page - 1) * page.page_size + 1
        for i, v in enumerate(response.videos.items, first):
            media = response.media.get(v.media_id)
            out.append(f"{i:>3}. {media.path if media else v.media_id}   {_confidence(v.moments[0])}")
            for j, m in enumerate(v.moments, 1):
                out.append(f"     {hms(m.start_s)} – {hms(m.end_s)}   {_confidence(m)}")
                out += [f"        {line}" for line in _evidence_line(m, width - 8)]
    out.append("")
    searched = ", ".join(c.value for c in response.searched) or "nothing"
    out.append(f"{page.total} result(s), page {page.page} of {max(page.pages, 1)}; searched {searched} "
               f"in {response.took_ms:.0f} ms.")
    for channel, why in response.skipped.items():
        out.append(f"Not searched: {channel.value}: {why}")
    if response.below_cutoff and not response.request.show_all:
        out.append(f"{response.below_cutoff} more below the confidence cut-off: add --all to list them.")
    if page.has_next:
        out.append(f"More: add --page {page.page + 1}.")
    if page.total:
        out.append("Play one: add --open N (opens the player at the moment).")
    return "\n".join(out)


def _moment_block(i: int, m: Moment, response: SearchResponse, width: int) -> list[str]:
    media = response.media.get(m.media_id)
    name = media.path if media else str(m.media_id)
    head = f"{i:>3}. {hms(m.start_s)} – {hms(m.end_s)}  {_confidence(m)}  {name}"
    return [_clip(head, width)] + [f"       {line}" for line in _evidence_line(m, width - 7)]


def eval_text(report: EvalReport, queries: list[EvalQuery], cutoff: CutoffReport | None = None,
              show_misses: int = 10) -> str:
    rows = [("all", report.metrics)] + list(report.by_group.items())
    name_w = max(len(name) for name, _ in rows)
    out = [f"{'queries':<{name_w}}  {'n':>4}  " + "  ".join(f"{m:>8}" for m in METRIC_ORDER)]
    for name, metrics in rows:
        out.append(f"{name:<{name_w}}  {int(metrics['queries']):>4}  "
                   + "  ".join(f"{metrics[m]:>8.2f}" for m in METRIC_ORDER))
    misses = [(q, iou) for q, iou in zip(queries, report.top1_iou) if iou < 0.5]
    if misses and show_misses:
        out.append(f"\nTop result misses (IoU < 0.5) — {len(misses)} of {report.queries}:")
        for q, iou in misses[:show_misses]:
            out.append(f"  IoU {iou:.2f}  {Path(q.media).name} {hms(q.start_s)}–{hms(q.end_s)}  {q.query!r}")
    if cutoff is not None:
        out.append(f"\nConfidence cut-off: keeps {cutoff.right_kept} of {cutoff.right} right moments "
                   f"({100 * cutoff.kept_share:.1f} %; right: IoU ≥ 0.5 with the truth); returns "
                   f"{cutoff.returned_median:g} moments per query on median (90th percentile {cutoff.returned_p90:g}, "
                   f"most {cutoff.returned_max}).")
    out.append("\nR1/R5: share of queries whose first (first five) moments overlap the truth by IoU ≥ 0.5 or 0.7; "
               "mAP: mean average precision over IoU 0.5:0.05:0.95 (QVHighlights' definitions), in percent. "
               "Ranks are measured with the cut-off off (--all).")
    return "\n".join(out)
