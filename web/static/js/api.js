// Talking to the scenedex API: the access token (asked for once, kept in sessionStorage), JSON errors as ApiError.

import { h } from "./dom.js";

const TOKEN_KEY = "scenedex.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** Media, thumbnail and EventSource URLs cannot send headers: the token goes in the query string. */
export function withToken(url) {
  const t = token();
  if (!t) return url;
  const u = new URL(url, location.origin);
  u.searchParams.set("token", t);
  return u.pathname + u.search + u.hash;
}

/** The API's {"error": {"code", "message"}} as an ApiError (or the status line when the body is not that). */
export async function readError(response) {
  let code = "http_error";
  let message = `the server answered ${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}

/** fetch() with the token; a 401 asks the person for a token and tries again with it. */
export async function apiFetch(url, options = {}) {
  for (;;) {
    const headers = { ...(options.headers || {}) };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    let response;
    try {
      response = await fetch(url, { ...options, headers });
    } catch {
      throw new ApiError(0, "unreachable", "the scenedex server cannot be reached: is `scenedex serve` still running?");
    }
    if (response.status !== 401) return response;
    const refused = Boolean(token());
    await askForToken(refused ? "That token was refused. Check it and try again."
      : "This library is protected by an access token.");
  }
}

export async function getJson(url, options = {}) {
  const response = await apiFetch(url, options);
  if (!response.ok) throw await readError(response);
  return response.json();
}

let pending = null;

/** Show the token dialog; resolves once a token is entered (shared by every request waiting on a 401). */
export function askForToken(reason) {
  if (pending) return pending;
  pending = new Promise((resolve, reject) => {
    const input = h("input", { id: "token-input", type: "password", autocomplete: "current-password",
      required: true, placeholder: "access token", "aria-label": "access token" });
    const dialog = h("dialog", { id: "token-dialog", class: "token-dialog", "aria-labelledby": "token-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "token-title" }, "Access token needed"),
        h("p", { id: "token-reason" }, reason),
        h("p", { class: "muted" }, "It is the SCENEDEX_API_TOKEN the server was started with. It is kept for this tab only."),
        input,
        h("div", { class: "dialog-actions" },
          h("button", { type: "submit", class: "primary" }, "Use this token"))));
    const finish = (ok) => {
      dialog.close();
      dialog.remove();
      pending = null;
      if (ok) resolve();
      else reject(new ApiError(401, "unauthorized", "an access token is needed to see this library"));
    };
    dialog.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      finish(true);
    });
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return pending;
}
