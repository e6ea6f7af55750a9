// Light, dark, or whatever the system prefers; the choice is kept in localStorage.

const KEY = "scenedex.theme";
const NEXT = { auto: "light", light: "dark", dark: "auto" };
const LABEL = { auto: "Theme: system", light: "Theme: light", dark: "Theme: dark" };

function apply(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme-toggle");
  if (button) {
    button.dataset.mode = theme;
    button.title = `${LABEL[theme]} (click to change)`;
    button.setAttribute("aria-label", LABEL[theme]);
  }
}

export function setupTheme() {
  let theme = localStorage.getItem(KEY) || "auto";
  if (!(theme in NEXT)) theme = "auto";
  apply(theme);
  document.getElementById("theme-toggle")?.addEventListener("click", () => {
    theme = NEXT[theme];
    localStorage.setItem(KEY, theme);
    apply(theme);
  });
}
