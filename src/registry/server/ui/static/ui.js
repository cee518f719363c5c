// The registry web page's only script: filter as you type, live updates, copy buttons and the
// config builder. Pages work without it (plain links and forms); it only makes them faster.
// It never builds HTML from data: it swaps in fragments the server rendered (and escaped), and
// writes JSON values with textContent.
"use strict";

const FRAGMENT = { "X-Registry-Fragment": "live" };

function signInAgain() {
  location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
}

// ------------------------------------------------------------------ swapping the live part

let pending = null;

async function refresh(url) {
  if (pending) pending.abort();  // typing on: only the newest answer counts
  const controller = (pending = new AbortController());
  try {
    const response = await fetch(url, { headers: FRAGMENT, signal: controller.signal });
    if (response.status === 401) return signInAgain();
    const html = await response.text();
    document.getElementById("live").innerHTML = html;  // rendered and escaped by the server
  } catch (error) {
    if (error.name !== "AbortError") setStatus("Connection lost; retrying…");
  } finally {
    if (pending === controller) pending = null;
  }
}

function setStatus(text) {
  const status = document.getElementById("live-status");
  if (status) status.textContent = text;
}

function liveForm(form) {
  let shown = null;
  const update = () => {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
    const query = params.toString();
    const url = form.getAttribute("action") + (query ? "?" + query : "");
    // "change" follows the "input" that already asked for this address when the field loses
    // focus, which clicking a result does: swapping the results again between the press and
    // the release of the button would swallow the click.
    if (url === shown) return;
    shown = url;
    history.replaceState(null, "", url);
    refresh(url);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    update();
  });
}

function swapLinks() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-swap]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    history.pushState(null, "", link.href);
    refresh(link.href).then(() => document.getElementById("live").focus());
  });
  window.addEventListener("popstate", () => refresh(location.href));
}

// ------------------------------------------------------------------ live updates

function watchChanges() {
  const watch = JSON.parse(document.body.dataset.watch || "{}");
  const known = watch.namespaces || {};
  if (!watch.all && Object.keys(known).length === 0) return;
  const source = new EventSource("/ui/events");
  source.addEventListener("change", (event) => {
    const generations = JSON.parse(event.data).generations;
    const names = watch.all
      ? new Set([...Object.keys(known), ...Object.keys(generations)])
      : Object.keys(known);
    const moved = [...names].filter((name) => generations[name] !== known[name]);
    if (moved.length === 0) return;
    for (const name of moved) known[name] = generations[name];
    const when = new Date().toLocaleTimeString();
    if (document.body.dataset.liveMode === "banner") {
      document.getElementById("changed-banner").hidden = false;
      setStatus(`${moved.join(", ")} changed at ${when}`);
      return;
    }
    refresh(location.href).then(() => setStatus(`Updated at ${when}: ${moved.join(", ")} changed`));
  });
}

// A page served while the server was still reading a large namespace marks what it could not
// show yet; the same address, asked again, answers once the server has read it.
function completePending() {
  if (document.querySelector("#live [data-pending]")) refresh(location.href);
}

// ------------------------------------------------------------------ keyboard and copying

function shortcuts() {
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    const search = document.getElementById("q");
    if (event.key === "/" && !typing && search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a lab host is no secure context: fall back to a hidden selection.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

function copyButtons() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    try {
      await copyText(source.textContent);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => (button.textContent = "Copy"), 1500);
  });
}

// ------------------------------------------------------------------ the config builder

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null || Array.isArray(node[part])) {
      node[part] = {};
    }
    node = node[part];
  }
  node[parts[parts.length - 1]] = value;
}

const NUMBERS = { integer: /^[+-]?\d+$/, number: /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/ };

// Returns [config, problems]; an empty input leaves the field out (its default applies).
function collect(form) {
  const config = {};
  const problems = [];
  for (const field of form.querySelectorAll(".field")) {
    const path = field.dataset.path;
    const widget = field.dataset.widget;
    const parseJson = (text) => {
      try {
        setPath(config, path, JSON.parse(text));
      } catch (error) {
        problems.push({ path, message: `Not valid JSON: ${error.message}` });
      }
    };
    if (widget === "component") {
      const name = field.querySelector("[data-role=type]").value.trim();
      const json = field.querySelector("[data-role=json]").value.trim();
      if (name) setPath(config, path, { _type: name });
      else if (json) parseJson(json);
      continue;
    }
    const input = field.querySelector("[data-role]");
    const text = input.value.trim();
    if (!text) continue;
    if (widget === "json" || widget === "choice") parseJson(text);
    else if (widget === "boolean") setPath(config, path, text === "true");
    else if (NUMBERS[widget] && NUMBERS[widget].test(text)) setPath(config, path, Number(text));
    else setPath(config, path, input.value);  // the server says what is wrong with it
  }
  return [config, problems];
}

// Shows a problem next to the closest field that exists ("model._type" belongs to "model", an
// unknown path to the form); returns the input of that field, if any.
function markField(form, problem) {
  let path = problem.path;
  let element = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
  while (!element && path) {
    path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    element = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
  }
  const where = path === problem.path || !problem.path ? "" : `${problem.path}: `;
  element.textContent = (element.hidden ? "" : element.textContent + " ") + where + problem.message;
  element.hidden = false;
  const input = element.closest(".field")?.querySelector("[data-role]");
  if (input) input.setAttribute("aria-invalid", "true");
  return input;
}

// Replaces the problems shown by those of a check; the first marked field gets the focus.
function showProblems(form, problems, message) {
  for (const element of form.querySelectorAll("[data-error-for]")) {
    element.hidden = true;
    element.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const inputs = problems.map((problem) => markField(form, problem)).filter(Boolean);
  const formError = document.getElementById("form-error");
  if (problems.length && formError.hidden) {
    formError.textContent = message;
    formError.hidden = false;
  }
  if (inputs.length) inputs[0].focus();
}

function showResult(form, answer) {
  const result = document.getElementById("result");
  document.getElementById("result-message").textContent = answer.message;
  for (const figure of result.querySelectorAll("[data-format]")) {
    const format = figure.dataset.format;
    const text = answer.files[format];
    figure.querySelector("code").textContent = text ?? `Not available: ${answer.unavailable[format]}`;
    for (const button of figure.querySelectorAll("button")) button.disabled = text === undefined;
  }
  result.hidden = false;
  result.dataset.files = JSON.stringify(answer.files);
  result.scrollIntoView({ block: "nearest" });
}

async function check(form) {
  const [config, problems] = collect(form);
  document.getElementById("result").hidden = true;
  if (problems.length) return showProblems(form, problems, "Fix the marked fields first.");
  const response = await fetch(form.dataset.checkUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ config }),
  });
  if (response.status === 401) return signInAgain();
  const answer = await response.json();
  if (!response.ok) {
    return showProblems(form, [{ path: "", message: answer.error.message }], answer.error.message);
  }
  if (!answer.valid) {
    const hints = answer.suggestions.length ? ` (${answer.suggestions.join("; ")})` : "";
    return showProblems(form, answer.problems, answer.message + hints);
  }
  showProblems(form, [], "");
  showResult(form, answer);
}

async function loadNested(form, input) {
  const field = input.closest(".field");
  const nested = field.querySelector(".nested");
  const name = input.value.trim();
  if (name === (nested.dataset.type || "")) return;
  nested.dataset.type = name;
  nested.textContent = "";
  field.querySelector(".plain-value").hidden = Boolean(name);
  if (!name) return;
  const url = new URL(form.dataset.fieldsUrl, location.href);
  url.searchParams.set("type", name);
  url.searchParams.set("prefix", field.dataset.path);
  const response = await fetch(url);
  if (response.status === 401) return signInAgain();
  if (nested.dataset.type !== name) return;  // the user typed on meanwhile
  if (response.ok) nested.innerHTML = await response.text();  // rendered and escaped by the server
  // Marked without taking the focus: the user may be typing in another field by now.
  else markField(form, { path: field.dataset.path, message: `${name} is not registered here` });
}

let namesTimer = null;

function suggestNames(form, input) {
  clearTimeout(namesTimer);
  namesTimer = setTimeout(async () => {
    const url = new URL(form.dataset.namesUrl, location.href);
    url.searchParams.set("q", input.value.trim());
    url.searchParams.set("limit", "30");
    const response = await fetch(url);
    if (!response.ok) return;
    const list = document.getElementById("registered-names");
    const options = (await response.json()).entries.map((entry) => {
      const option = document.createElement("option");
      option.value = entry.identifier;
      return option;
    });
    list.replaceChildren(...options);
  }, 120);
}

function download(form, format) {
  const files = JSON.parse(document.getElementById("result").dataset.files || "{}");
  const types = { yaml: "application/yaml", json: "application/json", toml: "application/toml" };
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([files[format]], { type: types[format] }));
  link.download = `${form.dataset.identifier}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function builder() {
  const form = document.getElementById("builder");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    check(form);
  });
  form.addEventListener("input", (event) => {
    if (event.target.matches("[data-role=type]")) suggestNames(form, event.target);
  });
  form.addEventListener("change", (event) => {
    if (event.target.matches("[data-role=type]")) loadNested(form, event.target);
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-download]");
    if (button) download(form, button.dataset.download);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-live-form]")) liveForm(form);
  swapLinks();
  shortcuts();
  copyButtons();
  builder();
  watchChanges();
  completePending();
});
