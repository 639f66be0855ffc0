// CORE: a part of the phone core (js/phone.js is its only owner; faces never use it directly).
// Ring tone, ringback and key beeps made with WebAudio oscillators: no audio files, nothing copied.
//
// - ring (incoming call): 440 + 480 Hz, 1 s on / 2 s off, softened with a short attack and release;
// - ringback (our call-out is ringing): 425 Hz, 1 s on / 4 s off (the ITU tone Vietnam's networks use);
// - DTMF: the standard row/column frequency pair for 120 ms, so the agent hears each key.
//
// Browsers start an AudioContext only after a user gesture (autoplay policy): `unlock()` is called
// from the "Enable phone" click; until then tones are silent and the page falls back to a
// notification and a flashing title.

const PATTERNS = Object.freeze({
  ring: { freqs: [440, 480], on: 1.0, off: 2.0, gain: 0.18 },
  ringback: { freqs: [425], on: 1.0, off: 4.0, gain: 0.12 },
});

const DTMF = Object.freeze({
  1: [697, 1209], 2: [697, 1336], 3: [697, 1477],
  4: [770, 1209], 5: [770, 1336], 6: [770, 1477],
  7: [852, 1209], 8: [852, 1336], 9: [852, 1477],
  "*": [941, 1209], 0: [941, 1336], "#": [941, 1477],
});

export class Tones {
  #context = null;
  #playing = null; // {name, timer, nodes}
  #AudioContextImpl;

  constructor(AudioContextImpl = globalThis.AudioContext) {
    this.#AudioContextImpl = AudioContextImpl;
  }

  /** Create/resume the audio context; call from a user gesture (click, key press). */
  unlock() {
    if (!this.#AudioContextImpl) return false;
    if (!this.#context) this.#context = new this.#AudioContextImpl();
    if (this.#context.state === "suspended") this.#context.resume().catch(() => {});
    return true;
  }

  get unlocked() {
    return this.#context?.state === "running";
  }

  /** What is playing: "ring", "ringback" or null. */
  get playing() {
    return this.#playing?.name ?? null;
  }

  startRing() {
    this.#start("ring");
  }

  startRingback() {
    this.#start("ringback");
  }

  stop() {
    if (!this.#playing) return;
    clearInterval(this.#playing.timer);
    for (const node of this.#playing.nodes) {
      try {
        node.stop();
      } catch {
        // already stopped
      }
    }
    this.#playing = null;
  }

  /** A short key beep (only when no ring/ringback is playing). */
  dtmf(key) {
    const pair = DTMF[key];
    if (!pair || !this.#context || this.#playing) return;
    const now = this.#context.currentTime;
    this.#burst(pair, now, 0.12, 0.1, []);
  }

  #start(name) {
    if (this.#playing?.name === name) return;
    this.stop();
    const pattern = PATTERNS[name];
    const playing = { name, timer: null, nodes: [] };
    this.#playing = playing;
    if (!this.#context) return; // locked: the UI shows the call anyway
    const period = pattern.on + pattern.off;
    let next = this.#context.currentTime + 0.05;
    const schedule = () => {
      // Keep ~2 periods scheduled ahead; drop finished nodes.
      while (next < this.#context.currentTime + 2 * period) {
        this.#burst(pattern.freqs, next, pattern.on, pattern.gain, playing.nodes);
        next += period;
      }
      playing.nodes = playing.nodes.filter((n) => n.endsAt > this.#context.currentTime);
    };
    schedule();
    playing.timer = setInterval(schedule, 1000);
  }

  #burst(freqs, start, duration, level, keep) {
    const context = this.#context;
    const gain = context.createGain();
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(level, start + 0.02);
    gain.gain.setValueAtTime(level, start + duration - 0.03);
    gain.gain.linearRampToValueAtTime(0, start + duration);
    gain.connect(context.destination);
    for (const freq of freqs) {
      const osc = context.createOscillator();
      osc.type = "sine";
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(start);
      osc.stop(start + duration);
      osc.endsAt = start + duration;
      keep.push(osc);
    }
  }
}
