// Thin, non-variadic C entry points over libtiff and libgeotiff for Swift.
#ifndef TILERUN_TIFF_BRIDGE_H
#define TILERUN_TIFF_BRIDGE_H

#include <stdint.h>
#include <stddef.h>
#include <tiffio.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Per-handle diagnostics: libtiff's errors and warnings land here instead of stderr.
typedef struct tr_diagnostics {
    char first_error[512];
    char last_error[512];
    int error_count;
    int warning_count;
} tr_diagnostics;

/// Opens `path` with per-handle error capture, a cap on any single allocation libtiff makes,
/// and the GeoTIFF and GDAL tags registered (so they read without "unknown tag" warnings).
TIFF *tr_open(const char *path, const char *mode, tr_diagnostics *diag, int64_t max_single_alloc);

int tr_get_u16(TIFF *tif, uint32_t tag, uint16_t *value);
int tr_get_u32(TIFF *tif, uint32_t tag, uint32_t *value);
int tr_get_u64(TIFF *tif, uint32_t tag, uint64_t *value);
int tr_get_double(TIFF *tif, uint32_t tag, double *value);
/// ASCII tags: the pointer stays owned by libtiff.
int tr_get_string(TIFF *tif, uint32_t tag, const char **value);
/// Tags passed as (uint16 count, T* values).
int tr_get_u16_array(TIFF *tif, uint32_t tag, uint16_t *count, const uint16_t **values);
int tr_get_double_array(TIFF *tif, uint32_t tag, uint16_t *count, const double **values);
/// ExtraSamples: (uint16 count, uint16* kinds).
int tr_get_extrasamples(TIFF *tif, uint16_t *count, const uint16_t **kinds);
/// SubIFDs offsets: (uint16 count, uint64* offsets).
int tr_get_subifds(TIFF *tif, uint16_t *count, const uint64_t **offsets);
int tr_get_colormap(TIFF *tif, const uint16_t **red, const uint16_t **green, const uint16_t **blue);
/// Fixed two-value tags such as YCbCrSubsampling.
int tr_get_u16_pair(TIFF *tif, uint32_t tag, uint16_t *a, uint16_t *b);

int tr_set_u16(TIFF *tif, uint32_t tag, uint16_t value);
int tr_set_u32(TIFF *tif, uint32_t tag, uint32_t value);
int tr_set_int(TIFF *tif, uint32_t tag, int value);
int tr_set_double(TIFF *tif, uint32_t tag, double value);
int tr_set_string(TIFF *tif, uint32_t tag, const char *value);
int tr_set_u16_array(TIFF *tif, uint32_t tag, uint16_t count, const uint16_t *values);
int tr_set_double_array(TIFF *tif, uint32_t tag, uint16_t count, const double *values);
int tr_set_extrasamples(TIFF *tif, uint16_t count, const uint16_t *kinds);
int tr_set_colormap(TIFF *tif, const uint16_t *red, const uint16_t *green, const uint16_t *blue);

/// GeoKeys read through libgeotiff's key parser. Returns NULL when the file has no key directory.
typedef struct tr_geokeys tr_geokeys;
tr_geokeys *tr_geokeys_open(TIFF *tif);
void tr_geokeys_close(tr_geokeys *keys);
/// Returns 1 and the value when the key is present as a SHORT.
int tr_geokey_short(tr_geokeys *keys, int key, unsigned short *value);
/// Returns 1 and the value when the key is present as a DOUBLE.
int tr_geokey_double(tr_geokeys *keys, int key, double *value);
/// Copies an ASCII key (NUL-terminated, truncated to `size`); returns 1 when present.
int tr_geokey_ascii(tr_geokeys *keys, int key, char *buffer, int size);

#ifdef __cplusplus
}
#endif
#endif
