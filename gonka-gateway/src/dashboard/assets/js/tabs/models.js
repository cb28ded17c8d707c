// Models: a model × node matrix saying where each model is hot (in engine memory), warm (on the
// node's disk) or cold (registered only), and per-node-and-model performance.

import { api, optional } from '../api.js';
import { fleet } from '../fleet.js';
import { empty, h, mount, ms, num, pill, table } from '../dom.js';

function gigabytes(bytes) {
  return bytes == null ? '—' : `${num(bytes / 1e9)} GB`;
}

/** `hot` / `warm` / `cold` / null (the node does not have the model at all). */
function thermal(model, node, hot, warm) {
  if (hot.has(node.id)) return 'hot';
  if (warm.has(node.id)) return 'warm';
  if ((node.loaded || []).some((l) => l.name === model)) return 'hot';
  if ((node.disk_models || []).includes(model)) return 'warm';
  if ((node.models || []).includes(model)) return 'cold';
  return null;
}

function contextOf(model, node) {
  const loaded = (node.loaded || []).find((l) => l.name === model);
  return loaded && loaded.context_length ? ` · ctx ${loaded.context_length}` : '';
}

let requestRefresh = () => {};

/** Pull or delete (the submit button pressed) the form's model on its node. */
async function modelAction(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const action = event.submitter ? event.submitter.value : 'pull';
  const out = document.getElementById('model-action-result');
  const body = { model: form.elements.model.value.trim(), node_id: form.elements.node_id.value };
  for (const b of form.querySelectorAll('button')) b.disabled = true;
  try {
    const answer = await api(`/dashboard/api/${action}`, { method: 'POST', body });
    out.textContent = `${action} ${body.model} on ${body.node_id}: ${(answer && answer.status) || 'done'}`;
    out.className = 'form-result ok';
  } catch (e) {
    out.textContent = e.message;
    out.className = 'form-result bad';
  } finally {
    for (const b of form.querySelectorAll('button')) b.disabled = false;
    requestRefresh();
  }
}

/** Hooks the pull/delete form up. */
export function init({ refresh: again }) {
  requestRefresh = again;
  document.getElementById('model-action').addEventListener('submit', modelAction);
}

function fillOptions(select, values) {
  const key = values.join('\n');
  if (select.dataset.values === key) return;
  const chosen = select.value;
  select.dataset.values = key;
  mount(select, values.map((v) => h('option', { value: v, selected: v === chosen }, v)));
}

/** Redraws the tab from the gateway's current data. */
export async function refresh() {
  const [f, { data: perf, note }, inventory] = await Promise.all([
    fleet(),
    optional('/dashboard/api/performance', 'Performance data'),
    optional('/dashboard/api/model-management', 'The model inventory'),
  ]);
  const nodes = f.nodes || [];
  const models = (f.models || []).slice();
  const known = new Set(models.map((m) => m.name));
  for (const n of nodes) {
    for (const name of [...(n.models || []), ...(n.loaded || []).map((l) => l.name), ...(n.disk_models || [])]) {
      if (!known.has(name)) {
        known.add(name);
        models.push({ name, hot: [], warm: [] });
      }
    }
  }
  mount(document.getElementById('models-matrix'), models.length === 0
    ? empty('No models: no node is registered.')
    : table([
      { label: 'Model', value: (m) => h('strong', {}, m.name) },
      { label: 'Hot on', class: 'num', value: (m) => String((m.hot || []).length) },
      ...nodes.map((node) => ({
        label: node.id,
        value: (m) => {
          const t = thermal(m.name, node, new Set(m.hot || []), new Set(m.warm || []));
          return t ? pill(`${t}${t === 'hot' ? contextOf(m.name, node) : ''}`, t) : h('span', { class: 'muted' }, '·');
        },
      })),
    ], models, { rowAttrs: (m) => ({ 'data-model': m.name }) }));
  const rows = (perf && perf.rows) || [];
  mount(document.getElementById('models-performance'), perf === null
    ? empty(note)
    : rows.length === 0
      ? empty('No completed requests yet.')
      : table([
        { label: 'Node', value: (r) => r.node_id },
        { label: 'Model', value: (r) => r.model },
        { label: 'Requests', class: 'num', value: (r) => num(r.count) },
        { label: 'Mean latency', class: 'num', value: (r) => ms(r.mean_latency_ms) },
        { label: 'Tokens/s', class: 'num', value: (r) => num(r.tokens_per_second) },
      ], rows));
  const inv = (inventory.data && inventory.data.nodes) || [];
  document.getElementById('model-action').classList.toggle('hidden', inventory.data === null);
  fillOptions(document.getElementById('inventory-nodes'), nodes.map((n) => n.id));
  fillOptions(document.getElementById('inventory-models'), models.map((m) => m.name));
  mount(document.getElementById('models-inventory'), inventory.data === null
    ? empty(inventory.note)
    : inv.length === 0
      ? empty('No nodes to ask.')
      : table([
        { label: 'Node', value: (n) => h('strong', {}, n.node_id) },
        { label: 'Loaded', value: (n) => (n.loaded || []).map((l) => (typeof l === 'string' ? l : l.name)).join(', ') || '—' },
        {
          label: 'On disk',
          value: (n) => (n.disk || []).map((d) => `${d.model} (${gigabytes(d.size_bytes)})`).join(', ') || '—',
        },
        { label: 'Agent', value: (n) => (n.error ? pill(n.error, 'warn') : pill('answered', 'ok')) },
      ], inv, { rowAttrs: (n) => ({ 'data-node': n.node_id }) }));
}
