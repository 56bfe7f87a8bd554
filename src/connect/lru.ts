// A small bounded LRU map (seller sessions with their imported keys).

import { usageError } from './errors.js';

export class LruCache<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw usageError('LRU size must be a positive integer');
    this.#max = max;
  }

  get(k: K): V | undefined {
    const v = this.#map.get(k);
    if (v !== undefined) {
      this.#map.delete(k);
      this.#map.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): void {
    this.#map.delete(k);
    this.#map.set(k, v);
    while (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K);
  }

  delete(k: K): void {
    this.#map.delete(k);
  }

  get size(): number {
    return this.#map.size;
  }
}
