// Retained sizes from a V8 heap snapshot, for the idle-session memory row (bench/_connect-child.ts). The retained
// size of an object is the bytes the heap would free without it: the self sizes of every object it dominates,
// i.e. of every object no path from the GC roots reaches without passing through it (weak edges, and Node's
// cleanup queue, do not hold).
// Native memory that Node reports into the snapshot (a KeyObject's key, for one) counts like any other node.
// A sum of self sizes cannot go negative, and a snapshot is taken after a full GC: no allocation noise.

import { readFileSync } from 'node:fs';

interface RawSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The parsed graph: node i's fields at `nodes[i * nodeFields]`, its edges from `firstEdge[i]` to `firstEdge[i + 1]`. */
export class HeapGraph {
  readonly count: number;
  readonly #s: RawSnapshot;
  readonly #nf: number;
  readonly #ef: number;
  readonly #type: number;
  readonly #name: number;
  readonly #size: number;
  readonly #edgeType: number;
  readonly #edgeName: number;
  readonly #toNode: number;
  readonly #weak: number;
  readonly #nodeTypes: string[];
  readonly #edgeTypes: string[];
  readonly #firstEdge: Uint32Array;
  /** Nodes whose edges hold nothing alive (see the constructor). */
  readonly #bookkeeping: Uint8Array;

  constructor(file: string) {
    this.#s = JSON.parse(readFileSync(file, 'utf8')) as RawSnapshot;
    const meta = this.#s.snapshot.meta;
    this.#nf = meta.node_fields.length;
    this.#ef = meta.edge_fields.length;
    this.#type = meta.node_fields.indexOf('type');
    this.#name = meta.node_fields.indexOf('name');
    this.#size = meta.node_fields.indexOf('self_size');
    const edgeCount = meta.node_fields.indexOf('edge_count');
    this.#edgeType = meta.edge_fields.indexOf('type');
    this.#edgeName = meta.edge_fields.indexOf('name_or_index');
    this.#toNode = meta.edge_fields.indexOf('to_node');
    this.#nodeTypes = meta.node_types[0];
    this.#edgeTypes = meta.edge_types[0];
    this.#weak = this.#edgeTypes.indexOf('weak');
    this.count = this.#s.nodes.length / this.#nf;
    this.#firstEdge = new Uint32Array(this.count + 1);
    for (let i = 0, e = 0; i < this.count; i++) {
      this.#firstEdge[i] = e;
      e += this.#s.nodes[i * this.#nf + edgeCount]! * this.#ef;
    }
    this.#firstEdge[this.count] = this.#s.edges.length;
    // Node's cleanup queue lists every native-backed object (a KeyObject's handle, for one) so that it can be
    // freed when the process ends; it does not keep one alive (the object goes with its JS wrapper), but the
    // snapshot draws it as a strong edge to every wrapper, which would make no such object anyone else's.
    this.#bookkeeping = new Uint8Array(this.count);
    for (let i = 0; i < this.count; i++)
      if (this.type(i) === 'native' && this.name(i) === 'Node / CleanupQueue') this.#bookkeeping[i] = 1;
  }

  name(i: number): string {
    return this.#s.strings[this.#s.nodes[i * this.#nf + this.#name]!]!;
  }

  type(i: number): string {
    return this.#nodeTypes[this.#s.nodes[i * this.#nf + this.#type]!]!;
  }

  selfSize(i: number): number {
    return this.#s.nodes[i * this.#nf + this.#size]!;
  }

  /** The objects (type `object`) whose constructor is `name`. */
  objectsNamed(name: string): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) if (this.type(i) === 'object' && this.name(i) === name) out.push(i);
    return out;
  }

  /** The nodes node i holds, by strong edges: [edge name, node]. */
  children(i: number): [string, number][] {
    const out: [string, number][] = [];
    if (this.#bookkeeping[i]) return out;
    for (let e = this.#firstEdge[i]!; e < this.#firstEdge[i + 1]!; e += this.#ef) {
      const t = this.#s.edges[e + this.#edgeType]!;
      if (t === this.#weak) continue;
      const n = this.#s.edges[e + this.#edgeName]!;
      const typeName = this.#edgeTypes[t];
      const name = typeName === 'element' || typeName === 'hidden' ? String(n) : this.#s.strings[n]!;
      out.push([name, this.#s.edges[e + this.#toNode]! / this.#nf]);
    }
    return out;
  }

  /** Calls `fn` with each node that node i holds by a strong edge (none for bookkeeping nodes). */
  #eachHeld(i: number, fn: (to: number) => void): void {
    if (this.#bookkeeping[i]) return;
    for (let e = this.#firstEdge[i]!; e < this.#firstEdge[i + 1]!; e += this.#ef) {
      if (this.#s.edges[e + this.#edgeType] === this.#weak) continue;
      fn(this.#s.edges[e + this.#toNode]! / this.#nf);
    }
  }

  /** Marks every node reachable from `from` by strong edges without passing through `blocked`. */
  reach(from: number, blocked: ReadonlySet<number> = new Set()): Uint8Array {
    const seen = new Uint8Array(this.count);
    const stack = [from];
    seen[from] = 1;
    while (stack.length > 0) {
      this.#eachHeld(stack.pop()!, (to) => {
        if (seen[to] || blocked.has(to)) return;
        seen[to] = 1;
        stack.push(to);
      });
    }
    return seen;
  }

  /**
   * The `targets` reachable from `from` by a path that passes through no other target and no node marked in
   * `skip` (a target marked in `skip` is still found).
   */
  firstReached(from: number, targets: ReadonlySet<number>, skip?: Uint8Array): Set<number> {
    const found = new Set<number>();
    const seen = new Uint8Array(this.count);
    const stack = [from];
    seen[from] = 1;
    while (stack.length > 0) {
      this.#eachHeld(stack.pop()!, (to) => {
        if (seen[to]) return;
        seen[to] = 1;
        if (targets.has(to)) found.add(to);
        else if (!skip?.[to]) stack.push(to);
      });
    }
    return found;
  }

  /** Marks every node reachable from the root (node 0) by strong edges without passing through `blocked`. */
  reachableWithout(blocked: ReadonlySet<number>): Uint8Array {
    return this.reach(0, blocked);
  }

  /**
   * What `holders` retain between them, and each alone: the nodes reachable from a holder but not from the root
   * without passing through one of them. A node reached from two holders (and from no other path) is `shared`.
   */
  retained(holders: readonly number[]): { total: number; each: number[]; shared: number } {
    const blocked = new Set(holders);
    const live = this.reachableWithout(blocked);
    const owner = new Int32Array(this.count).fill(-1);
    const each = holders.map(() => 0);
    let shared = 0;
    holders.forEach((h, k) => {
      owner[h] = k;
      each[k]! += this.selfSize(h);
    });
    holders.forEach((h, k) => {
      const stack = [h];
      while (stack.length > 0) {
        const i = stack.pop()!;
        if (this.#bookkeeping[i]) continue;
        // What a shared node reaches is shared too (the first holder to get there had taken it).
        const mark = owner[i] === -2 ? -2 : k;
        for (let e = this.#firstEdge[i]!; e < this.#firstEdge[i + 1]!; e += this.#ef) {
          if (this.#s.edges[e + this.#edgeType] === this.#weak) continue;
          const to = this.#s.edges[e + this.#toNode]! / this.#nf;
          const o = owner[to]!;
          if (live[to] || blocked.has(to) || o === mark || o === -2) continue;
          const size = this.selfSize(to);
          if (o === -1 && mark === k) each[k]! += size;
          else {
            if (o >= 0) each[o]! -= size;
            shared += size;
          }
          owner[to] = o === -1 ? mark : -2;
          stack.push(to);
        }
      }
    });
    return { total: each.reduce((a, b) => a + b, 0) + shared, each, shared };
  }
}
