// Draws a DAG as SVG: nodes in columns by dependency depth (longest path from a root), edges as
// curves from parent to child, colour by status. Nodes are focusable buttons.
import { escapeHtml } from "./console.js";

const NODE_WIDTH = 170;
const NODE_HEIGHT = 40;
const GAP_X = 60;
const GAP_Y = 14;
const PAD = 10;

// items: [{id, parents: [id...]}] → Map id → depth. A cycle (never stored, but be safe) puts its
// nodes after the rest rather than looping.
export function depthsOf(items) {
  const ids = new Set(items.map((item) => item.id));
  const children = new Map(items.map((item) => [item.id, []]));
  const waiting = new Map();
  for (const item of items) {
    const parents = item.parents.filter((parent) => ids.has(parent));
    waiting.set(item.id, parents.length);
    for (const parent of parents) children.get(parent).push(item.id);
  }
  const depth = new Map();
  const ready = items.filter((item) => waiting.get(item.id) === 0).map((item) => item.id);
  for (const id of ready) depth.set(id, 0);
  while (ready.length) {
    const id = ready.shift();
    for (const child of children.get(id)) {
      depth.set(child, Math.max(depth.get(child) ?? 0, depth.get(id) + 1));
      waiting.set(child, waiting.get(child) - 1);
      if (waiting.get(child) === 0) ready.push(child);
    }
  }
  const deepest = Math.max(-1, ...depth.values());
  for (const item of items) if (!depth.has(item.id)) depth.set(item.id, deepest + 1);
  return depth;
}

function shorten(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

// items: [{id, label, status, parents}] in a stable order (ascending id).
export function renderDag(container, items, { selectedId = null, onSelect = null } = {}) {
  const depth = depthsOf(items);
  const rowsPerColumn = [];
  const position = new Map();
  for (const item of items) {
    const column = depth.get(item.id);
    const row = rowsPerColumn[column] ?? 0;
    rowsPerColumn[column] = row + 1;
    position.set(item.id, { x: PAD + column * (NODE_WIDTH + GAP_X), y: PAD + row * (NODE_HEIGHT + GAP_Y) });
  }
  const columns = rowsPerColumn.length;
  const rows = Math.max(0, ...rowsPerColumn.filter(Boolean));
  const width = PAD * 2 + Math.max(1, columns) * (NODE_WIDTH + GAP_X) - GAP_X;
  const height = PAD * 2 + Math.max(1, rows) * (NODE_HEIGHT + GAP_Y) - GAP_Y;
  const edges = [];
  const nodes = [];
  for (const item of items) {
    const to = position.get(item.id);
    for (const parent of item.parents) {
      const from = position.get(parent);
      if (!from) continue;
      const x1 = from.x + NODE_WIDTH, y1 = from.y + NODE_HEIGHT / 2, x2 = to.x - 4, y2 = to.y + NODE_HEIGHT / 2;
      const bend = Math.max(20, (x2 - x1) / 2);
      edges.push(`<path class="edge" data-edge="${parent}-${item.id}" d="M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>`);
    }
    const label = escapeHtml(item.label);
    const selected = item.id === selectedId ? " selected" : "";
    nodes.push(
      `<g class="node status-${escapeHtml(item.status)}${selected}" data-node-id="${item.id}" transform="translate(${to.x},${to.y})"` +
      ` tabindex="0" role="button" aria-label="${label}, ${escapeHtml(item.status)}">` +
      `<title>${label} (${escapeHtml(item.status)})</title>` +
      `<rect width="${NODE_WIDTH}" height="${NODE_HEIGHT}" rx="6"/>` +
      `<text x="10" y="25">${escapeHtml(shorten(item.label, 22))}</text></g>`,
    );
  }
  const active = document.activeElement;
  const focusedId = container.contains(active) && active.dataset ? active.dataset.nodeId : undefined;
  container.innerHTML =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">` +
    `<path d="M0,0 L10,5 L0,10 z"/></marker></defs>` +
    `<g class="edges">${edges.join("")}</g><g class="nodes">${nodes.join("")}</g></svg>`;
  if (focusedId) container.querySelector(`[data-node-id="${focusedId}"]`)?.focus();
  if (!items.length) container.insertAdjacentHTML("beforeend", '<p class="muted">No node yet: create one below.</p>');
  if (onSelect && !container.dataset.bound) {
    container.dataset.bound = "1";
    const pick = (event) => {
      const node = event.target.closest("[data-node-id]");
      if (node) onSelect(Number(node.dataset.nodeId));
    };
    container.addEventListener("click", pick);
    container.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        pick(event);
      }
    });
  }
}
