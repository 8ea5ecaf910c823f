#!/usr/bin/env node
/**
 * Builds the review page (src/web) into dist/web: one minified ES2020 bundle (Preact and every
 * dependency inside it: no CDN, works offline on a LAN), its stylesheet, and index.html.
 * Run by `npm run build` after tsc has type-checked src/web (src/web/tsconfig.json).
 * Prints the bundle's size in bytes and gzipped.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'web');
const out = join(root, 'dist', 'web');
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { app: join(source, 'main.tsx'), style: join(source, 'app.css') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(source, 'index.html'), join(out, 'index.html'));

const sizes = ['app.js', 'style.css'].map((name) => {
  const bytes = readFileSync(join(out, name));
  return `${name} ${bytes.length} B (gzip ${gzipSync(bytes, { level: 9 }).length} B)`;
});
console.log(`web: dist/web: ${sizes.join(', ')}`);
