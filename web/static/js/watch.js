// /watch/{id}?t=START&end=END: one file in the player, from a time; says so when the file does not exist.

import { ApiError, getJson } from "./api.js";
import { byId, clear, h } from "./dom.js";
import { duration } from "./format.js";
import { Player } from "./player.js";
import { setupTheme } from "./theme.js";

const status = byId("status");
const facts = byId("media-facts");

async function show() {
  const raw = decodeURIComponent(location.pathname.split("/").pop() || "");
  const params = new URLSearchParams(location.search);
  const mediaId = Number(raw);
  if (!/^\d+$/.test(raw)) {
    fail(`“${raw}” is not a media id: links to a file look like /watch/12.`);
    return;
  }
  try {
    const media = await getJson(`/api/media/${mediaId}`);
    document.title = `${media.name} — scenedex`;
    const start_s = Math.max(0, parseFloat(params.get("t") || "0") || 0);
    const end_s = Math.max(start_s, parseFloat(params.get("end") || "") || start_s);
    const player = new Player(byId("player"));
    player.open({ media_id: media.id, name: media.name, path: media.path, start_s, end_s,
      duration_s: media.duration_s, evidence: [] });
    const channels = Object.entries(media.channels).map(([name, state]) => `${name} ${state}`).join(" · ");
    clear(facts).append(
      h("dt", {}, "path"), h("dd", {}, media.path),
      h("dt", {}, "duration"), h("dd", {}, duration(media.duration_s)),
      h("dt", {}, "picture"), h("dd", {}, media.width ? `${media.width}×${media.height}` : "none (audio only)"),
      h("dt", {}, "status"), h("dd", {}, media.status),
      h("dt", {}, "channels"), h("dd", {}, channels || "none"),
      h("dt", {}, "shots"), h("dd", {}, String(media.shots)));
    facts.hidden = false;
    status.textContent = "";
  } catch (error) {
    fail(error instanceof ApiError && error.status === 404
      ? `There is no media ${mediaId} in this library: it may have been removed from disk and from the index.`
      : `This file cannot be shown: ${error.message}`);
  }
}

function fail(message) {
  byId("player").hidden = true;
  status.classList.add("error", "panel");
  clear(status).append(h("span", {}, message), " ", h("a", { href: "/" }, "Search the library"), " or ",
    h("a", { href: "/library" }, "see every indexed file"), ".");
}

setupTheme();
show();
