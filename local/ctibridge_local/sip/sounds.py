"""The sounds of the simulated calls, made with sox (Debian's ``sox``) and measured with it.

The customer's voice is a signal no one mistakes for silence or noise: tones that glide up and down
with pauses, like a voice, 8 kHz mono (a phone line's). :func:`rms` reads sox's ``stat`` (the RMS
amplitude, 0..1) to tell whether a recording carries sound.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import wave
from array import array
from pathlib import Path

SILENCE_RMS = 0.001  # below this a recording is silence (G.711 idle noise is ~0.0001)


def _sox() -> str:
    path = shutil.which("sox")
    if path is None:
        raise RuntimeError("sox is not installed: apt-get install sox")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """sox (or soxi) with ``args``: file names this module makes, never user input."""
    return subprocess.run([_sox(), *args], check=True, capture_output=True, text=True)  # noqa: S603


def customer_voice(directory: Path, seconds: int = 120) -> Path:
    """The simulated customer's microphone: ``seconds`` of gliding tones, half a second on, a quarter off."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"customer-{seconds}s.wav"
    if not path.exists():
        syllable = directory / "syllable.wav"
        _run("-n", "-r", "8000", "-c", "1", "-b", "16", str(syllable),
             "synth", "0.5", "sine", "300-700", "vol", "0.5", "pad", "0", "0.25")  # fmt: skip
        _run(str(syllable), str(path), "repeat", str(int(seconds / 0.75)))
    return path


def agent_voice(path: Path, seconds: int = 60) -> Path:
    """A browser's fake microphone (Chromium's --use-file-for-fake-audio-capture), 48 kHz: gliding
    syllables like the customer's (a steady tone would be taken for noise and suppressed by WebRTC)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        syllable = path.with_name(f"{path.stem}-syllable.wav")
        _run("-n", "-r", "48000", "-c", "1", "-b", "16", str(syllable),
             "synth", "0.4", "sine", "500-900", "vol", "0.5", "pad", "0", "0.2")  # fmt: skip
        _run(str(syllable), str(path), "repeat", str(int(seconds / 0.6)))
    return path


def rms(path: Path, *, skip: float = 0.0) -> float:
    """The RMS amplitude (0..1) of a WAV file from ``skip`` seconds on."""
    args = [str(path), "-n"]
    if skip:
        args += ["trim", str(skip)]
    result = _run(*args, "stat")
    match = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", result.stderr)
    if match is None:
        raise ValueError(f"sox stat gave no RMS for {path}: {result.stderr}")
    return float(match.group(1))


def seconds(path: Path) -> float:
    result = _run("--i", "-D", str(path))
    return float(result.stdout.strip() or 0)


def loudness(path: Path, window: float = 0.25) -> list[float]:
    """The RMS (0..1) of each ``window`` seconds of a 16-bit mono WAV file: its loudness over time."""
    with wave.open(str(path), "rb") as wav:
        rate, width = wav.getframerate(), wav.getsampwidth()
        if width != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: 16-bit mono expected")
        samples = array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    step = max(1, int(rate * window))
    return [
        math.sqrt(sum(s * s for s in chunk) / len(chunk)) / 32768
        for chunk in (samples[i : i + step] for i in range(0, len(samples) - step + 1, step))
    ]


def runs(
    levels: list[float], window: float = 0.25, threshold: float = SILENCE_RMS
) -> list[tuple[bool, float]]:
    """``loudness`` as runs: (sounding, seconds), e.g. [(True, 2.5), (False, 2.0), (True, 3.0)]."""
    out: list[tuple[bool, float]] = []
    for level in levels:
        sounding = level > threshold
        if out and out[-1][0] == sounding:
            out[-1] = (sounding, out[-1][1] + window)
        else:
            out.append((sounding, window))
    return out
