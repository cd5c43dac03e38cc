import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * tsx bench/profile-top.ts FILE.cpuprofile [N] — where a V8 CPU profile's time went: self
 * time by source (our files, each package, node internals, GC, idle) and the top N functions.
 * For the profiles BENCH_CPU_PROF=1 npm run bench:tracking writes.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, top = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: tsx bench/profile-top.ts FILE.cpuprofile [N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
const parents = new Map(profile.nodes.flatMap((node) => (node.children ?? []).map((child): [number, number] => [child, node.id])));
const byFunction = new Map<string, number>();
const bySource = new Map<string, number>();
const byCaller = new Map<string, number>();
const add = (table: Map<string, number>, key: string, micros: number) => table.set(key, (table.get(key) ?? 0) + micros);
profile.samples.forEach((id, index) => {
  const frame = frames.get(id)!;
  const micros = profile.timeDeltas[index] ?? 0;
  const where = frame.url ? `${path.basename(frame.url)}:${frame.lineNumber + 1}` : '';
  add(byFunction, `${frame.functionName || '(anonymous)'} ${where}`.trim(), micros);
  add(bySource, sourceOf(frame), micros);
  add(byCaller, callerOf(id), micros);
});

/**
 * The nearest public, named function of ours (src/) on the sample's stack: native and
 * library time lands on the store method or step that asked for it (claimDue, checked, …).
 * tsx's line numbers are all 1, so names are what tells functions apart.
 */
function callerOf(id: number): string {
  const leaf = frames.get(id)!;
  if (!leaf.url) return leaf.functionName; // (idle), (garbage collector), (program), native code called from no JS
  for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
    const { functionName, url } = frames.get(at)!;
    const ours = /\/src\/(.*)$/.exec(url);
    if (ours && functionName && !functionName.startsWith('#')) return `${functionName} (${ours[1]})`;
  }
  return `not ours: ${sourceOf(leaf)}`;
}

function sourceOf(frame: ProfileNode['callFrame']): string {
  if (!frame.url) return frame.functionName; // (idle), (garbage collector), (program), native code
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (pkg) return `pkg ${pkg[1]}`;
  if (frame.url.startsWith('node:')) return frame.url.split('/').slice(0, 2).join('/');
  const ours = /\/(src\/.*)$/.exec(frame.url);
  return ours ? ours[1]! : frame.url;
}

const total = (profile.endTime - profile.startTime) / 1000;
const busy = total - (bySource.get('(idle)') ?? 0) / 1000;
console.log(`${file}: ${(total / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)}%)`);
for (const [title, table] of [['by source', bySource], ['by function', byFunction], ['by our caller', byCaller]] as const) {
  console.log(`\n${title} (self ms, % of busy)`);
  for (const [name, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
    if (name === '(idle)') continue;
    console.log(`${(micros / 1000).toFixed(0).padStart(8)}  ${((100 * micros) / 1000 / busy).toFixed(1).padStart(5)}%  ${name}`);
  }
}
