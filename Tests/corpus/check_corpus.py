#!/usr/bin/env python3
"""Reads every file of ../shared/tiff-corpus with `tilerun inspect` and checks each one either

* reads with values equal to an independent decoder: per band, GDAL's checksum (position-sensitive)
  and min/max/mean over valid pixels, computed here from tifffile's arrays, or, for files tifffile
  cannot decode, the checksum `gdalinfo -checksum` reports; or
* fails with a clear one-line error naming the file, exit code 1;

and that none crashes, runs past 20 s or uses more than 1 GiB (peak RSS from wait4).
Test-time only: tifffile, imagecodecs, numpy and GDAL are never used by tilerun itself.
Prints one line per problem and closes with 'N passed, N failed, N skipped'.
"""
import argparse
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT_S = 20
MAX_RSS_KIB = 1 << 20
PRIMES = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43]


def run_measured(cmd):
    """Runs cmd with a time limit; returns (exit code or -signal, stdout, stderr, seconds, peak RSS KiB, timed out)."""
    start = time.monotonic()
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.dup2(w_out, 1)
        os.dup2(w_err, 2)
        os.close(r_out); os.close(r_err)
        try:
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    os.close(w_out); os.close(w_err)
    os.set_blocking(r_out, False); os.set_blocking(r_err, False)
    out, err = bytearray(), bytearray()
    timed_out = False
    status = rusage = None
    while True:
        for fd, buf in ((r_out, out), (r_err, err)):
            try:
                while True:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    buf.extend(chunk)
            except BlockingIOError:
                pass
        wpid, status, rusage = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            break
        if time.monotonic() - start > TIMEOUT_S:
            os.killpg(pid, signal.SIGKILL)
            timed_out = True
            _, status, rusage = os.wait4(pid, 0)
            break
        time.sleep(0.005)
    for fd, buf in ((r_out, out), (r_err, err)):
        os.set_blocking(fd, True)
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf.extend(chunk)
        os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    return code, bytes(out), bytes(err), time.monotonic() - start, rusage.ru_maxrss, timed_out


def gdal_checksum(band, is_float):
    import numpy as np
    v = band.astype(np.float64) if is_float else band.astype(np.int64)
    if is_float:
        bad = ~np.isfinite(v)
        v = np.floor(np.where(bad, 0, v) + 0.5)
        v = np.clip(v, -2147483647, 2147483647).astype(np.int64)
        v[bad] = -2147483648
    else:
        v = np.clip(v, -2147483648, 2147483647)
    flat = v.ravel()
    primes = np.array(PRIMES, dtype=np.int64)[np.arange(flat.size) % 11]
    return int(np.fmod(flat, primes).sum() % 65536)


def parse_nodata(text):
    if text is None:
        return None
    t = text.strip().lower()
    return float("nan") if t in ("nan", "-nan", "+nan") else float(t)


def tifffile_bands(path, report):
    """Bands of the first image as 2-D numpy arrays, or None when tifffile cannot decode it the same way."""
    import numpy as np
    import tifffile
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        if page.photometric in (6, 8, 9, 10, 32844, 32845) and page.compression != 7:
            return None  # converted to RGB by libtiff's RGBA interface; compare with GDAL instead
        if page.compression == 6:
            return None
        arr = page.asarray()
        axes = page.axes
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if axes in ("YX",):
        bands = [arr]
    elif axes in ("YXS",):
        bands = [arr[:, :, i] for i in range(arr.shape[2])]
    elif axes in ("SYX",):
        bands = [arr[i] for i in range(arr.shape[0])]
    else:
        return None
    if len(bands) != report["bandCount"] or bands[0].shape != (report["height"], report["width"]):
        return None
    return bands


def gdal_checksums(path):
    try:
        out = subprocess.run(["gdalinfo", "-checksum", "-nomd", "-noct", str(path)], capture_output=True,
                             text=True, timeout=60, env=dict(os.environ, GTIFF_POINT_GEO_IGNORE="FALSE"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    # Only the main image's bands: overview checksums come after "Overviews:" lines.
    sums = []
    for line in out.stdout.splitlines():
        m = re.match(r"^\s+Checksum=(\d+)$", line)
        if m:
            sums.append(int(m.group(1)))
    return sums


def check_georeference(path, report):
    """Compares geotransform and nodata with `gdalinfo -json`; returns a problem or None."""
    try:
        out = subprocess.run(["gdalinfo", "-json", "-nomd", "-noct", str(path)], capture_output=True, text=True,
                             timeout=60)
        info = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        info = None
    if info is None:
        return None
    theirs = info.get("geoTransform")
    ours = report.get("geoTransform")
    # GDAL reports no transform for the default (0, 1, 0, 0, 0, 1) grid and for GCP-only files.
    if theirs and theirs != [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]:
        if ours is None or any(abs(a - b) > 1e-9 * max(1.0, abs(b)) for a, b in zip(ours, theirs)):
            return f"geotransform {ours} != GDAL's {theirs}"
    bands = info.get("bands") or [{}]
    nd = bands[0].get("noDataValue")
    if report.get("noData") is not None and nd is not None:
        mine = parse_nodata(report["noData"])
        theirs_nd = float("nan") if isinstance(nd, str) and nd.lower() == "nan" else float(nd)
        if report["dataType"] == "float32":  # both sides hold it as a float32
            import numpy as np
            mine, theirs_nd = float(np.float32(mine)), float(np.float32(theirs_nd))
        if not (mine == theirs_nd or (mine != mine and theirs_nd != theirs_nd)):
            return f"nodata {report['noData']} != GDAL's {nd}"
    return None


def check_values(path, report):
    """Returns (verdict, detail): 'match', 'mismatch' or 'unverified'."""
    import numpy as np
    ours = [b["checksum"] for b in report["bands"]]
    try:
        bands = tifffile_bands(path, report)
    except Exception as e:  # tifffile cannot decode this one
        bands = None
    if bands is not None:
        is_float = report["dataType"].startswith("float")
        ref = [gdal_checksum(b, is_float) for b in bands]
        if ref != ours:
            # tifffile's codecs are not libtiff's (lossy JPEG/WebP builds differ; its CCITT decoder
            # disagrees with libtiff and GDAL on some files): a second independent reader decides.
            gd = gdal_checksums(path)
            if gd is not None and gd[:len(ours)] == ours:
                return "match", "gdal"
            return "mismatch", f"checksums {ours} != tifffile's {ref}"
        nodata = parse_nodata(report.get("noData"))
        if nodata is not None and report["dataType"] == "float32":
            nodata = float(np.float32(nodata))  # samples compare with nodata at their own precision, as in GDAL
        for i, b in enumerate(bands):
            v = b.astype(np.float64).ravel()
            valid = ~np.isnan(v)
            if nodata is not None:
                valid &= ~np.isnan(v) if np.isnan(nodata) else (v != nodata)
            st = report["bands"][i]["statistics"]
            if valid.sum() != st["validCount"]:
                return "mismatch", f"band {i + 1}: {st['validCount']} valid pixels, tifffile says {int(valid.sum())}"
            if st["validCount"]:
                vv = v[valid]
                for key, ref_value in (("minimum", vv.min()), ("maximum", vv.max()), ("mean", vv.mean())):
                    got = float(st[key])
                    if not (abs(got - ref_value) <= 1e-9 * max(1.0, abs(ref_value))):
                        return "mismatch", f"band {i + 1}: {key} {got} != tifffile's {ref_value}"
        return "match", "tifffile"
    gd = gdal_checksums(path)
    if gd is not None and len(gd) >= len(ours):
        if report["dataType"] == "int8":
            return "unverified", "int8 (GDAL 3.6 reads it as unsigned)"
        if gd[:len(ours)] == ours:
            return "match", "gdal"
        return "mismatch", f"checksums {ours} != GDAL's {gd[:len(ours)]}"
    return "unverified", "no independent decoder reads it"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tilerun", required=True)
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2].parent / "shared" / "tiff-corpus"))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"corpus check: skipped, {corpus} is absent (a fresh clone without ../shared)")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    # tifffile logs every oddity of the fuzzed files; the verdicts below are what matters.
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    tilerun = str(Path(args.tilerun).resolve())
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "SOURCES.tsv")
    passed = failed = 0
    counts = {"match": 0, "error": 0, "unverified": 0}
    worst_rss = worst_time = 0
    slowest = heaviest = ""
    for path in files:
        code, out, err, seconds, rss, timed_out = run_measured(
            [tilerun, "inspect", "--json", "--stats", "--checksum", str(path)])
        rel = path.relative_to(corpus)
        if rss > worst_rss:
            worst_rss, heaviest = rss, str(rel)
        if seconds > worst_time:
            worst_time, slowest = seconds, str(rel)
        problems = []
        if timed_out:
            problems.append(f"ran past {TIMEOUT_S} s")
        elif code < 0 or code > 1:
            problems.append(f"exit {code}: {err.decode(errors='replace').strip()[:300]}")
        if rss > MAX_RSS_KIB:
            problems.append(f"peak RSS {rss // 1024} MiB")
        verdict = None
        if not problems:
            if code == 1:
                lines = [l for l in err.decode(errors="replace").splitlines() if l.strip()]
                if len(lines) != 1 or str(path) not in lines[0]:
                    problems.append(f"error is not one line naming the file: {lines!r}")
                else:
                    verdict = "error"
                    if args.verbose:
                        print(f"  error  {rel}: {lines[0]}")
            else:
                report = json.loads(out)["files"][0]
                verdict, detail = check_values(path, report)
                if verdict == "mismatch":
                    problems.append(detail)
                geo_problem = check_georeference(path, report)
                if geo_problem:
                    problems.append(geo_problem)
                elif args.verbose:
                    print(f"  {verdict:6} {rel}: {detail}")
        if problems:
            failed += 1
            print(f"FAIL {rel}: {'; '.join(problems)}")
        else:
            passed += 1
            counts[verdict] += 1
    print(f"corpus: {len(files)} files: {counts['match']} read and equal to an independent decoder, "
          f"{counts['error']} refused with a one-line error, {counts['unverified']} read without an "
          f"independent reference; slowest {worst_time:.2f} s ({slowest}), "
          f"highest peak RSS {worst_rss // 1024} MiB ({heaviest})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
