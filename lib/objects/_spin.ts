/**
 * How long one end of a channel spins for its peer before it blocks.
 *
 * @module
 */

/**
 * A spin long enough to catch an answer that comes as fast as recent ones did, never long enough
 * to burn a core on a peer that is busy for longer. Recent waits are summed up as a moving
 * average of their logarithm (weight 1/8), so one long pause moves it by a factor, not by its
 * length: a 1 s pause after waits of 500 µs makes the typical wait 1.3 ms, and three more short
 * waits bring it back under 1 ms.
 */
export class Spin {
  /** The shortest spin, in µs; also the one used when recent waits were too long to catch. */
  static readonly MIN_US = 100;
  /** The longest spin, in µs. */
  static readonly MAX_US = 2000;
  readonly #cpus: number;
  /** log2 of the typical wait, in µs. */
  #log2Us = Math.log2(Spin.MIN_US);
  /** The typical wait, in µs (2 ** #log2Us, kept: `**` costs a call to pow). */
  #typicalUs = Spin.MIN_US;

  /** @param cpus How many CPUs there are: on one, spinning only keeps the peer from running. */
  constructor(cpus: number = navigator.hardwareConcurrency) {
    this.#cpus = cpus;
  }

  /** The typical wait, in µs. */
  get typicalMicros(): number {
    return this.#typicalUs;
  }

  /**
   * The spin for the next wait, in µs: twice the typical wait, from {@link MIN_US} to
   * {@link MAX_US}; {@link MIN_US} when twice the typical wait is longer than that; 0 on one CPU.
   *
   * @param timeoutMs The wait's timeout: the spin never exceeds it.
   * @param fixed The caller's own choice, used as it is.
   */
  micros(timeoutMs: number, fixed?: number): number {
    let us = fixed;
    if (us === undefined) {
      const twice = 2 * this.typicalMicros;
      if (this.#cpus < 2) us = 0;
      else us = twice <= Spin.MAX_US ? Math.max(Spin.MIN_US, twice) : Spin.MIN_US;
    }
    return Math.min(us, timeoutMs * 1000);
  }

  /** Records how long a wait took, in ms. */
  record(ms: number): void {
    this.#log2Us += (Math.log2(Math.max(1, ms * 1000)) - this.#log2Us) / 8;
    this.#typicalUs = 2 ** this.#log2Us;
  }
}
