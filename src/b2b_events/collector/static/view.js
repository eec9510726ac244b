// The collector's web view: polls GET /v1/view every second and redraws what changed.
// Plain DOM, no framework, nothing loaded from elsewhere; text goes in with textContent.
"use strict";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);
const filters = {
  event: $("filter-event"),
  userId: $("filter-user"),
  groupId: $("filter-group"),
  valid: $("filter-valid"),
};
let seen = null; // what the last answer was drawn from: counts, filters and page
let selected = null; // the key of the message whose JSON is shown
// The page of messages: the newest `offset` matching ones are skipped (0: the live page),
// and `matching` is how many matched when it was drawn, so that the collector keeps an
// older page in place as new messages arrive.
let paging = { filters: "", offset: 0, matching: 0, size: 0 };

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function clock(iso) {
  return iso ? iso.slice(11, 19) : "-";
}

function nameOf(message) {
  return typeof message.event === "string" ? message.event : String(message.type ?? "?");
}

function labelOf(message) {
  // The event column: a track's event, a page's or screen's name; the type column has the rest.
  const label = message.type === "track" ? message.event : message.name;
  return typeof label === "string" && label ? label : "-";
}

function groupOf(message) {
  const context = message.context;
  const inner = context && typeof context === "object" ? context.groupId : undefined;
  return inner ?? message.groupId ?? "-";
}

function keyOf(item) {
  return `${item.receivedAt} ${item.message.messageId ?? ""} ${nameOf(item.message)}`;
}

function query() {
  const params = new URLSearchParams();
  for (const [name, input] of Object.entries(filters)) {
    const value = input.value.trim();
    if (value) params.set(name, value);
  }
  return params.toString();
}

function drawCounts(counts) {
  const body = $("counts").tBodies[0];
  body.replaceChildren();
  const names = $("event-names");
  names.replaceChildren();
  let invalid = 0;
  for (const row of counts) {
    const tr = document.createElement("tr");
    tr.dataset.event = row.event;
    if (filters.event.value === row.event) tr.className = "active";
    tr.append(
      cell(row.event),
      cell(row.received, "num"),
      cell(row.valid, "num"),
      cell(row.received - row.valid, "num"),
    );
    tr.addEventListener("click", () => {
      filters.event.value = filters.event.value === row.event ? "" : row.event;
      refresh();
    });
    body.append(tr);
    const option = document.createElement("option");
    option.value = row.event;
    names.append(option);
    invalid += row.received - row.valid;
  }
  $("invalid-total").textContent = invalid;
}

function asked() {
  return `${paging.filters}#${paging.offset}`;
}

function drawPager(view) {
  paging.offset = view.offset;
  paging.matching = view.matching;
  paging.size = view.pageSize;
  const count = view.messages.length;
  const first = paging.offset + 1;
  let text = "";
  if (count) {
    text = `Newest first: ${first}-${paging.offset + count} of ${view.matching} matching`;
    if (paging.filters) text += ` (${view.total} stored)`;
    text += paging.offset ? ". An older page: it stays put as messages arrive." : ".";
  } else if (paging.offset) {
    text = `Nothing this old: ${view.matching} matching.`;
  } else if (view.total) {
    text = "Nothing matches these filters.";
  }
  $("shown").textContent = text;
  $("page-newest").disabled = $("page-newer").disabled = paging.offset === 0;
  $("page-older").disabled = paging.offset + count >= view.matching;
}

function turn(offset) {
  paging.offset = Math.max(0, offset);
  refresh();
}

function drawMessages(items, total) {
  const body = $("messages").tBodies[0];
  body.replaceChildren();
  for (const item of items) {
    const message = item.message;
    const tr = document.createElement("tr");
    const key = keyOf(item);
    if (key === selected) tr.className = "selected";
    const validity = document.createElement("td");
    const badge = document.createElement("span");
    const ok = item.violations.length === 0;
    badge.className = ok ? "badge ok" : "badge bad";
    badge.textContent = ok ? "valid" : "invalid";
    validity.append(badge);
    if (!ok) {
      const problems = document.createElement("span");
      problems.className = "problems";
      problems.textContent = item.violations.join("; ");
      validity.append(problems);
    }
    tr.append(
      cell(clock(item.receivedAt), "mono"),
      cell(String(message.type ?? "?")),
      cell(labelOf(message)),
      cell(String(message.userId ?? message.anonymousId ?? "-")),
      cell(String(groupOf(message))),
      validity,
    );
    tr.addEventListener("click", () => show(item, tr));
    body.append(tr);
  }
  $("messages-empty").hidden = items.length > 0 || total > 0;
}

function drawRefused(refused) {
  const body = $("refused").tBodies[0];
  body.replaceChildren();
  for (const item of refused) {
    const tr = document.createElement("tr");
    tr.title = `${item.method} ${item.path} from ${item.client} (${item.code})`;
    tr.append(
      cell(clock(item.receivedAt), "mono"),
      cell(item.status, "mono"),
      cell(`${item.path}: ${item.message}`, "why"),
    );
    body.append(tr);
  }
  $("refused-empty").hidden = refused.length > 0;
}

function show(item, row) {
  selected = keyOf(item);
  for (const tr of $("messages").tBodies[0].rows) tr.classList.remove("selected");
  row.classList.add("selected");
  $("detail-title").textContent = `${nameOf(item.message)} at ${item.receivedAt}`;
  $("detail-json").textContent = JSON.stringify(item, null, 2);
  $("detail").hidden = false;
  $("detail").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

async function refresh() {
  const filtersNow = query();
  if (filtersNow !== paging.filters) paging = { ...paging, filters: filtersNow, offset: 0 };
  const params = new URLSearchParams(filtersNow);
  if (paging.offset) {
    params.set("offset", paging.offset);
    params.set("matching", paging.matching);
  }
  const askedNow = asked();
  if (seen && seen.asked === askedNow) {
    params.set("seen", seen.total);
    params.set("refusedSeen", seen.refusedTotal);
  }
  let view;
  try {
    const response = await fetch(`/v1/view?${params}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    view = await response.json();
    $("status").classList.remove("offline");
    $("status").textContent = "live";
  } catch (error) {
    $("status").classList.add("offline");
    $("status").textContent = "offline";
    return;
  }
  // The filters or the page changed meanwhile: that answer is stale.
  if (filtersNow !== query() || askedNow !== asked()) return;
  $("total").textContent = view.total;
  $("refused-total").textContent = view.refusedTotal;
  if (view.unchanged) return;
  drawCounts(view.counts);
  drawPager(view);
  drawMessages(view.messages, view.total);
  drawRefused(view.refused);
  seen = { asked: asked(), total: view.total, refusedTotal: view.refusedTotal };
}

for (const input of Object.values(filters)) input.addEventListener("input", () => refresh());
$("filters").addEventListener("submit", (event) => event.preventDefault());
$("filters").addEventListener("reset", () => setTimeout(refresh, 0));
$("page-newest").addEventListener("click", () => turn(0));
$("page-newer").addEventListener("click", () => turn(paging.offset - paging.size));
$("page-older").addEventListener("click", () => turn(paging.offset + paging.size));
$("detail-close").addEventListener("click", () => {
  selected = null;
  $("detail").hidden = true;
  for (const tr of $("messages").tBodies[0].rows) tr.classList.remove("selected");
});

refresh();
setInterval(refresh, POLL_MS);
