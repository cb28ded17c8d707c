// DOM helpers: elements are built with textContent only (never innerHTML), so data from the
// API cannot inject markup.

/** `h('td', {class: 'num'}, 'text', child, ...)`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of `container` with `nodes`. */
export function mount(container, ...nodes) {
  container.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined));
}

/** The placeholder a tab shows when an API has nothing (or is not served). */
export function empty(message) {
  return h('p', { class: 'empty' }, message);
}

/**
 * A table: `columns` are `{label, value: row => text|Node, class?}`; `rowAttrs(row)` adds
 * attributes to each `<tr>`; `after(row)` may return an extra `<tr>` (e.g. a detail row).
 */
export function table(columns, rows, { rowAttrs, after } = {}) {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.label))));
  const body = h('tbody');
  for (const row of rows) {
    body.append(h('tr', rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => h('td', { class: c.class }, c.value(row)))));
    const extra = after ? after(row) : null;
    if (extra) body.append(extra);
  }
  return h('table', { class: 'grid' }, head, body);
}

/** A summary card: a big value with a label. */
export function card(label, value, tone) {
  return h('div', { class: `card ${tone || ''}` },
    h('div', { class: 'card-value' }, value),
    h('div', { class: 'card-label' }, label));
}

/** A coloured pill (`tone` is a CSS class: ok, warn, bad, hot, warm, cold, muted). */
export function pill(text, tone) {
  return h('span', { class: `pill ${tone || ''}` }, text);
}

const numberFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

/** A number for a table: `—` when null/undefined, else rounded to one decimal. */
export function num(value, unit = '') {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  // Rounded first, then `+ 0`: a signal that subtracted (almost) nothing shows 0, not -0.
  return `${numberFormat.format(Math.round(value * 10) / 10 + 0)}${unit}`;
}

/** Milliseconds as `850 ms` or `2.3 s`; `—` when unknown. */
export function ms(value) {
  if (value === null || value === undefined) return '—';
  return value >= 1000 ? `${numberFormat.format(value / 1000)} s` : `${Math.round(value)} ms`;
}

/** Megabytes as `24 GB` / `512 MB`; `—` when unknown. */
export function mb(value) {
  if (value === null || value === undefined) return '—';
  return value >= 1024 ? `${numberFormat.format(value / 1024)} GB` : `${Math.round(value)} MB`;
}

/** A Unix-milliseconds time as local `HH:MM:SS` (with the date when not today). */
export function time(tMs) {
  if (!tMs) return '—';
  const d = new Date(tMs);
  const today = new Date();
  const clock = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === today.toDateString() ? clock : `${d.toLocaleDateString()} ${clock}`;
}

/** `12 s ago` from a Unix-milliseconds time. */
export function ago(tMs) {
  if (!tMs) return '—';
  const s = Math.max(0, Math.round((Date.now() - tMs) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
