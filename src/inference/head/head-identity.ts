/**
 * What a node says of its head, as plain types: no Node, no runtime code. Apart from head-runtime.ts
 * (which re-exports them) so that src/api/schemas.ts, and through it the review page's type-check
 * (src/web/tsconfig.json: browser code, no Node types), do not pull in the head loader.
 */

/** Where a head in use came from. */
export type HeadOrigin = 'config' | 'auto' | 'push';

/** What a node says of its head (`/api/v1/node`, `/healthz`, MQTT health and alerts): docs/api.md. */
export interface HeadIdentity {
  /** sha256 of the head file's bytes. */
  readonly sha256: string;
  /** When it was trained, ISO 8601 UTC. */
  readonly trained_at: string;
  /** Clips it was trained on. */
  readonly clip_count: number;
  /** The labels it serves in this pipeline (its labels that are enabled in the config). */
  readonly labels: readonly string[];
  /** `config` (model.head), `auto` (the shipped head for this model) or `push` (earshot head push). */
  readonly origin: HeadOrigin;
}
