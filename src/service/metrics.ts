// A small Prometheus registry: counters, gauges and histograms in the text exposition format; and the
// service's own metrics.

import { type EndpointName, isEndpointName } from '../client/index.js';

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys
    .map(
      (k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
    )
    .join(',');
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

/** A counter, per label set. */
export class Counter implements Metric {
  readonly type = 'counter' as const;
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

/** A gauge whose value is collected when the registry renders. */
export class Gauge implements Metric {
  readonly type = 'gauge' as const;
  #collect: () => Promise<number> | number = () => 0;
  #last = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  collectWith(fn: () => Promise<number> | number): void {
    this.#collect = fn;
  }
  async refresh(): Promise<void> {
    this.#last = await this.#collect();
  }
  render(): string[] {
    return [`${this.name} ${this.#last}`];
  }
}

/** A histogram of seconds, per label set. */
export class Histogram implements Metric {
  readonly type = 'histogram' as const;
  readonly #series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  ) {}
  observe(labels: Labels, seconds: number): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.bounds.length; i++) if (seconds <= this.bounds[i]!) s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }
  count(labels: Labels): number {
    return this.#series.get(labelKey(labels))?.count ?? 0;
  }
  render(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.#series) {
      const sep = k ? `${k},` : '';
      for (const [i, b] of this.bounds.entries())
        out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.buckets[i]}`);
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

/** A set of metrics rendered together in the Prometheus text format (`GET /metrics`). */
export class Registry {
  readonly #metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    const m = new Counter(name, help);
    this.#metrics.push(m);
    return m;
  }
  gauge(name: string, help: string): Gauge {
    const m = new Gauge(name, help);
    this.#metrics.push(m);
    return m;
  }
  histogram(name: string, help: string, bounds?: readonly number[]): Histogram {
    const m = new Histogram(name, help, bounds);
    this.#metrics.push(m);
    return m;
  }
  async render(): Promise<string> {
    const lines: string[] = [];
    for (const m of this.#metrics) {
      if (m instanceof Gauge) await m.refresh().catch(() => {});
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return `${lines.join('\n')}\n`;
  }
}

/**
 * The `endpoint` label of an upstream call: the client's gateway call name, or `seller_api` for any seller API
 * call made through the proxy. Those are named by method and path, and paths may hold resource ids: a fixed
 * label keeps them out of /metrics and the series bounded.
 */
export function upstreamEndpointLabel(endpoint: string): EndpointName | 'seller_api' {
  return isEndpointName(endpoint) ? endpoint : 'seller_api';
}

/** The service's metrics. */
export function serviceMetrics() {
  const registry = new Registry();
  return {
    registry,
    connectsStarted: registry.counter('noon_connect_connects_started_total', 'Connect flows started'),
    connectsCompleted: registry.counter(
      'noon_connect_connects_completed_total',
      'Connect flows that ended connected',
    ),
    connectsFailed: registry.counter(
      'noon_connect_connects_failed_total',
      'Connect flows that ended without a connection, by outcome',
    ),
    upstreamLatency: registry.histogram(
      'noon_connect_upstream_request_seconds',
      'Noon API call latency by endpoint and status',
    ),
    orphans: registry.gauge(
      'noon_connect_orphans',
      'Attempts whose key may exist upstream without a stored copy (ORPHAN_SUSPECTED or NEEDS_RECONNECT)',
    ),
    needsAttention: registry.gauge(
      'noon_connect_needs_attention',
      'Attempts waiting for an operator (NEEDS_ATTENTION)',
    ),
    repairs: registry.counter('noon_connect_orphan_repairs_total', 'Orphan repairs completed'),
  };
}
/** The metrics a service keeps (see {@link serviceMetrics}). */
export type ServiceMetrics = ReturnType<typeof serviceMetrics>;
