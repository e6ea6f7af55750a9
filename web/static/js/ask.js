// The ask box: streams an answer from GET /api/ask (server-sent events: moments, token…, claim…, done | error).
// Only claims are shown: each sentence the server verified against the moment it cites (or the evidence line it
// quotes), with a time chip per cited span that plays it. The model's unchecked draft (token events) is never
// shown; sentences the server dropped are counted, and listed on request. A declined question says so and lists
// the nearest moments.

import { apiFetch, readError, token, withToken } from "./api.js";
import { byId, clear, h, queryWords } from "./dom.js";
import { span } from "./format.js";

export function setupAsk({ player, onPlay }) {
  const form = byId("ask-form");
  const input = byId("question");
  const box = byId("answer");
  const text = byId("answer-text");
  const chips = byId("answer-chips");
  const note = byId("answer-note");
  const state = byId("answer-state");
  let source = null;
  let moments = [];
  let words = [];

  const openMoment = (n) => {
    const m = moments.find((x) => x.n === n);
    if (!m) return;
    onPlay();
    player.open({ ...m, path: m.name }, words);
  };

  /** A cited span of moment n: the player opens on that file at the span. */
  const openSpan = (sp) => {
    const m = moments.find((x) => x.n === sp.n);
    if (!m) return;
    onPlay();
    player.open({ ...m, path: m.name, start_s: sp.start_s, end_s: sp.end_s }, words);
  };

  const chip = (m) => h("button", { type: "button", class: "chip", dataset: { n: m.n },
    title: `play ${m.name} from ${span(m.start_s, m.end_s)}`, onclick: () => openMoment(m.n) },
  h("span", { class: "chip-n" }, `[${m.n}]`), h("span", { class: "chip-name" }, m.name),
  h("span", { class: "chip-span" }, span(m.start_s, m.end_s)));

  /** A time chip: plays moment n from the cited span's start. */
  const timeChip = (sp) => h("button", { type: "button", class: "time-chip", dataset: { n: sp.n },
    title: `play ${sp.name} from ${span(sp.start_s, sp.end_s)}`, onclick: () => openSpan(sp) },
  `${sp.name} ${span(sp.start_s, sp.end_s)}`);

  /** One claim as a sentence with its time chips; a claim from the frames says it was not checked. */
  const renderClaim = (claim) => {
    const el = h("span", { class: `claim verdict-${claim.verdict}`, title: claim.verdict === "verified"
      ? `checked against the moment it cites (support ${claim.support.toFixed(2)})`
      : claim.verdict === "quoted" ? "quoted from the moment" : "not checked against the transcript" });
    const body = claim.text.replace(/[.!?]$/, "");
    const end = /[.!?]$/.test(claim.text) ? claim.text.slice(-1) : ".";
    el.append(body, " ");
    if (claim.verdict === "frames") {
      el.append(h("span", { class: "frames-note" },
        `[from the frames of ${claim.moments.map((n) => `[${n}]`).join(" ")}, not checked against the transcript] `));
    }
    for (const sp of claim.spans) el.append(timeChip(sp), " ");
    el.lastChild.remove();
    el.append(end, " ");
    text.append(el);
  };

  const renderDropped = (dropped) => {
    if (!dropped || !dropped.length) return;
    const list = h("ul", {}, ...dropped.map((d) => h("li", {}, `“${d.text}” — ${d.reason}`)));
    const details = h("details", { class: "dropped" },
      h("summary", {}, `${dropped.length} sentence${dropped.length === 1 ? "" : "s"} of the model's answer dropped (not supported by the moments)`),
      list);
    box.insertBefore(details, chips);
  };

  const renderDeclined = (done) => {
    clear(text);
    text.append(h("span", { class: "declined" }, "The library does not seem to contain the answer to this question."));
    if (done.nearest && done.nearest.length) {
      text.append(" The nearest moments: ");
      for (const sp of done.nearest) text.append(timeChip(sp), " ");
    }
  };

  const fail = (message) => {
    state.textContent = message;
    state.classList.add("error");
    box.classList.remove("streaming");
  };

  function ask(question, retried = false) {
    if (source) source.close();
    words = queryWords(question);
    moments = [];
    clear(text);
    clear(chips);
    for (const old of box.querySelectorAll("details.dropped")) old.remove();
    note.textContent = "";
    state.textContent = "Finding moments…";
    state.classList.remove("error");
    box.hidden = false;
    box.classList.add("streaming");
    const url = `/api/ask?q=${encodeURIComponent(question)}`;
    const tokenBefore = token();
    let received = false;
    let finished = false;
    source = new EventSource(withToken(url));
    source.addEventListener("moments", (event) => {
      received = true;
      moments = JSON.parse(event.data).moments || [];
      chips.append(...moments.map(chip));
      state.textContent = "Answering and checking each sentence against the moments…";
    });
    source.addEventListener("token", () => { // the unchecked draft: never shown
      received = true;
    });
    source.addEventListener("claim", (event) => {
      received = true;
      renderClaim(JSON.parse(event.data));
    });
    source.addEventListener("done", (event) => {
      finished = true;
      source.close();
      const done = JSON.parse(event.data);
      if (done.declined) renderDeclined(done);
      else if (!text.childNodes.length) for (const claim of done.claims || []) renderClaim(claim);
      renderDropped(done.dropped_claims);
      const cited = new Set(done.cited || []);
      for (const c of chips.children) c.classList.toggle("cited", cited.has(Number(c.dataset.n)));
      note.textContent = done.model && done.model.note ? done.model.note : "";
      const t = done.timing || {};
      state.textContent = Number.isFinite(t.first_words_s)
        ? `first words after ${t.first_words_s.toFixed(1)} s` + (t.tokens_per_s ? ` · ${t.tokens_per_s.toFixed(1)} tokens/s` : "") : "";
      box.classList.remove("streaming");
    });
    source.addEventListener("error", async (event) => {
      source.close();
      if (finished) return;
      if (event.data) { // an `event: error` the server sent mid-stream
        const body = JSON.parse(event.data);
        fail(`The answer failed: ${body.error ? body.error.message : event.data}`);
        return;
      }
      if (received) {
        fail("The connection to the server was lost while answering. Ask again.");
        return;
      }
      // EventSource cannot read a 4xx body: ask the same URL once with fetch to show the reason.
      const controller = new AbortController();
      try {
        const response = await apiFetch(url, { signal: controller.signal });
        if (!response.ok) {
          fail(`Can't answer: ${(await readError(response)).message}`);
          return;
        }
        controller.abort();
        if (token() !== tokenBefore && !retried) ask(question, true);
        else fail("The answer stream could not be opened. Ask again.");
      } catch (error) {
        fail(`Can't answer: ${error.message}`);
      }
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (question) ask(question);
  });
}
