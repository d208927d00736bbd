/*
 * read_baseline: the C reference for `tilerun bench-read`. Decodes every tile of a tiled TIFF with
 * TIFFReadEncodedTile into one reused buffer, one thread, and reports the best of N repeats.
 * Each repeat includes TIFFOpen/TIFFClose, as each Swift repeat opens its own RasterReader.
 *
 *   cc -O2 -o read_baseline read_baseline.c $(pkg-config --cflags --libs libtiff-4)
 *   read_baseline FILE [REPEATS]
 *
 * Output is one line of JSON: seconds, mb_per_s (decoded bytes of the image area / 1e6 / seconds,
 * as tilerun counts them) and a checksum of one byte in 64, the same sampling tilerun uses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <tiffio.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE [REPEATS]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int repeats = argc == 3 ? atoi(argv[2]) : 3;
    if (repeats < 1) {
        fprintf(stderr, "REPEATS must be a positive integer\n");
        return 2;
    }

    double best = 1e300;
    uint64_t checksum = 0, decoded = 0;
    for (int rep = 0; rep < repeats; rep++) {
        double start = now_seconds();
        TIFF *tif = TIFFOpen(path, "r");
        if (!tif) return 1;
        if (!TIFFIsTiled(tif)) {
            fprintf(stderr, "%s: not a tiled TIFF\n", path);
            return 1;
        }
        uint32_t width = 0, height = 0;
        uint16_t spp = 1, bps = 8;
        TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width);
        TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height);
        TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
        TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
        tmsize_t tile_bytes = TIFFTileSize(tif);
        uint8_t *buf = _TIFFmalloc(tile_bytes);
        if (!buf) return 1;

        uint64_t sum = 0;
        uint32_t tiles = TIFFNumberOfTiles(tif);
        for (uint32_t t = 0; t < tiles; t++) {
            tmsize_t got = TIFFReadEncodedTile(tif, t, buf, tile_bytes);
            if (got < 0) {
                fprintf(stderr, "%s: cannot decode tile %u\n", path, t);
                return 1;
            }
            for (tmsize_t i = 0; i < got; i += 64) sum += buf[i];
        }
        _TIFFfree(buf);
        TIFFClose(tif);

        double seconds = now_seconds() - start;
        if (seconds < best) best = seconds;
        checksum = sum;
        decoded = (uint64_t)width * height * spp * ((bps + 7) / 8);
    }
    printf("{\"file\": \"%s\", \"seconds\": %.6f, \"mb_per_s\": %.3f, \"checksum\": %llu}\n", path, best,
           (double)decoded / best / 1e6, (unsigned long long)checksum);
    return 0;
}
