/**
 * A one-line progress bar for a terminal: `[#########         ] 312/1000  48.2/s  14 s left`.
 * Lines written above it ({@link ProgressBar.above}) clear the bar's line first, so they never
 * run into it.
 *
 * @module
 */

const encoder = new TextEncoder();
const WIDTH = 30;

/** A progress bar over `total` steps, drawn on stdout. */
export class ProgressBar {
  readonly #total: number;
  readonly #start = performance.now();
  #drawn = false;

  /** @param total The number of steps. */
  constructor(total: number) {
    this.#total = total;
  }

  /** Draws the bar at step `done`, with the rate so far and the time left at that rate. */
  draw(done: number): void {
    const seconds = (performance.now() - this.#start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const left = rate > 0 ? (this.#total - done) / rate : 0;
    const filled = Math.round((done / this.#total) * WIDTH);
    const text = `[${"#".repeat(filled)}${" ".repeat(WIDTH - filled)}] ${done}/${this.#total}  ` +
      `${rate.toFixed(1)}/s  ${left < 1 ? "<1" : Math.round(left)} s left`;
    Deno.stdout.writeSync(encoder.encode(`\r\x1b[2K${text}`));
    this.#drawn = true;
  }

  /** Writes `line` above the bar. */
  above(line: string): void {
    if (this.#drawn) Deno.stdout.writeSync(encoder.encode("\r\x1b[2K"));
    console.log(line);
  }

  /** Ends the bar's line. */
  end(): void {
    if (this.#drawn) console.log();
    this.#drawn = false;
  }
}
