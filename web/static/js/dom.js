// Building DOM safely: every piece of data becomes a text node (textContent), never parsed HTML.

/** h("a", {href: "/x", class: "link"}, "text", child) -> element. Props: class, dataset, on<Event>, attributes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no element #${id}`);
  return el;
}

const STOP_WORDS = new Set(("a an the and or but of to in on at is are was were be been it its by for from with as " +
  "into about this that these those there here what where when who whom how why which do does did has have had not no " +
  "we you he she they them his her our your their my i me us will would can could should may might now then than so").split(" "));

/** The words of a query worth highlighting: lower case, no stop words, no quotes or minus signs. */
export function queryWords(query) {
  return [...new Set((query || "").toLowerCase().split(/[^\p{L}\p{N}']+/u)
    .map((w) => w.replace(/^'+|'+$/g, ""))
    .filter((w) => w.length > 1 && !STOP_WORDS.has(w)))];
}

/** A fragment of `text` with each word that starts with a query word wrapped in <mark> (text nodes only). */
export function highlighted(text, words) {
  const fragment = document.createDocumentFragment();
  if (!words.length) {
    fragment.append(text);
    return fragment;
  }
  let last = 0;
  for (const match of text.matchAll(/[\p{L}\p{N}']+/gu)) {
    const word = match[0].toLowerCase();
    if (!words.some((w) => word.startsWith(w) || (word.length > 3 && w.startsWith(word)))) continue;
    fragment.append(text.slice(last, match.index), h("mark", {}, match[0]));
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}
