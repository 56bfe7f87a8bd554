// A lookup map derived from one record table: built on first use (most sandboxes never need it), kept up as
// records are added, and rebuilt whenever the table grew by records it did not see (stored around it).

export class DerivedIndex<R, V> {
  #map: Map<string, V> | undefined;
  /** How many records of the table the map covers. */
  #seen = 0;
  readonly #table: { readonly size: number; values(): Iterable<R> };
  readonly #add: (map: Map<string, V>, record: R) => void;

  constructor(
    table: { readonly size: number; values(): Iterable<R> },
    add: (map: Map<string, V>, record: R) => void,
  ) {
    this.#table = table;
    this.#add = add;
  }

  /** The map, built (or rebuilt, if records were stored around it) from the whole table when needed. */
  get(): Map<string, V> {
    if (!this.#map || this.#seen !== this.#table.size) {
      const map = new Map<string, V>();
      for (const r of this.#table.values()) this.#add(map, r);
      this.#map = map;
      this.#seen = this.#table.size;
    }
    return this.#map;
  }

  /** To be called right after `record` was stored as a new record of the table. */
  added(record: R): void {
    if (!this.#map) return;
    if (this.#seen !== this.#table.size - 1) {
      this.#map = undefined;
      return;
    }
    this.#seen++;
    this.#add(this.#map, record);
  }
}
