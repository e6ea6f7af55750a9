// The ask box: streams an answer from GET /api/ask (server-sent events: moments, token…, done | error) and shows the
// moments it cites as chips that open the player at their start.

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

  const chip = (m) => h("button", { type: "button", class: "chip", dataset: { n: m.n },
    title: `play ${m.name} from ${span(m.start_s, m.end_s)}`, onclick: () => openMoment(m.n) },
  h("span", { class: "chip-n" }, `[${m.n}]`), h("span", { class: "chip-name" }, m.name),
  h("span", { class: "chip-span" }, span(m.start_s, m.end_s)));

  /** The final answer with each [n] it cites turned into a button that plays moment n. */
  const renderAnswer = (answer) => {
    clear(text);
    let last = 0;
    for (const match of answer.matchAll(/\[(\d+)\]/g)) {
      const n = Number(match[1]);
      if (!moments.some((m) => m.n === n)) continue;
      text.append(answer.slice(last, match.index),
        h("button", { type: "button", class: "cite", onclick: () => openMoment(n), title: "play this moment" }, `[${n}]`));
      last = match.index + match[0].length;
    }
    text.append(answer.slice(last));
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
      state.textContent = moments.length ? "Answering…" : "No moments match; answering without evidence…";
    });
    source.addEventListener("token", (event) => {
      received = true;
      text.append(JSON.parse(event.data).text);
    });
    source.addEventListener("done", (event) => {
      finished = true;
      source.close();
      const done = JSON.parse(event.data);
      renderAnswer(done.answer);
      const cited = new Set(done.cited || []);
      for (const c of chips.children) c.classList.toggle("cited", cited.has(Number(c.dataset.n)));
      note.textContent = done.model && done.model.note ? done.model.note : "";
      const t = done.timing || {};
      state.textContent = Number.isFinite(t.first_token_s)
        ? `first words after ${t.first_token_s.toFixed(1)} s · ${(t.tokens_per_s || 0).toFixed(1)} tokens/s` : "";
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
