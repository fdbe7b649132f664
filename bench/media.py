"""Media benchmarks: `python -m bench media` times the photo and signature pipeline in-process.

Inputs are drawn in-process, photo-like (gradients, shapes and sensor-like noise, so the files have
realistic sizes): a 12 MP JPEG (4000×3000, quality 90), a 12 MP HEIC (HEVC in 512 px grid tiles, as
iPhones write it), a 48 MP JPEG (8064×6048) and a 1200×400 signature PNG. Each scenario runs N times
(median and p95). A baseline row does what plain Pillow does without care (full decode, exif_transpose,
``thumbnail()`` with its defaults, WebP at its default method) so the speed-up is a ratio within one run.

Target from the media brief: both variants of a 12 MP JPEG in under 300 ms on this machine. Numbers on
these shared machines are noisy: compare rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageDraw, ImageOps, features

from backend.media import pipeline

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.md"
TARGET_MS = 300.0


@dataclass
class Row:
    scenario: str
    source: str
    times: list[float]
    target: float | None = None
    note: str = ""
    # CPU seconds of the whole process (all threads) per run: less sensitive than wall time to other
    # processes on the machine, and it counts the parallel strips twice.
    cpu: list[float] | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    def cells(self) -> list[str]:
        if self.target is None:
            verdict = self.note or "–"
        else:
            met = self.p50 < self.target
            verdict = f"< {self.target:.0f} ms {'✅ met' if met else '❌ MISSED'}"
            if self.note:
                verdict += f"; {self.note}"
        cpu = f"{statistics.median(self.cpu) * 1000:.0f}" if self.cpu else "–"
        timing = [str(len(self.times)), f"{self.p50:.1f}", f"{self.p95:.1f}", cpu]
        return [self.scenario, self.source, *timing, verdict]


def photo(width: int, height: int, seed: int = 1) -> Image.Image:
    """Gradients + coloured ellipses + grey noise: JPEG q90 of 12 MP comes out at ~3.3 MB, like a phone's."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.linear_gradient("L").rotate(90).resize((width, height))
    blue = Image.radial_gradient("L").resize((width, height))
    img = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(img)
    rnd = random.Random(seed)
    for _ in range(60):
        x, y = rnd.randrange(width), rnd.randrange(height)
        size = rnd.randrange(width // 40, width // 6)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.ellipse((x, y, x + size, y + size * rnd.random()), fill=colour)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    return Image.blend(img, noise, 0.25)


def signature_png() -> bytes:
    img = Image.new("RGBA", (1200, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    rnd = random.Random(5)
    points = [(60 + i * 27, 200 + rnd.randint(-90, 90)) for i in range(40)]
    draw.line(points, fill=(20, 20, 70, 255), width=4, joint="curve")
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def _encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _describe(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as img:
        return f"{img.width}×{img.height} {img.format}, {len(data) / 1e6:.1f} MB"


def _time(call: Callable[[], object], runs: int, warmup: int = 1) -> tuple[list[float], list[float]]:
    """(wall seconds, process CPU seconds) of each run."""
    for _ in range(warmup):
        call()
    times, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        call()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return times, cpu


def naive(data: bytes) -> tuple[bytes, bytes]:
    """The baseline: what Pillow does by default, without draft mode, parallel strips or tuned WebP."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()  # loaded first, so thumbnail() cannot use JPEG draft mode
        upright = ImageOps.exif_transpose(img)
    display = upright.copy()
    display.thumbnail((2048, 2048))
    thumb = upright.copy()
    thumb.thumbnail((320, 320))
    return _encode(display, "WEBP", quality=80), _encode(thumb, "WEBP", quality=70)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(runs: int, quick: bool) -> list[Row]:
    log("drawing inputs …")
    twelve = photo(4000, 3000)
    jpeg12 = _encode(twelve, "JPEG", quality=90, exif=_exif_rotated())
    # x265's default preset is what makes a realistic file (and takes ~15 s); --quick uses ultrafast.
    log("encoding the 12 MP HEIC (x265, ~15 s; --quick: ~4 s) …")
    heic_options: dict = {"quality": 50, "tile_size": 512}
    if quick:
        heic_options["enc_params"] = {"preset": "ultrafast"}
    heic12 = _encode(twelve, "HEIF", **heic_options)
    log("drawing the 48 MP JPEG …")
    jpeg48 = _encode(photo(8064, 6048, seed=2), "JPEG", quality=85)
    signature = signature_png()
    for data in (jpeg12, heic12, jpeg48):
        assert len(data) <= pipeline.MAX_BLOB_BYTES, len(data)

    rows: list[Row] = []
    cases = [("12 MP JPEG", jpeg12), ("12 MP HEIC", heic12), ("48 MP JPEG", jpeg48)]
    for label, data in cases:
        log(f"timing {label} …")
        source = _describe(data)
        target = TARGET_MS if label == "12 MP JPEG" else None
        inspect, inspect_cpu = _time(lambda data=data: pipeline.inspect_image(data), runs)
        render, render_cpu = _time(lambda data=data: pipeline.render_variants(data), runs)
        rows.append(Row(f"{label}: inspect (validate, EXIF)", source, inspect, cpu=inspect_cpu))
        rows.append(Row(f"{label}: render display + thumbnail", source, render, target, cpu=render_cpu))
        rows.append(
            Row(
                f"{label}: total (inspect, then render)",
                source,
                [a + b for a, b in zip(inspect, render, strict=True)],
                target,
                cpu=[a + b for a, b in zip(inspect_cpu, render_cpu, strict=True)],
            )
        )
        both, both_cpu = _time(lambda data=data: pipeline.process_image(data), runs)
        rows.append(Row(f"{label}: process_image (one decode)", source, both, target, cpu=both_cpu))
        if label == "12 MP JPEG":
            baseline, baseline_cpu = _time(lambda data=data: naive(data), max(3, runs // 3))
            ratio = statistics.median(baseline) / statistics.median(render)
            cpu_ratio = statistics.median(baseline_cpu) / statistics.median(render_cpu)
            rows.append(
                Row(
                    "12 MP JPEG: baseline, naive Pillow (no draft, defaults)",
                    source,
                    baseline,
                    note=f"render above: {ratio:.1f}× faster, {cpu_ratio:.1f}× less CPU",
                    cpu=baseline_cpu,
                )
            )
            rows.append(Row("12 MP JPEG: render, 2 at once (each)", source, _concurrent(data, runs)))
    log("timing the signature …")
    times, cpu = _time(lambda: pipeline.check_signature(signature), runs * 4)
    rows.append(
        Row("signature check 1200×400 PNG", f"1200×400 PNG, {len(signature) / 1e3:.1f} kB", times, cpu=cpu)
    )
    return rows


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # held upright: the display is rotated, as most phone photos are
    return exif.tobytes()


def _concurrent(data: bytes, runs: int) -> list[float]:
    """Two uploads rendering at once (both cores busy): each one's latency, strips and all."""
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(max(2, runs // 2)):
            started = time.perf_counter()
            pipeline.render_variants(data)
            with lock:
                times.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times


def table(rows: list[Row]) -> str:
    header = ["scenario", "input", "runs", "p50 ms", "p95 ms", "CPU ms", "target / note"]
    body = [header, *[row.cells() for row in rows]]
    widths = [max(len(line[i]) for line in body) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |" for line in body]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench media", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per scenario (default 15)")
    parser.add_argument("--quick", action="store_true", help="5 runs, fast HEIC encode, nothing written")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else max(3, args.runs)
    rows = run(runs, args.quick)
    rendered = table(rows)
    print(rendered)
    versions = (
        f"Pillow {Image.__version__} (libjpeg-turbo {features.version('jpg')}, libwebp "
        f"{features.version('webp')}), pillow-heif {pillow_heif.__version__} "
        f"(libheif {pillow_heif.libheif_version()})"
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    settings = (
        f"display ≤ {pipeline.DISPLAY_LONG_EDGE} px WebP q{pipeline.DISPLAY_QUALITY} method "
        f"{pipeline.DISPLAY_METHOD}, thumbnail ≤ {pipeline.THUMB_LONG_EDGE} px q{pipeline.THUMB_QUALITY} "
        f"method {pipeline.THUMB_METHOD}"
    )
    missed = [row for row in rows if row.target is not None and row.p50 >= row.target]
    if missed:
        print(f"{len(missed)} target(s) missed: " + "; ".join(row.scenario for row in missed))
    if args.no_write or args.quick:
        return
    from bench.inventory import merge_section

    merge_section(
        LATEST,
        "media",
        "## Media (photo and signature pipeline, in-process: `python -m bench media`)\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load average {load} at the end; "
        f"{versions}. {settings}. Target: both variants of a 12 MP JPEG in < {TARGET_MS:.0f} ms (p50 wall). "
        "CPU ms = median process CPU time per run, all threads. The 12 MP JPEG carries EXIF orientation 6, "
        "so every render also rotates.\n\n"
        f"{rendered}\n",
    )
    print(f"written to {LATEST.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
