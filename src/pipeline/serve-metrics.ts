/**
 * What a semid server has done, in Prometheus' text format (GET /metrics): requests by route and
 * status, a latency histogram per route, and the batcher's counts, so that a service's monitoring
 * scrapes it as it does Triton's or TF Serving's.
 */
import type { AskBatcherStats } from './ask-batcher.js';

/** Upper bounds of the latency histogram's buckets, in seconds (Prometheus' unit). */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Requests, by route and status, and their latencies. Routes outside `routes` count as "other". */
export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, { buckets: Float64Array; sum: number; count: number }>();

  constructor(private readonly routes: readonly string[]) {}

  /**
   * Count one request, answered with `status` (or "closed": its client left first) after `seconds`.
   * @example metrics.record('/search', 200, 0.012);
   */
  record(route: string, status: number | 'closed', seconds: number): void {
    const r = this.routes.includes(route) ? route : 'other';
    const key = `${r}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.latency.get(r);
    if (!h) this.latency.set(r, (h = { buckets: new Float64Array(LATENCY_BUCKETS_S.length), sum: 0, count: 0 }));
    LATENCY_BUCKETS_S.forEach((le, i) => { if (seconds <= le) h!.buckets[i]++; });
    h.sum += seconds;
    h.count++;
  }

  /**
   * The exposition text (version 0.0.4), the batcher's counts included.
   * @example metrics.text(batcher.stats()) // '# HELP semid_requests_total ...'
   */
  text(stats: AskBatcherStats): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    metric('semid_requests_total', 'counter', 'HTTP requests by route and status ("closed": the client left before the answer).');
    for (const [key, n] of [...this.requests].sort(([a], [b]) => a.localeCompare(b))) {
      const [route, status] = key.split('\u0000');
      lines.push(`semid_requests_total{route="${route}",status="${status}"} ${n}`);
    }
    metric('semid_request_duration_seconds', 'histogram', 'Time from a request\'s arrival to its answer, by route.');
    for (const [route, h] of [...this.latency].sort(([a], [b]) => a.localeCompare(b))) {
      LATENCY_BUCKETS_S.forEach((le, i) => lines.push(`semid_request_duration_seconds_bucket{route="${route}",le="${le}"} ${h.buckets[i]}`));
      lines.push(`semid_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${h.count}`);
      lines.push(`semid_request_duration_seconds_sum{route="${route}"} ${h.sum}`);
      lines.push(`semid_request_duration_seconds_count{route="${route}"} ${h.count}`);
    }
    const gauge = (name: string, type: string, help: string, value: number) => { metric(name, type, help); lines.push(`${name} ${value}`); };
    gauge('semid_queries_answered_total', 'counter', 'Queries answered (a request may hold several).', stats.answered);
    gauge('semid_batches_total', 'counter', 'Batches decoded.', stats.batches);
    gauge('semid_largest_batch', 'gauge', 'The largest batch decoded so far, in queries.', stats.largestBatch);
    gauge('semid_queries_waiting', 'gauge', 'Queries waiting for a batch now.', stats.waiting);
    gauge('semid_queries_decoding', 'gauge', 'Queries being decoded now.', stats.decoding);
    return lines.join('\n') + '\n';
  }
}
