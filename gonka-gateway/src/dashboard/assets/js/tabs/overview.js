// Fleet overview: summary cards, one row per node (status, health, GPUs, memory, in-flight,
// models), and the health recommendations.

import { optional } from '../api.js';
import { fleet } from '../fleet.js';
import { ago, card, empty, h, mb, mount, num, pill, table } from '../dom.js';

function statusTone(node) {
  if (node.admitted === false) return 'muted';
  if (node.healthy === false || node.status === 'FAILED') return 'bad';
  if (node.status === 'INFERENCE') return 'ok';
  return 'warn';
}

function memory(node) {
  const m = node.memory;
  if (!m || (m.total_mb == null && m.free_mb == null)) return node.vram_mb != null ? mb(node.vram_mb) : '—';
  const text = `${mb(m.free_mb)} free / ${mb(m.total_mb)}`;
  const tone = { critical: 'bad', elevated: 'warn' }[String(m.pressure).toLowerCase()];
  return tone ? h('span', {}, text, ' ', pill(String(m.pressure).toLowerCase(), tone)) : text;
}

function health(node, byId) {
  const row = byId.get(node.id);
  if (row && row.availability != null) {
    return `${num(row.availability * 100, '%')} up · ${num((row.error_rate || 0) * 100, '%')} errors`;
  }
  if (node.healthy == null) return '—';
  return node.healthy ? 'healthy' : 'unhealthy';
}

const SEVERITY = { critical: 'bad', warning: 'warn', info: 'muted' };

/** Redraws the tab from the gateway's current data. */
export async function refresh() {
  const [f, { data: healthData, note }] = await Promise.all([fleet(), optional('/dashboard/api/health', 'Health analysis')]);
  const healthById = new Map(((healthData && healthData.nodes) || []).map((n) => [n.node_id, n]));
  const nodes = f.nodes || [];
  const gpus = nodes.filter((n) => n.gpu_type).length;
  const healthy = nodes.filter((n) => n.healthy === true || (n.healthy == null && n.status === 'INFERENCE')).length;
  mount(document.getElementById('overview-cards'),
    card('nodes', String(nodes.length)),
    card('routable', f.routable_nodes == null ? '—' : String(f.routable_nodes), f.routable_nodes ? 'ok' : 'bad'),
    card('healthy', `${healthy}/${nodes.length}`, healthy === nodes.length ? 'ok' : 'warn'),
    card('in flight', num(f.in_flight)),
    card('queued', num(f.queued_requests)),
    card('nodes with a GPU', String(gpus)));
  mount(document.getElementById('overview-nodes'), nodes.length === 0
    ? empty('No nodes registered yet: add one in the Nodes tab, or start ML node agents with --gateway-url.')
    : [
      f.partial ? h('p', { class: 'muted small' }, 'Live topology (/fleet/status) is not served by this gateway: showing the registry.') : null,
      table([
        { label: 'Node', value: (n) => h('strong', {}, n.id) },
        { label: 'Host', value: (n) => n.host || '—' },
        { label: 'Status', value: (n) => pill(n.admitted === false ? `${n.status} · disabled` : (n.status || 'unknown'), statusTone(n)) },
        { label: 'Health', value: (n) => health(n, healthById) },
        { label: 'In flight', class: 'num', value: (n) => (n.in_flight == null ? '—' : `${n.in_flight}/${n.max_concurrent ?? '?'}`) },
        { label: 'Queue', class: 'num', value: (n) => num(n.queue_depth) },
        { label: 'GPU', value: (n) => n.gpu_type || '—' },
        { label: 'Memory', value: memory },
        { label: 'Engine', value: (n) => n.engine || '—' },
        { label: 'Models', value: (n) => (n.models || []).join(', ') || '—' },
        { label: 'Heartbeat', value: (n) => (n.last_heartbeat_ms ? ago(n.last_heartbeat_ms) : (n.source || '—')) },
      ], nodes, { rowAttrs: (n) => ({ 'data-node': n.id }) }),
    ]);
  const recs = (healthData && healthData.recommendations) || [];
  mount(document.getElementById('overview-recommendations'), healthData === null
    ? empty(note)
    : recs.length === 0
      ? empty('No recommendations: the fleet looks fine.')
      : h('ul', { class: 'recs' }, recs.map((r) => h('li', {},
        pill(r.severity, SEVERITY[r.severity] || 'muted'), ' ', r.message))));
}
