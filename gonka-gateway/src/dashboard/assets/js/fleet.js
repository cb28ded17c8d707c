// The fleet as the dashboard shows it: `/fleet/status` (the gateway's live topology) when the
// gateway serves it, else the registry (`/admin/v1/nodes`) with the gateway's counts
// (`/dashboard/api/status`), in the same shape.

import { api } from './api.js';

/** Registry records → `/fleet/status` nodes (live fields unknown: null). */
function fromRegistry(records, status) {
  const nodes = (records || []).map((r) => {
    const hw = (r.node.hardware || [])[0];
    return {
      id: r.node.id,
      host: r.node.host,
      status: r.state.current_status,
      healthy: null,
      admitted: r.state.admin_state.enabled,
      in_flight: null,
      max_concurrent: r.node.max_concurrent,
      queue_depth: null,
      models: Object.keys(r.node.models || {}),
      loaded: [],
      disk_models: [],
      gpu_type: hw ? `${hw.count ?? 1}× ${hw.type}` : null,
      vram_mb: null,
      memory: null,
      engine: null,
      last_heartbeat_ms: null,
      source: 'registry',
    };
  });
  const names = [...new Set(nodes.flatMap((n) => n.models))].sort();
  return {
    nodes,
    models: names.map((name) => ({ name, hot: [], warm: [] })),
    routable_nodes: status ? status.routable_nodes : null,
    queued_requests: null,
    in_flight: status ? status.in_flight : null,
    partial: true,
  };
}

/** The fleet now; `partial` is true when built from the registry (no `/fleet/status`). */
export async function fleet() {
  const [live, status] = await Promise.all([api('/fleet/status'), api('/dashboard/api/status')]);
  if (live) {
    const inFlight = (live.nodes || []).reduce((sum, n) => sum + (n.in_flight || 0), 0);
    return { ...live, in_flight: status ? status.in_flight : inFlight, partial: false };
  }
  return fromRegistry(await api('/admin/v1/nodes'), status);
}

/** The registry's records (`/admin/v1/nodes`), `[]` when none. */
export async function registry() {
  return (await api('/admin/v1/nodes')) || [];
}
