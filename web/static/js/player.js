// The player: a <video> on /api/media/{id}/file that starts at a moment's start, with the moment's span drawn on
// a timeline bar under it, and a readable reason when the file cannot play.

import { apiFetch, readError, withToken } from "./api.js";
import { clear, h, highlighted } from "./dom.js";
import { clock, span } from "./format.js";

const CHANNEL_LABEL = { speech: "said", subtitles: "subtitle", ocr: "on screen", visual: "looks like" };

/** The evidence of a moment: channel, time, text with the query's words marked; onSeek makes each line a jump. */
export function evidenceList(evidence, words, onSeek = null) {
  return h("ul", { class: onSeek ? "evidence seekable" : "evidence" }, evidence.map((e) => h("li", {
    class: `evidence-item ch-${e.channel}`,
    tabindex: onSeek ? "0" : null,
    title: onSeek ? `play from ${clock(e.start_s)}` : null,
    onclick: onSeek ? () => onSeek(e.start_s) : null,
    onkeydown: onSeek ? (event) => { if (event.key === "Enter") { event.stopPropagation(); onSeek(e.start_s); } } : null,
  },
  h("span", { class: "ch", title: e.channel }, CHANNEL_LABEL[e.channel] || e.channel),
  h("span", { class: "t" }, clock(e.start_s)),
  h("span", { class: "line" }, e.text ? highlighted(e.text, words) : "a frame that matches the query"))));
}

export class Player {
  /** root: an element holding #player-title, #player-span, video, .timeline, .timeline-span, .timeline-head. */
  constructor(root, { onClose = () => {} } = {}) {
    this.root = root;
    this.video = root.querySelector("video");
    this.title = root.querySelector(".player-title");
    this.spanLabel = root.querySelector(".player-span");
    this.timeline = root.querySelector(".timeline");
    this.highlight = root.querySelector(".timeline-span");
    this.head = root.querySelector(".timeline-head");
    this.error = root.querySelector(".player-error");
    this.details = root.querySelector(".player-details");
    this.link = root.querySelector(".player-link");
    this.onClose = onClose;
    this.moment = null;
    this.mediaId = null;
    this.video.addEventListener("loadedmetadata", () => this.seekToStart());
    this.video.addEventListener("timeupdate", () => this.drawHead());
    this.video.addEventListener("durationchange", () => this.drawSpan());
    this.video.addEventListener("error", () => this.explainError());
    this.timeline.addEventListener("click", (event) => this.seekToClick(event));
    root.querySelector(".player-close")?.addEventListener("click", () => this.close());
  }

  get isOpen() {
    return !this.root.hidden;
  }

  /** moment: {media_id, name, path, start_s, end_s, duration_s?, evidence?}; words: query words to highlight. */
  open(moment, words = []) {
    this.moment = moment;
    this.root.hidden = false;
    this.error.hidden = true;
    this.title.textContent = moment.name;
    this.title.title = moment.path || moment.name;
    this.spanLabel.textContent = moment.end_s > moment.start_s ? span(moment.start_s, moment.end_s)
      : `from ${clock(moment.start_s)}`;
    if (this.link) this.link.href = `/watch/${moment.media_id}?t=${moment.start_s}&end=${moment.end_s}`;
    if (this.details) {
      clear(this.details).append(evidenceList(moment.evidence || [], words, (t_s) => this.seek(t_s)));
    }
    this.drawSpan();
    if (this.mediaId === moment.media_id && this.video.readyState >= 1) {
      this.seekToStart();
    } else {
      this.mediaId = moment.media_id;
      this.video.src = withToken(`/api/media/${moment.media_id}/file`);
    }
  }

  /** Jump to a time in the current file (the cited chips of an answer use it). */
  seek(t_s) {
    if (this.video.readyState >= 1) {
      this.video.currentTime = t_s;
      this.video.play().catch(() => {});
    }
  }

  close() {
    if (!this.isOpen) return;
    this.video.pause();
    this.root.hidden = true;
    this.onClose();
  }

  durationS() {
    return Number.isFinite(this.video.duration) && this.video.duration > 0 ? this.video.duration
      : (this.moment && this.moment.duration_s) || null;
  }

  seekToStart() {
    if (!this.moment) return;
    this.video.currentTime = this.moment.start_s;
    this.drawSpan();
    this.video.play().catch(() => {}); // a browser may refuse to start playing by itself; the controls still work
  }

  drawSpan() {
    const total = this.durationS();
    if (!this.moment || !total) {
      this.highlight.style.width = "0";
      return;
    }
    const left = Math.min(1, this.moment.start_s / total);
    const width = Math.min(1 - left, (this.moment.end_s - this.moment.start_s) / total);
    this.highlight.style.left = `${(left * 100).toFixed(3)}%`;
    this.highlight.style.width = `${(width * 100).toFixed(3)}%`;
    this.highlight.title = span(this.moment.start_s, this.moment.end_s);
    this.drawHead();
  }

  drawHead() {
    const total = this.durationS();
    if (!total) return;
    this.head.style.left = `${((Math.min(this.video.currentTime, total) / total) * 100).toFixed(3)}%`;
    this.timeline.setAttribute("aria-valuenow", this.video.currentTime.toFixed(1));
    this.timeline.setAttribute("aria-valuetext", clock(this.video.currentTime));
  }

  seekToClick(event) {
    const total = this.durationS();
    if (!total) return;
    const box = this.timeline.getBoundingClientRect();
    this.seek(((event.clientX - box.left) / box.width) * total);
  }

  /** The <video> says only "error": ask the server what it says about the file, or blame the format. */
  async explainError() {
    if (!this.mediaId) return;
    const url = `/api/media/${this.mediaId}/file`;
    let message;
    try {
      const response = await apiFetch(url, { headers: { Range: "bytes=0-1" } });
      if (!response.ok) {
        const problem = await readError(response);
        message = `This video can't play (HTTP ${problem.status}): ${problem.message}.`;
        if (problem.status === 416) message += " The file on disk is shorter than when it was indexed: run `scenedex index` again.";
      } else {
        const type = response.headers.get("content-type") || "this format";
        message = `This video can't play in this browser (${type}). Its moments are still searchable; open the file in a desktop player.`;
      }
    } catch (error) {
      message = `This video can't play: ${error.message}.`;
    }
    this.error.textContent = message;
    this.error.hidden = false;
  }
}
