// Node management through the admin API: list, add (POST /admin/v1/nodes), disable and enable
// (POST /admin/v1/nodes/{id}/disable|enable), delete (DELETE /admin/v1/nodes/{id}, confirmed by
// a second click).

import { api } from '../api.js';
import { registry } from '../fleet.js';
import { empty, h, mount, pill, table } from '../dom.js';

let requestRefresh = () => {};
const armed = new Map(); // node id → time its Delete button was first clicked
const ARM_MS = 5000;

function say(message, tone) {
  const out = document.getElementById('add-node-result');
  out.textContent = message;
  out.className = `form-result ${tone || ''}`;
}

async function act(button, work) {
  button.disabled = true;
  try {
    await work();
    say('', '');
  } catch (e) {
    say(e.message, 'bad');
  } finally {
    button.disabled = false;
    requestRefresh();
  }
}

const path = (id) => `/admin/v1/nodes/${encodeURIComponent(id)}`;

function actions(record) {
  const id = record.node.id;
  const enabled = record.state.admin_state.enabled;
  const toggle = h('button', {
    type: 'button',
    class: enabled ? 'secondary' : 'primary',
    'data-action': enabled ? 'disable' : 'enable',
    onclick: (e) => act(e.currentTarget, () => api(`${path(id)}/${enabled ? 'disable' : 'enable'}`, { method: 'POST' })),
  }, enabled ? 'Disable' : 'Enable');
  const isArmed = armed.has(id) && Date.now() - armed.get(id) < ARM_MS;
  const remove = h('button', {
    type: 'button',
    class: 'danger',
    'data-action': isArmed ? 'confirm-delete' : 'delete',
    onclick: (e) => {
      if (!isArmed) {
        armed.set(id, Date.now());
        requestRefresh();
        return;
      }
      armed.delete(id);
      act(e.currentTarget, () => api(path(id), { method: 'DELETE' }));
    },
  }, isArmed ? 'Really delete?' : 'Delete');
  return h('span', { class: 'actions' }, toggle, ' ', remove);
}

async function add(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const f = form.elements;
  const node = {
    id: f.id.value.trim(),
    host: f.host.value.trim(),
    inference_port: Number(f.inference_port.value),
    poc_port: Number(f.poc_port.value),
    max_concurrent: Number(f.max_concurrent.value),
    models: { [f.model.value.trim()]: { args: [] } },
  };
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api('/admin/v1/nodes', { method: 'POST', body: node });
    say(`Node ${node.id} added.`, 'ok');
    f.id.value = '';
  } catch (e) {
    say(e.message, 'bad');
  } finally {
    button.disabled = false;
    requestRefresh();
  }
}

/** Hooks the add-node form up. */
export function init({ refresh: again }) {
  requestRefresh = again;
  document.getElementById('add-node').addEventListener('submit', add);
}

/** Redraws the tab from the registry. */
export async function refresh() {
  const records = await registry();
  const models = [...new Set(records.flatMap((r) => Object.keys(r.node.models || {})))].sort();
  mount(document.getElementById('known-models'), models.map((m) => h('option', { value: m })));
  mount(document.getElementById('nodes-table'), records.length === 0
    ? empty('No nodes registered.')
    : table([
      { label: 'Id', value: (r) => h('strong', {}, r.node.id) },
      { label: 'PoC id', class: 'num', value: (r) => String(r.node.node_num) },
      { label: 'Inference', value: (r) => `${r.node.host}:${r.node.inference_port}` },
      { label: 'Management', value: (r) => `${r.node.host}:${r.node.poc_port}` },
      { label: 'Models', value: (r) => Object.keys(r.node.models || {}).join(', ') },
      { label: 'Max concurrent', class: 'num', value: (r) => String(r.node.max_concurrent) },
      { label: 'Status', value: (r) => pill(r.state.current_status, r.state.current_status === 'INFERENCE' ? 'ok' : 'warn') },
      {
        label: 'Admin state',
        value: (r) => pill(r.state.admin_state.enabled ? 'enabled' : 'disabled', r.state.admin_state.enabled ? 'ok' : 'muted'),
      },
      { label: 'Last error', value: (r) => r.state.failure_reason || '—' },
      { label: '', value: actions },
    ], records, { rowAttrs: (r) => ({ 'data-node': r.node.id, 'data-enabled': String(r.state.admin_state.enabled) }) }));
}
