// PoC / epoch: where the epoch stands, the participants of the latest validated epoch with their
// weights, and each ML node's validation outcome (`/dashboard/api/poc`).

import { api } from '../api.js';
import { card, empty, h, mount, num, pill, table } from '../dom.js';

const OUTCOME = { valid: 'ok', fraud: 'bad', inconclusive: 'warn', no_artifacts: 'muted' };

/** Redraws the tab from the gateway's current data. */
export async function refresh() {
  const data = await api('/dashboard/api/poc');
  const cards = document.getElementById('poc-cards');
  const participantsBox = document.getElementById('poc-participants');
  const outcomesBox = document.getElementById('poc-outcomes');
  if (data === null) {
    mount(cards, empty('PoC status (/dashboard/api/poc) is not served by this gateway.'));
    mount(participantsBox);
    mount(outcomesBox);
    return;
  }
  const phase = data.phase ? data.phase.phase.replace('_', ' ') : null;
  mount(cards,
    card('epoch', String(data.epoch)),
    card('phase', phase || (data.enabled ? '—' : 'PoC off'), data.enabled ? 'ok' : 'muted'),
    card('last round', data.last_round_epoch == null ? '—' : `epoch ${data.last_round_epoch}`),
    card('validated', data.validated_epoch == null ? '—' : `epoch ${data.validated_epoch}`),
    card('total weight', num(data.total_weight)));
  if (!data.enabled) {
    mount(participantsBox, empty('Proof-of-Compute is not enabled on this gateway (start it with --poc).'));
    mount(outcomesBox);
    return;
  }
  const p = data.participants;
  const people = (p && p.active_participants && p.active_participants.participants) || [];
  mount(participantsBox, !p
    ? empty('No epoch validated yet: the first result appears after the validate phase.')
    : [
      table([
        { label: 'Participant', value: (x) => x.index },
        { label: 'Weight', class: 'num', value: (x) => num(x.weight) },
        { label: 'Models', value: (x) => (x.models || []).join(', ') || '—' },
        { label: 'Inference URL', value: (x) => x.inference_url },
        { label: 'Validator key', value: (x) => h('code', {}, `${String(x.validator_key).slice(0, 16)}…`) },
      ], people),
      ...(p.excluded_participants || []).map((x) => h('p', { class: 'muted small' }, `Excluded ${x.address}: ${x.reason}`)),
    ]);
  const outcomes = data.outcomes || [];
  mount(outcomesBox, outcomes.length === 0
    ? empty('No validation outcomes yet.')
    : table([
      { label: 'Node', value: (o) => h('strong', {}, o.node_id) },
      { label: 'PoC id', class: 'num', value: (o) => String(o.node_num) },
      { label: 'Model', value: (o) => o.model },
      { label: 'Outcome', value: (o) => pill(o.outcome.replace('_', ' '), OUTCOME[o.outcome]) },
      { label: 'Nonces', class: 'num', value: (o) => num(o.count) },
      { label: 'Sampled', class: 'num', value: (o) => num(o.n_total) },
      { label: 'Mismatches', class: 'num', value: (o) => num(o.n_mismatch) },
      { label: 'p-value', class: 'num', value: (o) => (o.p_value == null ? '—' : Number(o.p_value).toPrecision(3)) },
      { label: 'Weight', class: 'num', value: (o) => num(o.weight) },
    ], outcomes, { rowAttrs: (o) => ({ 'data-node': o.node_id }) }));
}
