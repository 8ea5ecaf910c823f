/**
 * The import rules of src/ (`npm run lint:imports`, part of `npm test`): imports point one way,
 * down the data flow, and never in a circle. Type-only imports count as imports.
 *
 * Layers, low to high (disjoint patterns); a module may import its own layer and the layers below
 * it, never one above.
 * Every module of src/ is in exactly one layer: a new folder fails the check (`module-in-no-layer`)
 * until it is placed here; a new top-level file is a shared leaf, so the check fails if it imports
 * anything but other leaves (then list it where it belongs).
 */
/** Top-level modules of src/ that belong to a layer above the shared leaves. */
const DETECT_FILES = ['events', 'consumer'];
const COMMAND_FILES = ['daemon', 'consumer-list', 'analyze', 'analysis-jobs', 'evaluate', 'tune', 'setup'];
const topLevel = (names) => `^src/(${names.join('|')})[.]ts$`;

const LAYERS = [
  // Leaf modules anyone may import (types, errors, log, constants, ...: every other top-level
  // module of src/): they import only each other.
  ['shared', `^src/(?!(${[...DETECT_FILES, ...COMMAND_FILES].join('|')})[.]ts$)[^/]+[.]ts$`],
  ['config', '^src/config/'],
  ['capture', '^src/capture/'],
  ['frontend', '^src/frontend/'],
  ['inference', '^src/inference/'],
  // Detection, and what the stream hands its consumers (events, the consumer interface).
  ['detect', `^src/detect/|${topLevel(DETECT_FILES)}`],
  ['store-transport-monitor', '^src/(store|transport|monitor)/'],
  ['api-learn-eval-web', '^src/(api|learn|eval|web)/'],
  // One stream wired together: front end, models, scheduler, detector, model set and reload.
  ['pipeline', '^src/pipeline/'],
  // What the commands run: the daemon (its consumer list, its service side), analyze, eval, tune,
  // and setup (config → models and pipeline settings, which they share).
  ['commands', `^src/service/|${topLevel(COMMAND_FILES)}`],
  ['cli', '^src/cli/'],
];

/** One pattern for several layers. */
const anyOf = (layers) => layers.map(([, path]) => `(${path})`).join('|');

const ALL_LAYERS = anyOf(LAYERS);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: move what both sides need into a lower module (types apart from implementations).',
      from: {},
      to: { circular: true },
    },
    ...LAYERS.slice(0, -1).map(([name], index) => ({
      name: `${name}-imports-upward`,
      severity: 'error',
      comment: `The ${name} layer imports a higher layer (order in .dependency-cruiser.cjs): move the shared part down, or the importer up.`,
      from: { path: LAYERS[index][1] },
      to: { path: anyOf(LAYERS.slice(index + 1)) },
    })),
    {
      name: 'module-in-no-layer',
      severity: 'error',
      comment: 'A module of src/ in no layer: add it to LAYERS in .dependency-cruiser.cjs.',
      from: { path: '^src/', pathNot: ALL_LAYERS },
      to: { path: '^src/' },
    },
    {
      name: 'import-of-module-in-no-layer',
      severity: 'error',
      comment: 'A module of src/ in no layer: add it to LAYERS in .dependency-cruiser.cjs.',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: ALL_LAYERS },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies too (an upward `import type` couples the layers all the same).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
