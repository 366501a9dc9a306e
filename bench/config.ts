/** Settings every benchmark takes from the command line. */
export interface BenchConfig {
  /** Length of each measured wrk run. */
  durationSec: number;
  /** Repetitions; tables show each run and summaries the median. */
  runs: number;
  /** Scratch folder for configs and state. */
  dir: string;
  /** CPU the proxy under test is pinned to (undefined: not pinned). */
  proxyCpus?: string;
  /** CPU the upstream and the load generators are pinned to. */
  loadCpus?: string;
}
