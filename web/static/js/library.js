// The library page: every file with its status, duration, channels and problems, and ingest jobs with progress.
// Polls /api/library every 2 s while a file is pending or a job is running.

import { ApiError, getJson } from "./api.js";
import { byId, clear, h } from "./dom.js";
import { duration, percent, when } from "./format.js";
import { setupTheme } from "./theme.js";

const POLL_MS = 2000;
const CHANNELS = ["frames", "speech", "subtitles", "ocr"];
const FINISHED_JOB_STATES = new Set(["done", "failed", "cancelled", "canceled", "finished", "succeeded", "success",
  "failure", "revoked", "interrupted"]);

const rows = byId("library-rows");
const summary = byId("library-summary");
const status = byId("status");
const jobs = byId("jobs");
const jobList = byId("job-list");
const filter = byId("library-filter");
const statusFilter = byId("library-status");
let timer = null;
let media = [];

function badge(value, kind = value) {
  return h("span", { class: `badge st-${kind}` }, value);
}

function channelCell(file) {
  return h("div", { class: "channel-badges" }, CHANNELS.map((name) => {
    const state = file.channels[name];
    const problem = file.channel_problems && file.channel_problems[name];
    const title = problem ? `${name} failed: ${problem.reason || "unknown reason"}${problem.hint ? ` — ${problem.hint}` : ""}`
      : `${name}: ${state || "not run"}`;
    return h("span", { class: `channel st-${state || "none"}`, title, dataset: { channel: name } }, name);
  }));
}

function problemLines(file) {
  const lines = [];
  if (file.error_reason) {
    lines.push(h("div", { class: "problem" }, h("span", { class: "label" }, "why"), file.error_reason));
    if (file.error_hint) lines.push(h("div", { class: "hint" }, h("span", { class: "label" }, "what to do"), file.error_hint));
  }
  for (const [name, problem] of Object.entries(file.channel_problems || {})) {
    lines.push(h("div", { class: "problem" }, h("span", { class: "label" }, `${name} failed`), problem.reason || "",
      problem.hint ? h("span", { class: "inline-hint" }, ` — ${problem.hint}`) : ""));
  }
  return lines;
}

function row(file) {
  return h("tr", { class: `file st-${file.status}`, dataset: { mediaId: file.id, status: file.status } },
    h("td", { class: "file-cell" },
      file.status === "indexed"
        ? h("a", { class: "name", href: `/watch/${file.id}`, title: file.path }, file.name)
        : h("span", { class: "name", title: file.path }, file.name),
      h("div", { class: "path muted" }, file.path),
      problemLines(file)),
    h("td", {}, badge(file.status)),
    h("td", { class: "num" }, duration(file.duration_s)),
    h("td", {}, channelCell(file)),
    h("td", { class: "muted" }, when(file.indexed_at)));
}

function renderRows() {
  const needle = filter.value.trim().toLowerCase();
  const shown = needle ? media.filter((f) => f.path.toLowerCase().includes(needle) || f.status === needle) : media;
  clear(rows).append(...shown.map(row));
  if (!shown.length) {
    rows.append(h("tr", {}, h("td", { colspan: "5", class: "empty" },
      media.length ? "No file matches the filter." : "Nothing indexed yet: run `scenedex index FOLDER`.")));
  }
}

function renderJobs(list) {
  jobs.hidden = list.length === 0;
  clear(jobList).append(...list.map((job) => {
    const fraction = job.total ? (job.done + job.failed) / job.total : 0;
    return h("li", { class: `job st-${job.state}`, dataset: { jobId: job.id } },
      h("div", { class: "job-head" },
        h("span", { class: "job-title" }, `Job ${job.id}`), badge(job.state),
        h("span", { class: "muted" }, `${job.done} of ${job.total} files done${job.failed ? ` · ${job.failed} failed` : ""}`)),
      h("progress", { max: "1", value: String(fraction), "aria-label": `job ${job.id} progress` }),
      h("ul", { class: "running" }, (job.running || []).map((file) => h("li", {},
        h("span", { class: "name" }, file.name),
        h("progress", { max: "1", value: String(file.fraction), "aria-label": `${file.name} progress` }),
        h("span", { class: "num" }, percent(file.fraction))))));
  }));
}

async function load() {
  clearTimeout(timer);
  const params = new URLSearchParams();
  if (statusFilter.value) params.set("status", statusFilter.value);
  try {
    const data = await getJson(`/api/library?${params}`);
    media = data.media;
    const counts = data.counts || {};
    const parts = ["indexed", "pending", "failed", "skipped"].filter((s) => counts[s])
      .map((s) => h("span", { class: `count st-${s}` }, `${counts[s]} ${s}`));
    const files = Object.values(counts).reduce((a, b) => a + b, 0);
    clear(summary).append(`${files} file${files === 1 ? "" : "s"}`, ...parts);
    if (data.total > media.length) summary.append(h("span", { class: "muted" }, `showing the first ${media.length}`));
    renderRows();
    renderJobs(data.jobs || []);
    status.textContent = "";
    status.classList.remove("error");
    const busy = (counts.pending || 0) > 0 || (data.jobs || []).some((j) => !FINISHED_JOB_STATES.has(j.state));
    document.body.classList.toggle("polling", busy);
    if (busy) timer = setTimeout(load, POLL_MS);
  } catch (error) {
    status.classList.add("error");
    status.textContent = error instanceof ApiError ? `The library could not be read: ${error.message}` : String(error);
  }
}

setupTheme();
filter.addEventListener("input", renderRows);
statusFilter.addEventListener("change", load);
load();
