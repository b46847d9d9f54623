import assert from "node:assert/strict";
import { Spin } from "./_spin.ts";

const record = (spin: Spin, ms: number, times: number) => {
  for (let i = 0; i < times; i++) spin.record(ms);
};

Deno.test("Spin starts at twice its shortest spin and follows waits that spinning can catch", () => {
  const spin = new Spin(2);
  assert.equal(Math.round(spin.micros(Infinity)), 2 * Spin.MIN_US);
  record(spin, 0.4, 100); // answers in 400 µs
  assert.ok(Math.abs(spin.micros(Infinity) - 800) < 1, String(spin.micros(Infinity)));
  record(spin, 0.002, 100); // answers in 2 µs
  assert.equal(spin.micros(Infinity), Spin.MIN_US);
});

Deno.test("Spin spins only briefly when recent waits were longer than it could cover", () => {
  const spin = new Spin(2);
  record(spin, 0.9, 100);
  assert.ok(spin.micros(Infinity) > 1700 && spin.micros(Infinity) <= Spin.MAX_US);
  record(spin, 5, 100); // a peer busy for 5 ms each time
  assert.equal(spin.micros(Infinity), Spin.MIN_US);
});

Deno.test("Spin: one long pause moves the typical wait by a factor, and short waits win it back", () => {
  const spin = new Spin(2);
  record(spin, 0.5, 200);
  spin.record(1000); // a peer quiet for a second
  assert.ok(spin.typicalMicros > 1000 && spin.typicalMicros < 1500, String(spin.typicalMicros));
  assert.equal(spin.micros(Infinity), Spin.MIN_US);
  record(spin, 0.5, 3);
  assert.ok(spin.micros(Infinity) > Spin.MIN_US, "back to spinning after three short waits");
});

Deno.test("Spin never spins on one CPU, never past the timeout, and keeps a caller's own choice", () => {
  assert.equal(new Spin(1).micros(Infinity), 0);
  assert.equal(new Spin(1).micros(Infinity, 50), 50);
  assert.equal(new Spin(2).micros(0.05), 50);
  assert.equal(new Spin(2).micros(0), 0);
  assert.equal(new Spin(8).micros(Infinity, 0), 0);
});
