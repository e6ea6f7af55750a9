// The search page: a query with channel toggles and filters (kept in the URL), a grid of moments, a player, and
// keyboard navigation (arrows or j/k to move, Enter to play, Esc to close, / to search).

import { ApiError, getJson, withToken } from "./api.js";
import { setupAsk } from "./ask.js";
import { byId, clear, h, queryWords } from "./dom.js";
import { span } from "./format.js";
import { evidenceList, Player } from "./player.js";
import { setupTheme } from "./theme.js";

const CHANNELS = ["visual", "speech", "subtitles", "ocr"];
const FILTERS = ["root", "path", "min_duration_s", "max_duration_s"];
const PAGE_SIZE = 24;

const form = byId("search-form");
const input = byId("q");
const results = byId("results");
const status = byId("status");
const pager = byId("pager");
const layout = byId("search-layout");
const player = new Player(byId("player"), { onClose: () => layout.classList.remove("playing") });
let cards = [];
let selected = -1;
let words = [];

/** The search the URL describes: {q, channels: [..], root, path, min_duration_s, max_duration_s, page, page_size,
 * show_all}.
 * Channels may be a comma list or repeated (channels=speech&channels=ocr), as the API takes them. */
function stateFromUrl() {
  const params = new URLSearchParams(location.search);
  const channels = params.getAll("channels").flatMap((v) => v.split(",")).filter((c) => CHANNELS.includes(c));
  const pageSize = parseInt(params.get("page_size") || "", 10) || PAGE_SIZE;
  const state = { q: params.get("q") || "", channels: channels.length ? channels : CHANNELS,
    page: Math.max(1, parseInt(params.get("page") || "1", 10) || 1), page_size: Math.min(100, Math.max(1, pageSize)),
    show_all: params.get("show_all") === "true" };
  for (const name of FILTERS) state[name] = params.get(name) || "";
  return state;
}

function stateFromForm(page = 1) {
  const { page_size, show_all } = stateFromUrl();
  const state = { q: input.value.trim(), page, page_size, show_all,
    channels: CHANNELS.filter((c) => form.querySelector(`input[name=channel][value=${c}]`).checked) };
  for (const name of FILTERS) state[name] = byId(`filter-${name}`).value.trim();
  return state;
}

function showInForm(state) {
  input.value = state.q;
  for (const c of CHANNELS) form.querySelector(`input[name=channel][value=${c}]`).checked = state.channels.includes(c);
  for (const name of FILTERS) byId(`filter-${name}`).value = state[name];
  if (FILTERS.some((name) => state[name])) byId("filters").open = true;
}

function queryString(state, forApi) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.channels.length && state.channels.length < CHANNELS.length) params.set("channels", state.channels.join(","));
  for (const name of FILTERS) if (state[name]) params.set(name, state[name]);
  if (state.show_all) params.set("show_all", "true");
  if (state.page > 1) params.set("page", String(state.page));
  if (forApi || state.page_size !== PAGE_SIZE) params.set("page_size", String(state.page_size));
  return params.toString();
}

async function search(state) {
  words = queryWords(state.q);
  document.title = state.q ? `${state.q} — scenedex` : "scenedex — search";
  if (!state.q) {
    clear(results);
    clear(pager);
    cards = [];
    status.textContent = "Search the moments of your library: words said, subtitled or shown on screen, or what is seen.";
    return;
  }
  if (!state.channels.length) {
    status.textContent = "Pick at least one channel to search.";
    return;
  }
  status.textContent = "Searching…";
  status.classList.remove("error");
  try {
    const data = await getJson(`/api/search?${queryString(state, true)}`);
    render(state, data);
  } catch (error) {
    clear(results);
    clear(pager);
    cards = [];
    status.classList.add("error");
    status.textContent = error instanceof ApiError ? `Search failed: ${error.message}` : String(error);
  }
}

function render(state, data) {
  const moments = data.moments || [];
  const skipped = Object.entries(data.skipped || {}).map(([channel, why]) => `${channel} not searched: ${why}`);
  const found = data.total === 0 ? (data.below_cutoff ? "No confident moment for " : "No moments found for ")
    : `${data.total} moment${data.total === 1 ? "" : "s"} for `;
  clear(status).append(found, h("q", { class: "query-echo" }, state.q), ` · ${Math.round(data.took_ms)} ms`,
    cutoffNote(state, data), ...skipped.map((line) => h("span", { class: "skipped" }, line)));
  cards = moments.map((m) => card(m, data.media[String(m.media_id)]));
  clear(results).append(...cards);
  selected = -1;
  clear(pager);
  if (data.pages > 1) {
    const go = (page) => navigate({ ...state, page });
    pager.append(
      h("button", { type: "button", disabled: data.page <= 1, onclick: () => go(data.page - 1) }, "← Previous"),
      h("span", {}, `page ${data.page} of ${data.pages}`),
      h("button", { type: "button", disabled: data.page >= data.pages, onclick: () => go(data.page + 1) }, "Next →"));
  }
}

/** "N more below the cut-off — show them", or, when they are shown, where the cut-off lies and how to hide them. */
function cutoffNote(state, data) {
  if (!data.below_cutoff) return null;
  const n = data.below_cutoff;
  const more = `${n} more below the confidence cut-off`;
  if (data.show_all) {
    return h("span", { class: "cutoff-note" }, `including ${n} below the confidence cut-off (marked low) — `,
      h("button", { type: "button", class: "link-button", id: "hide-below-cutoff",
        onclick: () => navigate({ ...state, show_all: false, page: 1 }) }, "hide them"));
  }
  return h("span", { class: "cutoff-note" }, `${more} — `,
    h("button", { type: "button", class: "link-button", id: "show-below-cutoff",
      onclick: () => navigate({ ...state, show_all: true, page: 1 }) }, "show them"));
}

function card(moment, media) {
  const name = media ? media.name : `media ${moment.media_id}`;
  const item = { ...moment, name, path: media && media.path, duration_s: media && media.duration_s };
  const el = h("li", { class: moment.below_cutoff ? "moment below-cutoff" : "moment", tabindex: "0", role: "button",
    "aria-label": `${name}, ${span(moment.start_s, moment.end_s)}, ${moment.confidence} confidence`,
    dataset: { rank: moment.rank, mediaId: moment.media_id, startS: moment.start_s, endS: moment.end_s,
      confidence: moment.confidence } },
  h("div", { class: "thumb" },
    h("img", { src: withToken(`/api/media/${moment.media_id}/thumbnail?t_s=${moment.thumbnail_t_s}&width=320`),
      alt: "", loading: "lazy", decoding: "async" }),
    h("span", { class: "rank" }, `#${moment.rank}`),
    h("span", { class: "span-badge" }, span(moment.start_s, moment.end_s))),
  h("div", { class: "moment-body" },
    h("div", { class: "moment-head" },
      h("span", { class: "name", title: item.path || name }, name),
      h("span", { class: `confidence conf-${moment.confidence}`,
        title: `confidence score ${moment.score.toFixed(2)}${moment.below_cutoff ? " (below the cut-off)" : ""}` },
      moment.confidence),
      h("span", { class: "channel-dots" }, moment.channels.map((c) => h("span", { class: `dot ch-${c}`, title: c })))),
    evidenceList(moment.evidence.slice(0, 3), words)));
  el.addEventListener("click", () => play(cards.indexOf(el), item));
  el.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      play(cards.indexOf(el), item);
    }
  });
  el.moment = item;
  return el;
}

function play(index, moment) {
  select(index);
  layout.classList.add("playing");
  player.open(moment, words);
}

function select(index) {
  if (!cards.length) return;
  const next = Math.max(0, Math.min(cards.length - 1, index));
  cards.forEach((c, i) => {
    c.classList.toggle("selected", i === next);
    if (i === next) c.setAttribute("aria-current", "true");
    else c.removeAttribute("aria-current");
  });
  selected = next;
  cards[next].focus({ preventScroll: true });
  cards[next].scrollIntoView({ block: "nearest" });
}

function columns() {
  if (!cards.length) return 1;
  const top = cards[0].offsetTop;
  const perRow = cards.findIndex((c) => c.offsetTop !== top);
  return perRow === -1 ? cards.length : perRow;
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && player.isOpen && !document.querySelector("dialog[open]")) {
    player.close();
    if (selected >= 0) cards[selected].focus();
    return;
  }
  if (event.defaultPrevented) return;
  if (event.target === input && event.key === "ArrowDown" && cards.length) {
    event.preventDefault();
    select(0);
    return;
  }
  const typing = event.target.closest("input, textarea, select, video, dialog");
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const moves = { ArrowRight: 1, j: 1, ArrowLeft: -1, k: -1, ArrowDown: columns(), ArrowUp: -columns() };
  if (event.key in moves && cards.length) {
    event.preventDefault();
    select(selected < 0 ? 0 : selected + moves[event.key]);
  } else if (event.key === "Enter" && selected >= 0 && !event.target.closest("button, a")) {
    event.preventDefault();
    play(selected, cards[selected].moment);
  } else if (event.key === "/") {
    event.preventDefault();
    input.focus();
    input.select();
  }
});

function navigate(state) {
  const url = `/?${queryString(state, false)}`;
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
  search(state);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  navigate(stateFromForm());
});

window.addEventListener("popstate", () => {
  const state = stateFromUrl();
  showInForm(state);
  player.close();
  search(state);
});

setupTheme();
setupAsk({ player, onPlay: () => layout.classList.add("playing") });
const initial = stateFromUrl();
showInForm(initial);
search(initial);
if (!initial.q) input.focus();
