/**
 * The uncertainty queue (src/api/queries.ts) on a real SQLite file: without a head, events whose
 * peak sat closest to the threshold come first (not the gap between two classes of one label);
 * with a head's `head:<label>` scores stored, the event whose head probabilities are most even
 * (highest entropy) comes first; the `margin` strategy keeps the threshold margin's order.
 */
import t from 'tap';
import { ApiQueries } from '../src/api/queries.js';
import { buildNode, STANDARD_CLIPS } from './helpers/api-node.js';

t.test('uncertainty: threshold margin without a head, entropy with one', async (t) => {
  const node = buildNode(STANDARD_CLIPS);
  t.teardown(() => node.db.close());
  const queries = new ApiQueries(node.db);
  const [gunshot, glass, scream, speech] = node.clips;
  const order = () => queries.queue('uncertainty', 10, 0, 1).map((c) => c.id);
  t.same(order(), [glass!.id, speech!.id, scream!.id, gunshot!.id], 'by |peak − threshold|: 0.02, 0.2, 0.5, 0.75');

  // A head's probabilities for two events: the gunshot's head is torn (0.45 / 0.40 / rest 0.15),
  // the glass event's head is sure (0.97 / 0.02 / rest 0.01).
  const insert = node.db.prepare('INSERT INTO scores (event_id, patch_index, start_s, rank, model_id, class, score) VALUES (?, ?, ?, ?, ?, ?, ?)');
  insert.run(gunshot!.eventId, 100, 0, 4, 'yamnet', 'head:gunshot', 0.45);
  insert.run(gunshot!.eventId, 100, 0, 5, 'yamnet', 'head:explosion', 0.4);
  insert.run(glass!.eventId, 100, 0, 4, 'yamnet', 'head:glass_break', 0.97);
  insert.run(glass!.eventId, 100, 0, 5, 'yamnet', 'head:other', 0.02);
  const items = queries.queue('uncertainty', 10, 0, 1);
  t.same(
    items.map((c) => c.id),
    [gunshot!.id, speech!.id, scream!.id, glass!.id],
    'the torn head first; the sure one after the clips without head scores that sit near their threshold',
  );
  const entropy = (ps: number[]) => -ps.reduce((sum, p) => sum + p * Math.log(p), 0) / Math.log(ps.length);
  t.ok(Math.abs(items[0]!.head_entropy! - entropy([0.45, 0.4, 0.15])) < 1e-6, `gunshot entropy ${items[0]!.head_entropy}`);
  t.ok(Math.abs(items[0]!.uncertainty! - (1 - entropy([0.45, 0.4, 0.15]))) < 1e-6);
  t.ok(Math.abs(items[3]!.head_entropy! - entropy([0.97, 0.02, 0.01])) < 1e-6, `glass entropy ${items[3]!.head_entropy}`);
  t.equal(items[1]!.head_entropy, null);
  t.equal(items[1]!.uncertainty, items[1]!.threshold_margin, 'without head scores: the threshold margin');

  // `margin` keeps the closest-to-threshold order with the head scores stored.
  t.same(
    queries.queue('margin', 10, 0, 1).map((c) => c.id),
    [glass!.id, speech!.id, scream!.id, gunshot!.id],
    'margin: by |peak − threshold| whatever the head says',
  );
  t.same(
    queries.queue('margin', 2, 2, 1).map((c) => c.id),
    [scream!.id, gunshot!.id],
    'and pages by offset',
  );
});
