// The Quarry page: sign in, upload with a progress bar per file, the document list kept live, search.
import { ApiError, call, sendForm, signIn, signOut, signedInAs } from "./api.js";
import { highlightedSnippet } from "./highlight.js";

const TERMINAL = new Set(["INDEXED", "FAILED", "DELETED", "EXPIRED"]);
const POLL_MS = 1500;
const $ = (selector) => document.querySelector(selector);
const lastStatus = new Map(); // document id → the status last shown, to announce changes only
const openDetails = new Set(); // ids whose extraction the user opened: kept open across refreshes
let shownSignature = "";

function element(tag, properties = {}, ...children) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function announce(message) {
  // Cleared first so that the same words twice are announced twice.
  const announcer = $("#announcer");
  announcer.textContent = "";
  setTimeout(() => (announcer.textContent = message), 50);
}

function fileName(item) {
  return (item.source?.key || "").split("/").pop() || item.document_id;
}

function describe(error) {
  return error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
}

function pairs(text) {
  const found = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf("=");
    if (at < 1) throw new ApiError(400, "invalid_pair", `"${part}" is not key=value`);
    found[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return found;
}

// ---- sign-in ----

function showSignedIn() {
  const name = signedInAs();
  shownSignature = "";
  $("#sign-in").hidden = Boolean(name);
  $("#signed-in").hidden = !name;
  $("#who").hidden = !name;
  $("#who-name").textContent = name ? `Signed in as ${name}` : "";
  if (name) {
    refreshDocuments();
    $("#query").focus();
  } else {
    $("#username").focus();
  }
}

$("#sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#sign-in-error").textContent = "";
  try {
    await signIn($("#username").value.trim(), $("#password").value);
    $("#password").value = "";
    announce(`Signed in as ${signedInAs()}`);
    showSignedIn();
  } catch (error) {
    $("#sign-in-error").textContent = `Sign-in failed: ${describe(error)}`;
  }
});

$("#sign-out").addEventListener("click", () => {
  signOut();
  announce("Signed out");
  showSignedIn();
});

// ---- upload ----

async function uploadFile(file) {
  const progress = element("progress", { max: 1, value: 0 });
  progress.setAttribute("aria-label", `Upload of ${file.name}`);
  const state = element("span", { className: "upload-state", textContent: "starting" });
  const item = element("li", {}, element("span", { textContent: file.name }), progress, state);
  item.dataset.file = file.name;
  $("#upload-list").append(item);
  try {
    const body = { filename: file.name, metadata: pairs($("#upload-metadata").value) };
    if (file.type) body.content_type = file.type;
    const answer = await call("POST", "/uploads", body);
    state.textContent = "uploading";
    await sendForm(answer.upload, file, (fraction) => (progress.value = fraction));
    progress.value = 1;
    state.textContent = "uploaded";
    lastStatus.set(answer.document_id, "PENDING");
    announce(`${file.name} uploaded; processing`);
  } catch (error) {
    state.textContent = `refused: ${describe(error)}`;
    state.classList.add("failure");
    announce(`${file.name} was refused: ${error.message}`);
  }
  refreshDocuments();
}

function uploadFiles(files) {
  for (const file of files) uploadFile(file);
}

const dropZone = $("#drop-zone");
$("#file-input").addEventListener("change", (event) => {
  uploadFiles([...event.target.files]);
  event.target.value = "";
});
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropZone.classList.add("over");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  uploadFiles([...event.dataTransfer.files]);
});

// ---- documents ----

function extractionDetails(document) {
  const extraction = document.extraction?.data || {};
  const list = element("dl");
  const add = (term, value) => {
    if (value) list.append(element("dt", { textContent: term }), element("dd", { textContent: value }));
  };
  add("Title", extraction.title);
  add("Summary", extraction.summary);
  add("Language", extraction.language);
  add("Type", extraction.document_type);
  const entities = extraction.entities || {};
  if (Array.isArray(entities)) add("Entities", entities.join(", "));
  else for (const [kind, names] of Object.entries(entities)) add(kind[0].toUpperCase() + kind.slice(1), (names || []).join(", "));
  add("Keywords", (extraction.keywords || []).join(", "));
  add("Not extracted", document.extraction?.error);
  add("Metadata", Object.entries(document.metadata || {}).map(([k, v]) => `${k}=${v}`).join(", "));
  if (!list.children.length) return null;
  const details = element("details", { open: openDetails.has(document.document_id) });
  details.append(element("summary", { textContent: extraction.title || "Extraction" }), list);
  details.addEventListener("toggle", () =>
    details.open ? openDetails.add(document.document_id) : openDetails.delete(document.document_id),
  );
  return details;
}

function documentRow(document) {
  const name = fileName(document);
  const status = element("span", { className: `status status-${document.status}`, textContent: document.status });
  const details = element("td");
  if (document.error) {
    details.append(element("p", { className: "failure", textContent: `${document.error.code}: ${document.error.message}` }));
  }
  const extraction = extractionDetails(document);
  if (extraction) details.append(extraction);
  const remove = element("button", { type: "button", className: "danger", textContent: "Delete" });
  remove.setAttribute("aria-label", `Delete ${name}`);
  remove.addEventListener("click", () => deleteDocument(document, name));
  const row = element(
    "tr",
    {},
    element("td", { textContent: name }),
    element("td", {}, status),
    element("td", { textContent: String(document.chunk_count || 0) }),
    details,
    element("td", {}, document.status === "DELETED" ? null : remove),
  );
  row.dataset.documentId = document.document_id;
  row.dataset.status = document.status;
  return row;
}

async function deleteDocument(document, name) {
  try {
    await call("DELETE", `/documents/${document.document_id}`);
    lastStatus.set(document.document_id, "DELETED");
    announce(`${name} deleted`);
  } catch (error) {
    announce(`${name} could not be deleted: ${describe(error)}`);
  }
  refreshDocuments();
}

let refreshing = null;
let pollTimer = null;

async function refreshDocuments() {
  if (!signedInAs()) return;
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const status = $("#status-filter").value;
      const answer = await call("GET", `/documents?limit=100${status ? `&status=${status}` : ""}`);
      // A deleted document is gone from the list unless DELETED is what was asked for.
      const shown = answer.documents.filter((d) => status === "DELETED" || d.status !== "DELETED");
      for (const document of answer.documents) {
        const before = lastStatus.get(document.document_id);
        if (before && before !== document.status) {
          const reason = document.error ? `: ${document.error.code}, ${document.error.message}` : "";
          announce(`${fileName(document)} is ${document.status}${reason}`);
        }
        lastStatus.set(document.document_id, document.status);
      }
      // Rebuilt only when something changed, so a refresh never takes the keyboard focus away.
      const signature = JSON.stringify(shown);
      if (signature !== shownSignature) {
        shownSignature = signature;
        $("#document-rows").replaceChildren(...shown.map(documentRow));
      }
      $("#no-documents").hidden = shown.length > 0;
    } catch (error) {
      if (error.status === 401) {
        signOut();
        showSignedIn();
        $("#sign-in-error").textContent = "Your sign-in has expired: please sign in again.";
      }
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function poll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    await refreshDocuments();
    poll();
  }, POLL_MS);
}

$("#refresh").addEventListener("click", refreshDocuments);
$("#status-filter").addEventListener("change", refreshDocuments);

// ---- search ----

function resultCard(hit, query, rank) {
  const page = hit.source?.page;
  const meta = [page === null || page === undefined ? null : `page ${page}`, `score ${hit.score.toFixed(3)}`]
    .filter(Boolean)
    .join(" · ");
  return element(
    "li",
    { className: "card" },
    element("h3", { textContent: `${rank}. ${fileName(hit)}` }),
    element("p", { className: "meta", textContent: meta }),
    element("p", { className: "snippet" }, highlightedSnippet(hit.text, query)),
  );
}

$("#search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#search-error").textContent = "";
  const query = $("#query").value;
  try {
    const filters = {};
    if ($("#content-type").value) filters.content_type = $("#content-type").value;
    const metadata = pairs($("#metadata-filter").value);
    if (Object.keys(metadata).length) filters.metadata = metadata;
    const body = { query, mode: $("#mode").value, k: Number($("#k").value) };
    if (Object.keys(filters).length) body.filters = filters;
    const answer = await call("POST", "/search", body);
    $("#results").replaceChildren(...answer.results.map((hit, i) => resultCard(hit, query, i + 1)));
    $("#search-summary").textContent = answer.results.length
      ? `${answer.results.length} result(s) in ${Math.round(answer.took_ms ?? 0)} ms`
      : "Nothing found.";
  } catch (error) {
    $("#results").replaceChildren();
    $("#search-summary").textContent = "";
    $("#search-error").textContent = `Search failed: ${describe(error)}`;
  }
});

showSignedIn();
poll();
