/**
 * Loaded into every test process (.taprc `node-arg`). tap's @tapjs/processinfo adds its
 * `--import` to NODE_OPTIONS of every process a test spawns; in a child that hook runs each
 * loaded module through a loader thread, which tripled the CPU time of a short `earshot analyze`
 * (0.56 s → 1.6 s) and cost the suite minutes, since most tests spawn the built CLI. Coverage is
 * off (.taprc), so the children do not need it: this removes that one `--import` from the
 * environment of every spawned process and leaves the rest of NODE_OPTIONS as the test set it.
 * The listener runs after processinfo's (registered by its own earlier `--import`).
 */
import processOnSpawn from 'process-on-spawn';

const PROCESSINFO_IMPORT = /^--(import|loader|experimental-loader)=\S*@tapjs[/\\]processinfo\S*$/;

processOnSpawn.addListener((spawn) => {
  const nodeOptions = spawn.env.NODE_OPTIONS;
  if (!nodeOptions) return;
  // processinfo writes its options unquoted or as one double-quoted word each.
  const kept = nodeOptions
    .split(/\s+/)
    .filter((word) => !PROCESSINFO_IMPORT.test(word.replace(/^"|"$/g, '')))
    .join(' ');
  const env = { ...spawn.env };
  if (kept.trim()) env.NODE_OPTIONS = kept;
  else delete env.NODE_OPTIONS;
  spawn.env = env;
});
