// The 404 page names the address that was asked for, decoded and shown as text.
import { setupTheme } from "./theme.js";

setupTheme();
const where = document.getElementById("missing-path");
if (where) {
  const asked = location.pathname + location.search;
  try {
    where.textContent = decodeURIComponent(asked);
  } catch {
    where.textContent = asked;
  }
}
