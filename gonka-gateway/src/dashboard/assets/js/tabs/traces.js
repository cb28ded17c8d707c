// Traces: recent routing decisions, filterable by model, node and status; a click on a row opens
// its score breakdown (each signal's contribution) and the decision's details.

import { optional } from '../api.js';
import { empty, h, mount, ms, num, pill, table, time } from '../dom.js';

const expanded = new Set();
let requestRefresh = () => {};

const STATUS = { completed: 'ok', failed: 'bad', rejected: 'warn', cancelled: 'muted' };

function query() {
  const form = document.getElementById('trace-filters');
  const params = new URLSearchParams();
  for (const name of ['limit', 'model', 'node_id', 'status']) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params.toString();
}

function breakdown(trace) {
  const signals = Object.entries(trace.scores_breakdown || {});
  const widest = Math.max(1, ...signals.map(([, v]) => Math.abs(v)));
  const bars = signals.length === 0
    ? h('p', { class: 'muted small' }, 'No score breakdown: the policy that chose this node does not explain its picks.')
    : h('table', { class: 'breakdown' }, h('tbody', {}, signals.map(([signal, value]) => {
      const bar = h('span', { class: `bar ${value < 0 ? 'neg' : 'pos'}` });
      bar.style.width = `${Math.round((Math.abs(value) / widest) * 100)}%`;
      return h('tr', { 'data-signal': signal },
        h('th', {}, signal),
        h('td', { class: 'num' }, num(value)),
        h('td', { class: 'bar-cell' }, bar));
    })));
  const facts = [
    ['request id', trace.request_id],
    ['api / endpoint', `${trace.api} ${trace.endpoint}`],
    ['score', num(trace.score)],
    ['candidates', num(trace.candidates)],
    ['queue wait', ms(trace.queue_wait_ms)],
    ['TTFT', ms(trace.ttft_ms)],
    ['latency', ms(trace.latency_ms)],
    ['tokens (prompt / completion)', `${num(trace.prompt_tokens)} / ${num(trace.completion_tokens)}`],
    ['HTTP status', trace.http_status ?? '—'],
    ['retries', num(trace.retries)],
    ['stream', trace.stream ? 'yes' : 'no'],
    ['API key / app', `${trace.api_key ?? '—'} / ${trace.app_tag ?? '—'}`],
  ];
  return h('tr', { class: 'detail' }, h('td', { colspan: 9 },
    h('div', { class: 'detail-grid' },
      h('div', {}, h('h3', {}, 'Score breakdown'), bars),
      h('dl', {}, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])))));
}

function fillList(id, values) {
  const list = document.getElementById(id);
  const sorted = [...new Set(values.filter(Boolean))].sort();
  if (list.dataset.values === sorted.join('\n')) return;
  list.dataset.values = sorted.join('\n');
  mount(list, sorted.map((v) => h('option', { value: v })));
}

/** Hooks the filters up: any change refreshes at once. */
export function init({ refresh: again }) {
  requestRefresh = again;
  const form = document.getElementById('trace-filters');
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('change', () => requestRefresh());
}

/** Redraws the tab from the gateway's current data. */
export async function refresh() {
  const { data, note } = await optional(`/dashboard/api/traces?${query()}`, 'Request traces');
  const traces = (data && data.traces) || [];
  fillList('trace-models', traces.map((t) => t.model));
  fillList('trace-nodes', traces.map((t) => t.node_id));
  const toggle = (t) => () => {
    if (expanded.has(t.request_id)) expanded.delete(t.request_id);
    else expanded.add(t.request_id);
    requestRefresh();
  };
  mount(document.getElementById('traces-table'), data === null
    ? empty(note)
    : traces.length === 0
      ? empty('No traces match: send a request through the gateway, or loosen the filters.')
      : table([
        { label: 'Time', value: (t) => time(t.timestamp_ms) },
        { label: 'Model', value: (t) => t.model },
        { label: 'Node', value: (t) => t.node_id ?? '—' },
        { label: 'Status', value: (t) => pill(t.status, STATUS[t.status]) },
        { label: 'Score', class: 'num', value: (t) => num(t.score) },
        { label: 'Queue', class: 'num', value: (t) => ms(t.queue_wait_ms) },
        { label: 'TTFT', class: 'num', value: (t) => ms(t.ttft_ms) },
        { label: 'Latency', class: 'num', value: (t) => ms(t.latency_ms) },
        { label: 'Tokens', class: 'num', value: (t) => num(t.completion_tokens) },
      ], traces, {
        rowAttrs: (t) => ({
          class: `trace ${expanded.has(t.request_id) ? 'open' : ''}`,
          'data-request-id': t.request_id,
          onclick: toggle(t),
        }),
        after: (t) => (expanded.has(t.request_id) ? breakdown(t) : null),
      }));
}
